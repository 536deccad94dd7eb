import { api, expect, info, shot, signIn, test } from './support';

const chain = (name: string, ...nodes: Record<string, unknown>[]) => ({
  name,
  nodes: nodes.map((n, i) => ({ position: { x: i * 280, y: 0 }, ...n })),
  edges: nodes.slice(1).map((n, i) => ({ source: nodes[i].id, target: n.id })),
});

test('answer a human-in-the-loop form while the run waits', async ({ page }) => {
  await signIn(page);
  const saved = await api<{ id: string }>(page, 'POST', '/workflows', chain(
    'approval',
    { id: 'ask', type: 'engine/human_input', input: { amount: '{{ trigger.amount }}' }, config: { prompt: 'Approve this expense?', form: { type: 'object', properties: { approved: { type: 'boolean', title: 'approved' }, comment: { type: 'string', title: 'comment' } }, required: ['approved'] } } },
    { id: 'book', type: 'core/set', config: { values: { booked: '{{ nodes.ask.output.answer.approved }}' } } },
  ));
  await page.goto(`/workflows/${saved.id}`);
  await page.getByTestId('run-button').click();
  await expect(page.getByTestId('run-input')).toContainText('amount');
  await page.getByTestId('start-run').click();
  await expect(page.getByTestId('node-ask')).toHaveAttribute('data-status', 'waiting');
  const form = page.getByTestId('human-input');
  await expect(form).toContainText('Approve this expense?');
  await form.getByLabel('approved').check();
  await form.getByLabel('comment').fill('fine by me');
  await shot(page, 'human-input');
  await form.getByRole('button', { name: 'Send answer' }).click();
  await expect(page.getByTestId('node-book')).toHaveAttribute('data-status', 'completed');
  await expect(page.getByTestId('run-details')).toContainText('completed');
});

test('replay a finished run from a chosen node; earlier steps are reused', async ({ page }) => {
  await signIn(page);
  const saved = await api<{ id: string }>(page, 'POST', '/workflows', chain(
    'replayable',
    { id: 'fetch', type: 'http/request', input: { url: `${info.site}/item.json` } },
    { id: 'shape', type: 'core/transform', input: { data: '{{ nodes.fetch.output.json }}' }, config: { mapping: { name: 'title' } } },
  ));
  const run = await api<{ execution_id: string }>(page, 'POST', `/workflows/${saved.id}/run`, { trigger_data: {} });
  await page.goto(`/executions/${run.execution_id}`);
  await expect(page.getByTestId('run-details')).toContainText('completed');
  await expect(page.getByTestId('node-shape')).toHaveAttribute('data-status', 'completed');
  await shot(page, 'execution');
  await page.getByTestId('node-shape').click();
  await page.getByRole('button', { name: 'Replay from shape' }).click();
  await expect(page).not.toHaveURL(new RegExp(run.execution_id));
  await expect(page.getByTestId('run-details')).toContainText('completed');
  await page.getByTestId('node-fetch').click();
  await expect(page.getByTestId('step-detail')).toContainText('reused from the replayed run');
  await page.getByRole('link', { name: 'Executions' }).click();
  await page.getByRole('combobox', { name: 'workflow filter' }).click();
  await page.getByRole('option', { name: 'replayable' }).click();
  await expect(page.getByTestId('execution-row')).toHaveCount(2);
  await page.getByRole('combobox', { name: 'status filter' }).click();
  await page.getByRole('option', { name: 'failed' }).click();
  await expect(page.getByTestId('execution-row')).toHaveCount(0);
  await shot(page, 'executions');
});

