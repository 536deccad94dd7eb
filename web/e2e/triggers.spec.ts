import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { api, expect, shot, signIn, test } from './support';

test('schedules show their next fire times; the webhook secret rotates with a curl example', async ({ page }) => {
  await signIn(page);
  const saved = await api<{ id: string }>(page, 'POST', '/workflows', {
    name: 'nightly report',
    nodes: [{ id: 'report', type: 'core/set', config: { values: { done: true } } }],
    triggers: [{ type: 'cron', cron: '30 2 * * *', timezone: 'Europe/Paris' }, { type: 'webhook' }],
  });
  await page.goto(`/workflows/${saved.id}`);
  await page.getByRole('link', { name: 'Triggers' }).click();
  await expect(page.getByTestId('schedule')).toContainText('30 2 * * *');
  await expect(page.getByTestId('next-fire')).toHaveCount(5);
  await expect(page.getByTestId('next-fire').first()).toContainText(/T02:30:00\+0[12]:00|T03:30:00\+02:00/);
  await expect(page.getByTestId('webhook-url')).toContainText(`/api/v1/hooks/${saved.id}`);
  await page.getByTestId('rotate-secret').click();
  await expect(page.getByTestId('new-secret')).toContainText('whsec_');
  const secret = (await page.getByTestId('new-secret').locator('code').first().textContent())!;
  await expect(page.getByTestId('curl')).toContainText(secret);
  await expect(page.getByTestId('curl')).toContainText('webhook-signature: v1,');
  // The example works as written: a signed delivery starts a run.
  const example = (await page.getByTestId('curl').textContent())!;
  const answer = execFileSync('bash', ['-c', example], { encoding: 'utf8' });
  expect(JSON.parse(answer)).toMatchObject({ duplicate: false });
  await shot(page, 'triggers');
  await page.reload();
  await expect(page.getByText(/Signing secret made/)).toBeVisible();
  await expect(page.getByTestId('new-secret')).toHaveCount(0);
  await expect(page.locator('body')).not.toContainText(secret);
});

test.describe('serve --local', () => {
  let child: ChildProcess;
  let local: { url: string; open: string; token: boolean };

  test.beforeAll(async () => {
    test.setTimeout(120_000);
    const root = path.resolve(import.meta.dirname, '..', '..');
    const python = process.env.SYNTHRAL_PYTHON ?? path.join(root, '.venv', 'bin', 'python');
    child = spawn(python, ['-m', 'tests.support.e2e_server', '--local'], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the local server exited with ${code}`)));
      createInterface({ input: child.stdout! }).once('line', resolve);
    });
    local = JSON.parse(line);
  });

  test.afterAll(async () => {
    child.stdin!.end();
    await new Promise((resolve) => child.once('exit', resolve));
  });

  test('opens straight into the app with no sign-in', async ({ page }) => {
    await page.goto(local.open);
    await expect(page.getByRole('heading', { name: 'Workflows' })).toBeVisible();
    await expect(page.getByText('local mode')).toBeVisible();
    await expect(page.getByText('Sign in to SynthralOS')).toHaveCount(0);
    await expect(page).not.toHaveURL(/token=/);
    await page.getByRole('link', { name: 'New workflow' }).click();
    await expect(page.getByTestId('canvas')).toBeVisible();
  });

  test('no other origin can act on it', async ({ page, browser }) => {
    test.skip(!local.token, 'waits for the per-launch token of serve --local (the hardening work): this server printed no ?token= link');
    await page.goto(local.open);
    await expect(page.getByRole('heading', { name: 'Workflows' })).toBeVisible();
    // Another origin's page cannot act on the local server: no cookie crosses origins, and a
    // state-changing request from a foreign Origin is refused.
    const foreign = await browser.newPage();
    await foreign.goto('about:blank');
    await foreign.evaluate(async (url) => {
      const body = JSON.stringify({ name: 'foreign', nodes: [{ id: 'x', type: 'core/noop' }] });
      // A "simple" request: the browser sends it without asking first; only the server can refuse it.
      await fetch(`${url}/api/v1/workflows`, { method: 'POST', credentials: 'include', headers: { 'content-type': 'text/plain' }, body }).catch(() => undefined);
    }, local.url);
    const listed = await api<{ items: { name: string }[] }>(page, 'GET', '/workflows');
    expect(listed.items.map((w) => w.name)).not.toContain('foreign');
  });
});
