// The web app's speed in headless Chromium against a running `synthral serve`
// (E2E_INFO from tests/support/e2e_server.py): initial JavaScript, opening a 300-node
// workflow, dragging a node in it, and a 200-step run streaming into the execution view.
// Prints one JSON object; `python -m bench --only web` starts the server and tabulates it.
import { chromium } from 'playwright';

const info = JSON.parse(process.env.E2E_INFO ?? '{}');
const quick = process.env.BENCH_QUICK === '1';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((q / 100) * xs.length) - 1)];

async function call(page, method, url, body) {
  return page.evaluate(
    async ([m, u, b]) => {
      const tokens = JSON.parse(sessionStorage.getItem('synthral.tokens') ?? 'null');
      const answer = await fetch(`/api/v1${u}`, {
        method: m,
        headers: { 'content-type': 'application/json', ...(tokens ? { authorization: `Bearer ${tokens.access_token}` } : {}) },
        body: b === undefined ? undefined : JSON.stringify(b),
      });
      const text = await answer.text();
      if (!answer.ok) throw new Error(`${m} ${u}: ${answer.status} ${text}`);
      return text ? JSON.parse(text) : null;
    },
    [method, url, body],
  );
}

async function signIn(page) {
  await page.goto(`${info.url}/sign-in`);
  await page.evaluate(async (password) => {
    const answer = await fetch('/api/v1/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'owner@example.com', password }),
    });
    sessionStorage.setItem('synthral.tokens', await answer.text());
  }, info.password);
}

async function initialJavaScript(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const scripts = new Map();
  page.on('requestfinished', async (request) => {
    if (request.resourceType() !== 'script' || scripts.has(request.url())) return;
    const sizes = await request.sizes();
    scripts.set(request.url(), Math.max(0, sizes.responseBodySize));
  });
  await page.goto(`${info.url}/`, { waitUntil: 'networkidle' });
  const signInPage = [...scripts.values()].reduce((a, b) => a + b, 0);
  await signIn(page);
  await page.goto(`${info.url}/workflows`);
  // What the list needed to show itself; the editor's chunks are fetched after it, on purpose.
  await page.getByRole('heading', { name: 'Workflows' }).waitFor();
  const list = [...scripts.values()].reduce((a, b) => a + b, 0);
  await context.close();
  return { sign_in_kb: signInPage / 1024, workflows_kb: list / 1024, files: scripts.size };
}

function bigWorkflow(name, count) {
  const nodes = [];
  const edges = [];
  for (let i = 0; i < count; i += 1) {
    nodes.push({ id: `n${i}`, type: 'core/set', config: { values: { i } }, position: { x: (i % 20) * 260, y: Math.floor(i / 20) * 140 } });
    if (i > 0) edges.push({ source: `n${Math.floor((i - 1) / 2)}`, target: `n${i}` });
  }
  return { name, nodes, edges };
}

