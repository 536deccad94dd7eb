// The admin page's cost charts over what the server's analytics API answers for the workspace.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect, info, shot, signIn, test } from './support';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

test('owners see costs by day, workflow and model, and switch the meter', async ({ page }) => {
  test.skip(info.db !== 'sqlite', 'the cost records are seeded into the SQLite home');
  const python = process.env.SYNTHRAL_PYTHON ?? path.join(ROOT, '.venv', 'bin', 'python');
  execFileSync(python, ['-m', 'tests.support.seed_costs', (info as unknown as { home: string }).home, 'owner@example.com'], { cwd: ROOT });
  await signIn(page);
  await page.getByRole('link', { name: 'Admin' }).click();
  const costs = page.getByTestId('costs');
  await expect(costs.getByTestId('chart-day').getByTestId('bar')).toHaveCount(31);
  await expect(costs.getByTestId('chart-workflow')).toContainText('invoice-triage');
  await expect(costs.getByTestId('chart-model')).toContainText('gpt-4o');
  await expect(costs.getByTestId('cost-LLM spend')).toContainText('$');
  await expect(costs.getByTestId('cost-Code CPU')).toContainText('s');
  await costs.getByText('Tokens', { exact: true }).first().click();
  await expect(costs.getByTestId('chart-model')).toContainText('k');
  await costs.getByText('LLM $', { exact: true }).click();
  await costs.scrollIntoViewIfNeeded();
  await shot(page, 'admin-costs');
});