test('diff two versions: added, removed and changed nodes on the canvas, the config diff in the panel', async ({ page }) => {
  await signIn(page);
  const v1 = chain('evolving', { id: 'start', type: 'core/set', config: { values: { n: 1 } } }, { id: 'old', type: 'core/noop' });
  const saved = await api<{ id: string }>(page, 'POST', '/workflows', v1);
  const v2 = chain('evolving', { id: 'start', type: 'core/set', config: { values: { n: 2 } } }, { id: 'fresh', type: 'core/noop' });
  await api(page, 'PUT', `/workflows/${saved.id}`, v2);
  await page.goto(`/workflows/${saved.id}`);
  await page.getByRole('tab', { name: 'Versions' }).click();
  await expect(page.getByTestId('version-2')).toBeVisible();
  await page.getByRole('combobox', { name: 'older version' }).click();
  await page.getByRole('option', { name: 'v1' }).click();
  await page.getByRole('combobox', { name: 'newer version' }).click();
  await page.getByRole('option', { name: 'v2' }).click();
  await page.getByRole('button', { name: 'Show the diff' }).click();
  await expect(page.getByTestId('node-fresh')).toHaveAttribute('data-diff', 'added');
  await expect(page.getByTestId('node-old')).toHaveAttribute('data-diff', 'removed');
  await expect(page.getByTestId('node-start')).toHaveAttribute('data-diff', 'changed');
  await expect(page.getByTestId('diff-summary')).toContainText('1 added · 1 removed · 1 changed');
  await shot(page, 'diff');
  await page.getByTestId('node-start').click();
  await expect(page.getByTestId('node-changes')).toContainText('config.values.n: 1 → 2');
  // Open the old version and run it.
  await page.getByRole('tab', { name: 'Versions' }).click();
  await page.getByRole('button', { name: 'Leave the diff' }).click();
  await page.getByTestId('version-1').getByRole('button', { name: 'Open' }).click();
  await expect(page.getByText('You are looking at version 1')).toBeVisible();
  await expect(page.getByTestId('node-old')).toBeVisible();
  await page.getByTestId('run-button').click();
  await page.getByTestId('start-run').click();
  await expect(page.getByTestId('node-old')).toHaveAttribute('data-status', 'completed');
});

test('install a plugin wheel and see its nodes in the palette without a reload', async ({ page }) => {
  await signIn(page);
  await page.getByRole('link', { name: 'New workflow' }).click();
  await expect(page.getByTestId('palette-http/request')).toBeVisible();
  await expect(page.getByTestId('palette-noop/echo')).toHaveCount(0);
  await page.getByRole('link', { name: 'Plugins' }).click();
  const chooser = page.waitForEvent('filechooser');
  await page.getByTestId('upload-wheel').click();
  await (await chooser).setFiles(info.wheel);
  // noop declares network and secrets: the owner sees them and grants them before anything is installed.
  await expect(page.getByTestId('permission-dialog')).toContainText('connect to any public host', { timeout: 60_000 });
  await page.getByTestId('grant-permissions').click();
  await expect(page.getByTestId('plugin-noop')).toBeVisible({ timeout: 60_000 });
  await page.getByRole('link', { name: 'Workflows' }).click();
  await page.getByRole('link', { name: 'New workflow' }).click();
  await expect(page.getByTestId('palette-noop/echo')).toBeVisible();
  await page.getByLabel('search nodes').fill('echo');
  await expect(page.getByTestId('palette-http/request')).toHaveCount(0);
  await shot(page, 'palette');
});