async function openBig(browser, id, runs) {
  const firstPaint = [];
  const inApp = [];
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  await signIn(page);
  for (let i = 0; i < runs; i += 1) {
    await page.goto(`${info.url}/workflows/${id}`);
    await page.waitForFunction(() => document.querySelectorAll('.react-flow__node').length > 20, null, { polling: 'raf', timeout: 30000 });
    firstPaint.push(await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => resolve(performance.now())))));
    await page.goto(`${info.url}/workflows`);
    await page.getByText('big 300').waitFor();
    const start = await page.evaluate(() => performance.now());
    await page.getByText('big 300').click();
    await page.waitForFunction(() => document.querySelectorAll('.react-flow__node').length > 20, null, { polling: 'raf', timeout: 30000 });
    const end = await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => resolve(performance.now()))));
    inApp.push(end - start);
  }
  // Drag one node for about two seconds and count the frames the page produced meanwhile.
  await page.goto(`${info.url}/workflows/${id}`);
  await page.waitForFunction(() => document.querySelectorAll('.react-flow__node').length > 20, null, { polling: 'raf' });
  await page.waitForTimeout(500);
  const node = page.locator('[data-testid="node-n0"]');
  const box = await node.boundingBox();
  await page.evaluate(() => {
    window.__frames = [];
    const tick = (t) => {
      window.__frames.push(t);
      if (window.__frames.length < 100000 && !window.__stop) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  const x = box.x + box.width / 2;
  const y = box.y + box.height / 2;
  const moves = quick ? 60 : 120;
  // The same pointer path without a drag: the frame rate this browser gives an idle page.
  const idleStart = await page.evaluate(() => performance.now());
  for (let i = 1; i <= moves; i += 1) {
    await page.mouse.move(x + i * 3, y + 200 + Math.sin(i / 10) * 40);
    await page.waitForTimeout(16);
  }
  const idleFrames = await page.evaluate((from) => window.__frames.filter((t) => t >= from), idleStart);
  await page.mouse.move(x, y);
  await page.mouse.down();
  const dragStart = await page.evaluate(() => performance.now());
  for (let i = 1; i <= moves; i += 1) {
    await page.mouse.move(x + i * 3, y + Math.sin(i / 10) * 40);
    await page.waitForTimeout(16);
  }
  await page.mouse.up();
  const frames = await page.evaluate((from) => {
    window.__stop = true;
    return window.__frames.filter((t) => t >= from);
  }, dragStart);
  const intervals = frames.slice(1).map((t, i) => t - frames[i]);
  const moved = await node.boundingBox();
  await context.close();
  const span = frames.at(-1) - frames[0];
  const idleSpan = idleFrames.at(-1) - idleFrames[0];
  return {
    idle_fps: ((idleFrames.length - 1) / idleSpan) * 1000,
    first_paint_ms: median(firstPaint),
    first_paint_max_ms: Math.max(...firstPaint),
    in_app_open_ms: median(inApp),
    drag_fps: ((frames.length - 1) / span) * 1000,
    drag_p95_frame_ms: pct(intervals, 95),
    drag_moved_px: moved.x - box.x,
  };
}

async function streaming(browser, steps) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  await signIn(page);
  const nodes = [{ id: 'hold', type: 'core/wait', config: { seconds: 4 } }];
  for (let i = 0; i < steps - 1; i += 1) nodes.push({ id: `s${i}`, type: 'core/noop' });
  const edges = nodes.slice(1).map((n, i) => ({ source: nodes[i].id, target: n.id }));
  const saved = await call(page, 'POST', '/workflows', { name: `stream ${Date.now()}`, nodes: nodes.map((n, i) => ({ ...n, position: { x: (i % 20) * 240, y: Math.floor(i / 20) * 120 } })), edges });
  const run = await call(page, 'POST', `/workflows/${saved.id}/run`, { trigger_data: {} });
  // When each step's first event reached the page, to split the lag into server and page.
  await page.addInitScript(() => {
    window.__received = {};
    const Original = window.WebSocket;
    window.WebSocket = class extends Original {
      constructor(...args) {
        super(...args);
        this.addEventListener('message', (m) => {
          const data = JSON.parse(m.data);
          if (data.step_id !== undefined && !(data.step_id in window.__received)) window.__received[data.step_id] = Date.now();
        });
      }
    };
  });
  await page.goto(`${info.url}/executions/${run.execution_id}`);
  await page.evaluate(() => {
    window.__shown = {};
    const seen = () => {
      for (const row of document.querySelectorAll('[data-step-id]')) {
        const id = row.getAttribute('data-step-id');
        if (!(id in window.__shown)) window.__shown[id] = Date.now();
      }
    };
    new MutationObserver(seen).observe(document.body, { childList: true, subtree: true, attributes: true });
    seen();
  });
  let detail = await call(page, 'GET', `/executions/${run.execution_id}`);
  for (let i = 0; i < 600 && !['completed', 'failed', 'cancelled'].includes(detail.execution.status); i += 1) {
    await page.waitForTimeout(200);
    detail = await call(page, 'GET', `/executions/${run.execution_id}`);
  }
  await page.waitForFunction((n) => document.querySelectorAll('[data-step-id]').length >= n, detail.steps.length, { timeout: 60000 });
  const shown = await page.evaluate(() => window.__shown);
  const received = await page.evaluate(() => window.__received);
  await context.close();
  // Steps recorded while the page was still loading are caught up from history: the
  // figure that matters is for steps that happened while the page watched (after the wait).
  const live = detail.steps.filter((s) => s.node_id !== 'hold');
  const lags = live.map((s) => shown[String(s.id)] - Date.parse(s.started_at));
  const server = live.filter((s) => received[s.id]).map((s) => received[s.id] - Date.parse(s.started_at));
  const pageLag = live.filter((s) => received[s.id]).map((s) => shown[String(s.id)] - received[s.id]);
  return {
    steps: detail.steps.length,
    shown: Object.keys(shown).length,
    lag_p50_ms: median(lags),
    lag_p95_ms: pct(lags, 95),
    lag_max_ms: Math.max(...lags),
    server_max_ms: Math.max(...server),
    server_p50_ms: median(server),
    page_max_ms: Math.max(...pageLag),
    page_p50_ms: median(pageLag),
  };
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ARGS });
try {
  const js = await initialJavaScript(browser);
  const page = await browser.newPage();
  await signIn(page);
  const big = await call(page, 'POST', '/workflows', bigWorkflow('big 300', 300));
  await page.close();
  const open = await openBig(browser, big.id, quick ? 2 : 5);
  const stream = await streaming(browser, 200);
  process.stdout.write(`${JSON.stringify({ js, open, stream })}\n`);
} finally {
  await browser.close();
}
