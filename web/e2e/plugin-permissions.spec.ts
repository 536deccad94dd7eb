import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, shot, signIn, test } from './support';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const RSS = path.join(ROOT, 'plugins', 'connector-rss');

/** The first-party RSS connector built as a wheel at `version`, declaring `extra` besides its own permissions. */
function rssWheel(version: string, extra = ''): string {
  const work = mkdtempSync(path.join(tmpdir(), 'synthral-e2e-rss-'));
  const source = path.join(work, 'src');
  cpSync(RSS, source, { recursive: true, filter: (from) => !/(\.venv|__pycache__|[\\/]tests|[\\/]dist)$/.test(from) });
  const project = path.join(source, 'pyproject.toml');
  writeFileSync(project, readFileSync(project, 'utf8').replace(/^version = ".*"$/m, `version = "${version}"`));
  const declared = path.join(source, 'synthral_connector_rss', 'synthral-plugin.toml');
  writeFileSync(declared, readFileSync(declared, 'utf8') + extra);
  const out = path.join(work, 'dist');
  execFileSync(path.join(ROOT, '.venv', 'bin', 'uv'), ['build', '--wheel', '--quiet', '--out-dir', out, source], { stdio: 'inherit' });
  return path.join(out, readdirSync(out).find((name) => name.endsWith('.whl'))!);
}

test('a first-party plugin is installed through the permission dialog, and an upgrade asking more asks again', async ({ page }) => {
  test.setTimeout(300_000);
  const first = rssWheel('0.1.1');
  const upgrade = rssWheel('0.1.2', 'files = "data"\n');
  await signIn(page);
  await page.getByRole('link', { name: 'Plugins' }).click();
  await expect(page.getByRole('heading', { name: 'Plugins' })).toBeVisible();
  const upload = page.locator('input[type="file"]');

  // Cancel: nothing is installed.
  await upload.setInputFiles(first);
  const dialog = page.getByTestId('permission-dialog');
  await expect(dialog).toContainText('connect to any public host on the internet');
  await expect(page.getByTestId('permission-new')).toHaveCount(0);
  await shot(page, 'plugin-permissions');
  await page.getByTestId('cancel-permissions').click();
  await expect(page.getByText('Nothing was installed')).toBeVisible();
  await expect(page.getByTestId('plugin-connector-rss')).toHaveCount(0);

  // Approve: installed with exactly that grant, shown on its card with the sandbox status.
  await upload.setInputFiles(first);
  await page.getByTestId('grant-permissions').click();
  const card = page.getByTestId('plugin-connector-rss');
  await expect(card).toBeVisible({ timeout: 240_000 });
  await expect(card.getByTestId('grant-summary')).toContainText('connect to any public host on the internet');
  await expect(card.getByTestId('sandbox-status')).not.toBeEmpty();

  // An upgrade that asks for more: only the new permission is marked; cancelling keeps 0.1.1 alone.
  await upload.setInputFiles(upgrade);
  await expect(dialog).toContainText('0.1.1 stays active');
  await expect(page.getByTestId('permission-new')).toHaveCount(1);
  await expect(page.getByTestId('permission-new')).toContainText('keep files in its own data folder');
  await shot(page, 'plugin-permissions-upgrade');
  await page.getByTestId('cancel-permissions').click();
  await expect(page.getByText('connector-rss 0.1.1 stays active')).toBeVisible();
  await expect(card).toContainText('0.1.1');
  await expect(card).not.toContainText('0.1.2');
});
