import { chromium } from 'playwright';
const info = JSON.parse(process.env.E2E_INFO);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox','--disable-gpu'] });
const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
await page.goto(`${info.url}/sign-in`);
await page.evaluate(async (password) => {
  const a = await fetch('/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'owner@example.com', password }) });
  sessionStorage.setItem('synthral.tokens', await a.text());
}, info.password);
const tokens = await page.evaluate(() => JSON.parse(sessionStorage.getItem('synthral.tokens')));
const nodes = []; const edges = [];
for (let i = 0; i < 300; i++) { nodes.push({ id: `n${i}`, type: 'core/set', config: { values: { i } }, position: { x: (i % 20) * 260, y: Math.floor(i / 20) * 140 } }); if (i) edges.push({ source: `n${Math.floor((i - 1) / 2)}`, target: `n${i}` }); }
const saved = await page.evaluate(async ([t, body]) => (await fetch('/api/v1/workflows', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t}` }, body: JSON.stringify(body) })).json(), [tokens.access_token, { name: 'probe', nodes, edges }]);
for (let round = 0; round < 3; round++) {
await page.goto(`${info.url}/workflows`);
await page.getByText('probe').waitFor();
await page.evaluate(() => { window.__long = []; new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push([Math.round(e.startTime), Math.round(e.duration)]); }).observe({ type: 'longtask', buffered: false }); performance.clearResourceTimings(); window.__t0 = performance.now(); });
await page.getByText('probe').click();
await page.waitForFunction(() => document.querySelectorAll('.react-flow__node').length > 20, null, { polling: 'raf' });
const r = await page.evaluate(() => ({ t: performance.now() - window.__t0, t0: Math.round(window.__t0), long: window.__long, res: performance.getEntriesByType('resource').map((e) => [e.name.replace(location.origin, '').slice(0, 60), Math.round(e.startTime - window.__t0), Math.round(e.duration)]) }));
console.log(JSON.stringify(r));
}
await browser.close();
