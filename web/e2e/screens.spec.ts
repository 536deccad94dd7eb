import { api, expect, info, shot, signIn, test } from './support';

test('sign in with a password, then every screen renders from the real API', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Sign in to SynthralOS' })).toBeVisible();
  await shot(page, 'sign-in');
  await page.getByLabel('Email').fill('owner@example.com');
  await page.getByRole('textbox', { name: 'Password' }).fill('wrong password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('problem')).toContainText('wrong');
  await signIn(page);

  await api(page, 'POST', '/workflows', {
    name: 'price check',
    description: 'Fetch an item and tell cheap from dear.',
    nodes: [
      { id: 'fetch', type: 'http/request', input: { url: `${info.site}/item.json` }, position: { x: 0, y: 0 } },
      { id: 'cheap', type: 'core/if', input: { data: '{{ nodes.fetch.output.json }}' }, config: { conditions: [{ path: 'price', op: 'lt', value: 10 }] }, position: { x: 300, y: 0 } },
      { id: 'buy', type: 'core/set', config: { values: { decision: 'buy' } }, position: { x: 600, y: -80 } },
      { id: 'wait', type: 'core/set', config: { values: { decision: 'wait' } }, position: { x: 600, y: 80 } },
    ],
    edges: [
      { source: 'fetch', target: 'cheap' },
      { source: 'cheap', target: 'buy', handle: 'true' },
      { source: 'cheap', target: 'wait', handle: 'false' },
    ],
    triggers: [{ type: 'manual' }, { type: 'cron', cron: '30 2 * * *', timezone: 'Europe/Paris' }, { type: 'webhook' }],
  });
  await page.reload();
  await expect(page.getByTestId('workflow-price check')).toBeVisible();
  await shot(page, 'workflows');

  await page.getByRole('link', { name: 'Executions' }).click();
  await expect(page.getByRole('heading', { name: 'Executions' })).toBeVisible();
  await page.getByRole('link', { name: 'Credentials' }).click();
  await page.getByLabel('Name').fill('api_token');
  await page.getByLabel('Value').fill('s3cret-value-123');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('credential-api_token')).toBeVisible();
  await expect(page.getByTestId('credential-api_token')).not.toContainText('s3cret-value-123');
  await shot(page, 'credentials');
  await page.getByRole('link', { name: 'Plugins' }).click();
  await expect(page.getByTestId('plugin-http')).toBeVisible();
  await shot(page, 'plugins');
  await page.getByRole('link', { name: 'Connectors' }).click();
  await shot(page, 'connectors');
  await page.getByRole('link', { name: 'Members & keys' }).click();
  await expect(page.getByTestId('member-viewer@example.com')).toBeVisible();
  await shot(page, 'members');
  await page.getByRole('link', { name: 'Admin' }).click();
  await expect(page.getByTestId('process-http')).toBeVisible();
  await shot(page, 'admin');
});