test('a viewer sees no edit controls and the server refuses an edit anyway', async ({ page }) => {
  await signIn(page, 'owner@example.com');
  const saved = await api<{ id: string }>(page, 'POST', '/workflows', chain('read only', { id: 'only', type: 'core/noop' }));
  await page.evaluate(() => sessionStorage.clear());
  await signIn(page, 'viewer@example.com');
  await expect(page.getByRole('link', { name: 'New workflow' })).toHaveCount(0);
  await expect(page.getByRole('link', { name: 'Admin' })).toHaveCount(0);
  await page.goto(`/workflows/${saved.id}`);
  await expect(page.getByTestId('read-only')).toBeVisible();
  await expect(page.getByTestId('save-button')).toHaveCount(0);
  await expect(page.getByTestId('run-button')).toHaveCount(0);
  await expect(page.getByTestId('palette')).toHaveCount(0);
  await page.getByTestId('node-only').click();
  await expect(page.getByLabel('node id')).toHaveAttribute('readonly', '');
  await shot(page, 'viewer');
  const refused = await page.evaluate(async (id) => {
    const tokens = JSON.parse(sessionStorage.getItem('synthral.tokens')!);
    const answer = await fetch(`/api/v1/workflows/${id}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'read only', nodes: [{ id: 'changed', type: 'core/noop' }] }),
    });
    return { status: answer.status, body: await answer.json() };
  }, saved.id);
  expect(refused.status).toBe(403);
  expect(refused.body.detail).toContain('editor');
});

test('a lost WebSocket reconnects and catches up from the step history', async ({ page }) => {
  // Keep a handle on every socket the page opens, so the test can cut them.
  await page.addInitScript(() => {
    const sockets: WebSocket[] = [];
    (window as unknown as { __sockets: WebSocket[] }).__sockets = sockets;
    const Original = window.WebSocket;
    window.WebSocket = class extends Original {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        sockets.push(this);
      }
    };
  });
  await signIn(page);
  const saved = await api<{ id: string }>(page, 'POST', '/workflows', chain(
    'reconnects',
    { id: 'ask', type: 'engine/human_input', config: { prompt: 'Go on?', form: { type: 'object' } } },
    { id: 'after', type: 'core/noop' },
  ));
  const run = await api<{ execution_id: string }>(page, 'POST', `/workflows/${saved.id}/run`, { trigger_data: {} });
  await page.goto(`/executions/${run.execution_id}`);
  await expect(page.getByTestId('node-ask')).toHaveAttribute('data-status', 'waiting');
  await expect(page.getByTestId('run-details')).toContainText('live');
  // Cut the connection, and let the run finish while it is down.
  await page.evaluate(() => (window as unknown as { __sockets: WebSocket[] }).__sockets.forEach((s) => s.close()));
  await api(page, 'POST', `/executions/${run.execution_id}/signal`, { type: 'human_input', data: { answer: {} } });
  await expect(page.getByTestId('node-after')).toHaveAttribute('data-status', 'completed');
  await expect(page.getByTestId('run-details')).toContainText('completed');
  expect(await page.evaluate(() => (window as unknown as { __sockets: WebSocket[] }).__sockets.length)).toBeGreaterThan(1);
});

test('a run page whose first read arrives late still shows how the run ended', async ({ page }) => {
  // The page reads the run and subscribes to its events at the same time. Here the first
  // read is answered with what the run looked like before it ended, and that answer arrives
  // after the subscription, when nothing more will happen: the page must read again rather
  // than keep that answer, or the steps look stuck where the read found them.
  await signIn(page);
  const saved = await api<{ id: string }>(page, 'POST', '/workflows', chain(
    'late first read',
    { id: 'ask', type: 'engine/human_input', config: { prompt: 'Go on?', form: { type: 'object' } } },
    { id: 'after', type: 'core/noop' },
  ));
  const run = await api<{ execution_id: string }>(page, 'POST', `/workflows/${saved.id}/run`, { trigger_data: {} });
  const status = async () => (await api<{ execution: { status: string } }>(page, 'GET', `/executions/${run.execution_id}`)).execution.status;
  await expect.poll(status).toBe('waiting');
  const gate = () => {
    let open: () => void = () => undefined;
    const opened = new Promise<void>((resolve) => (open = resolve));
    return { open: () => open(), opened };
  };
  const read = gate(); // the first read, answered late
  const subscribe = gate(); // the page's subscription, sent late
  const readMade = gate();
  let held = false;
  await page.route(`**/api/v1/executions/${run.execution_id}`, async (route) => {
    if (held || route.request().method() !== 'GET') return route.continue();
    held = true;
    const answer = await route.fetch(); // the run as it is now: waiting
    readMade.open();
    await read.opened;
    await route.fulfill({ response: answer });
  });
  const subscribed = gate();
  await page.routeWebSocket(/\/api\/v1\/ws$/, (socket) => {
    const server = socket.connectToServer();
    socket.onMessage((message) => void subscribe.opened.then(() => server.send(message)));
    server.onMessage((message) => {
      if (String(message).includes('"subscribed"')) subscribed.open();
      socket.send(message);
    });
  });
  await page.goto(`/executions/${run.execution_id}`);
  await readMade.opened;
  await api(page, 'POST', `/executions/${run.execution_id}/signal`, { type: 'human_input', data: { answer: {} } });
  await expect.poll(status).toBe('completed');
  subscribe.open(); // subscribed after the run ended: no event will come
  await subscribed.opened;
  read.open(); // and only now the stale first answer
  await expect(page.getByTestId('node-ask')).toHaveAttribute('data-status', 'completed');
  await expect(page.getByTestId('node-after')).toHaveAttribute('data-status', 'completed');
  await expect(page.getByTestId('run-details')).toContainText('completed');
});
