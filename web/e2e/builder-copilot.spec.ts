import type { Page } from '@playwright/test';
import { api, expect, info, shot, signIn, test } from './support';

interface Reply {
  text?: string;
  tool_calls?: [string, Record<string, unknown>][];
  pieces?: number;
}

/** The copilot LLM's next answers (the local OpenAI-compatible stand-in the server talks to). */
async function script(...replies: Reply[]): Promise<void> {
  const answer = await fetch(`${info.site}/llm-script`, { method: 'POST', body: JSON.stringify(replies) });
  expect(answer.status).toBe(204);
}

async function say(page: Page, text: string): Promise<void> {
  const dock = page.getByTestId('builder-copilot');
  await dock.getByLabel('message').fill(text);
  await dock.getByLabel('message').press('Enter');
}

const LAMP = {
  name: 'builder-copilot-lamp',
  description: 'Fetch the lamp and keep its price.',
  nodes: [
    { id: 'fetch', type: 'http/request', input: { url: `${info.site}/item.json` }, position: { x: 0, y: 0 } },
    { id: 'price', type: 'core/set', config: { values: { price: '{{ nodes.fetch.output.json.price }}' } }, position: { x: 280, y: 0 } },
  ],
  edges: [{ source: 'fetch', target: 'price' }],
  triggers: [{ type: 'manual' }],
};

const LABEL_PATCH = [
  { op: 'add', path: '/nodes/-', value: { id: 'label', type: 'core/set', config: { values: { label: 'on sale' } } } },
  { op: 'add', path: '/edges/-', value: { source: 'price', target: 'label' } },
];

test('in the builder the copilot proposes an edit; accepted, it is on the canvas, then saved and run', async ({ page }) => {
  await signIn(page, 'editor@example.com');
  const saved = await api<{ id: string }>(page, 'POST', '/workflows', LAMP);
  await page.goto(`/workflows/${saved.id}`);
  await expect(page.getByTestId('node-price')).toBeVisible();
  await page.getByTestId('copilot-toggle').click();
  const dock = page.getByTestId('builder-copilot');
  await expect(dock.getByTestId('chat-panel')).toBeVisible();

  await script(
    { tool_calls: [['get_workflow', {}]] },
    { tool_calls: [['propose_edit', { patch: LABEL_PATCH }]] },
    { text: "I added a 'label' step after 'price' that marks the lamp as on sale. Accept it to put it on the canvas.", pieces: 4 },
  );
  await say(page, 'add a step after price that labels the lamp as on sale');
  await expect(dock.getByTestId('assistant-message').last()).toContainText('put it on the canvas');
  await expect(dock.locator('[data-tool="get_workflow"]')).toBeVisible();
  await expect(dock.locator('[data-tool="propose_edit"]')).toBeVisible();
  const proposal = dock.getByTestId('proposal');
  await expect(proposal.getByTestId('proposal-canvas')).toContainText('label · core/set');
  await expect(page.getByTestId('node-label')).toHaveCount(0); // only previewed
  await proposal.scrollIntoViewIfNeeded();
  await shot(page, 'copilot-builder');

  await proposal.getByRole('button', { name: 'Accept' }).click();
  await expect(page.getByTestId('node-label')).toBeVisible();
  await expect(proposal.getByTestId('proposal-applied')).toBeVisible();
  await expect(page.getByText('unsaved', { exact: true })).toBeVisible();
  await expect(dock.locator('[data-tool="apply_save_workflow"]')).toBeVisible();
  const stored = async () => api<{ version: number; workflow: { nodes: { id: string }[] } }>(page, 'GET', `/workflows/${saved.id}`);
  expect((await stored()).version).toBe(1); // on the canvas, not saved

  await expect(page.getByTestId('validation')).toHaveAttribute('data-state', /valid|unavailable/);
  await page.getByTestId('save-button').click();
  await expect(page.getByText('Saved version 2')).toBeVisible();
  const now = await stored();
  expect(now.version).toBe(2);
  expect(now.workflow.nodes.map((n) => n.id)).toEqual(['fetch', 'price', 'label']);

  await page.getByTestId('run-button').click();
  await expect(page.getByTestId('run-input')).toBeVisible();
  await page.getByTestId('start-run').click();
  await expect(page.getByTestId('run-details')).toBeVisible();
  await expect(page.getByTestId('node-label')).toHaveAttribute('data-status', 'completed');
  const runs = await api<{ items: { status: string; workflow_version: number }[] }>(page, 'GET', `/executions?workflow=${saved.id}`);
  expect(runs.items.map((r) => [r.status, r.workflow_version])).toEqual([['completed', 2]]);
});

test('a viewer sees the copilot’s edit only as a preview, with nothing to accept', async ({ page }) => {
  await signIn(page, 'editor@example.com');
  const saved = await api<{ id: string }>(page, 'POST', '/workflows', { ...LAMP, name: 'builder-copilot-viewer' });
  await page.evaluate(() => sessionStorage.clear());
  await signIn(page, 'viewer@example.com');
  await page.goto(`/workflows/${saved.id}`);
  await expect(page.getByTestId('read-only')).toBeVisible();
  await page.getByTestId('copilot-toggle').click();
  await script({ tool_calls: [['propose_edit', { patch: LABEL_PATCH }]] }, { text: 'Only shown: a viewer cannot change it.' });
  await say(page, 'add a label step');
  const proposal = page.getByTestId('builder-copilot').getByTestId('proposal');
  await expect(proposal).toContainText('view only');
  await expect(proposal.getByRole('button', { name: 'Accept' })).toHaveCount(0);
  await expect(page.getByTestId('node-label')).toHaveCount(0);
});
