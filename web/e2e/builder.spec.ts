import type { Page } from '@playwright/test';
import { expect, info, shot, signIn, test } from './support';

async function dropNode(page: Page, type: string, x: number, y: number): Promise<void> {
  const canvas = page.getByTestId('canvas');
  await page.getByTestId(`palette-${type}`).dragTo(canvas, { targetPosition: { x, y } });
  await expect(page.locator('.react-flow__node.selected')).toBeVisible();
}

async function connect(page: Page, from: string, handle: string | null, to: string): Promise<void> {
  const source = handle
    ? page.locator(`[data-testid="node-${from}"] [data-handle="${handle}"]`)
    : page.locator(`[data-testid="node-${from}"] .react-flow__handle.source`);
  const target = page.locator(`[data-testid="node-${to}"] .react-flow__handle.target`);
  const a = (await source.boundingBox())!;
  const b = (await target.boundingBox())!;
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2, { steps: 5 });
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 5 });
  await page.mouse.up();
}

test('build a workflow by drag and drop with an http node and an if branch, save, run, watch it live', async ({ page }) => {
  await signIn(page);
  await page.getByRole('link', { name: 'New workflow' }).click();
  await expect(page.getByTestId('palette-http/request')).toBeVisible();
  await page.getByLabel('workflow name').fill('drag and drop');

  await dropNode(page, 'http/request', 90, 250);
  await page.getByLabel('input url').fill(`${info.site}/item.json`);
  await dropNode(page, 'core/if', 330, 250);
  await page.getByLabel('input data').fill('{{ nodes.request.output.json }}');
  await dropNode(page, 'core/set', 580, 130);
  await page.getByLabel('node id').fill('cheap');
  await page.getByLabel('node id').blur();
  await dropNode(page, 'core/set', 580, 400);
  await page.getByLabel('node id').fill('dear');
  await page.getByLabel('node id').blur();

  await connect(page, 'request', 'main', 'if');
  await connect(page, 'if', 'true', 'cheap');
  await connect(page, 'if', 'false', 'dear');
  await expect(page.locator('.react-flow__edge')).toHaveCount(3);

  // The if's condition, through the form generated from its config schema.
  await page.getByTestId('node-if').click();
  const form = page.getByTestId('config-form');
  // The schema asks for at least one condition: the form starts with one.
  await form.getByLabel(/^Path/).first().fill('price');
  await form.getByLabel(/^Op/).first().selectOption('lt');
  await form.getByLabel(/^value/i).first().fill('10');

  await expect(page.getByTestId('validation')).toHaveAttribute('data-state', /valid|unavailable/);
  await shot(page, 'builder');
  await page.getByTestId('save-button').click();
  await expect(page.getByText('Saved version 1')).toBeVisible();
  await expect(page).toHaveURL(/\/workflows\/[0-9a-f-]{36}$/);

  await page.getByTestId('run-button').click();
  await expect(page.getByTestId('run-input')).toBeVisible();
  await page.getByTestId('start-run').click();
  await expect(page.getByTestId('run-details')).toBeVisible();
  await expect(page.getByTestId('node-request')).toHaveAttribute('data-status', 'completed');
  await expect(page.getByTestId('node-dear')).toHaveAttribute('data-status', 'completed');
  await expect(page.getByTestId('node-cheap')).toHaveAttribute('data-status', '');
  await page.getByTestId('node-request').click();
  await expect(page.getByTestId('step-detail')).toContainText('A lamp');
  await shot(page, 'run');
});
