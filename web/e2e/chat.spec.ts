import { api, expect, info, shot, signIn, test } from './support';
import type { Page } from '@playwright/test';

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
  await page.getByLabel('message').fill(text);
  await page.getByLabel('message').press('Enter');
}

const LAMP = {
  name: 'lamp-price',
  description: 'Fetch the lamp and keep its price.',
  nodes: [
    { id: 'fetch', type: 'http/request', input: { url: `${info.site}/item.json` } },
    { id: 'price', type: 'core/set', config: { values: { price: '{{ nodes.fetch.output.json.price }}' } } },
  ],
  edges: [{ source: 'fetch', target: 'price' }],
  triggers: [{ type: 'manual' }],
};

test('a conversation builds a workflow, the user accepts it, then runs it', async ({ page }) => {
  await signIn(page, 'editor@example.com');
  await page.goto('/copilot');
  await expect(page.getByTestId('chat-panel')).toBeVisible();

  await script(
    { tool_calls: [['search_catalog', { query: 'http request' }]] },
    { tool_calls: [['draft_workflow', { workflow: LAMP }]] },
    { text: "I drafted 'lamp-price': it fetches the item and keeps its price. Accept it to save it.", pieces: 4 },
  );
  await say(page, 'fetch the lamp from the shop and keep its price');
  await expect(page.getByTestId('assistant-message').last()).toContainText('Accept it to save it');
  await expect(page.locator('[data-tool="search_catalog"]')).toBeVisible();
  await expect(page.locator('[data-tool="draft_workflow"]')).toBeVisible();
  const proposal = page.getByTestId('proposal');
  await expect(proposal.getByTestId('proposal-canvas')).toContainText('fetch · http/request');
  const names = async () => (await api<{ items: { id: string; name: string }[] }>(page, 'GET', '/workflows')).items;
  expect((await names()).map((w) => w.name)).not.toContain('lamp-price'); // not saved yet (other specs' workflows may exist)
  await proposal.scrollIntoViewIfNeeded();
  await shot(page, 'copilot');

  await proposal.getByRole('button', { name: 'Accept' }).click();
  await expect(proposal).toContainText('Saved as v1');
  const saved = (await names()).filter((w) => w.name === 'lamp-price');
  expect(saved).toHaveLength(1);

  await script(
    { tool_calls: [['run_workflow', { input: {} }]] },
    { text: 'Confirm the run below and I will follow it.' },
    { text: 'The run completed: it fetched "A lamp" and kept its price, 42.' },
  );
  await say(page, 'run it now');
  const action = page.getByTestId('pending-action');
  await expect(action).toHaveAttribute('data-kind', 'run_workflow');
  await action.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByTestId('assistant-message').last()).toContainText('kept its price, 42');
  const card = page.locator('[data-tool="confirm_run_workflow"]');
  await card.getByText('details').click();
  await expect(card.getByTestId('tool-result')).toContainText('"run_status": "completed"');
  const runs = await api<{ items: { status: string }[] }>(page, 'GET', `/executions?workflow=${saved[0].id}`);
  expect(runs.items.map((r) => r.status)).toEqual(['completed']);

  await page.getByRole('switch', { name: 'Dev inspect' }).click();
  await expect(page.getByTestId('raw-events')).toContainText('"type":"RUN_FINISHED"');
  await page.getByTestId('raw-events').scrollIntoViewIfNeeded();
  await shot(page, 'copilot-inspect');
});

test('code mode shows the code in Monaco; it runs in the sandbox only when the user runs it', async ({ page }) => {
  await signIn(page, 'editor@example.com');
  await page.goto('/copilot');
  await page.locator('label', { hasText: /^Code$/ }).click();
  await expect(page.getByRole('radio', { name: 'Code' })).toBeChecked();
  await script(
    { tool_calls: [['run_code', { language: 'python', code: "result = sum(inputs['numbers'])", inputs: { numbers: [1, 2, 3] } }]] },
    { text: 'Here is the code; run it when it looks right.' },
  );
  await say(page, 'add up 1, 2 and 3 in python');
  const card = page.getByTestId('code-card');
  await expect(card.getByTestId('code-editor')).toContainText("sum(inputs['numbers'])");
  await shot(page, 'copilot-code');
  await script({ text: 'It came to 6.' });
  await card.getByRole('button', { name: 'Run' }).click();
  await expect(card.getByTestId('code-result')).toContainText('"result": 6');
  await expect(card.getByTestId('code-result')).toContainText('code-bwrap/bwrap');
  await expect(page.getByTestId('assistant-message').last()).toContainText('It came to 6.');
});

test('the embeddable widget chats about its one workflow with a scoped API key', async ({ page }) => {
  await signIn(page, 'editor@example.com');
  const saved = await api<{ id: string }>(page, 'POST', '/workflows', { ...LAMP, name: 'widget-lamp' });
  const key = await api<{ key: string }>(page, 'POST', '/auth/api-keys', { name: 'widget', workflow_id: saved.id });
  await script({ tool_calls: [['get_workflow', {}]] }, { text: 'It fetches the lamp and keeps its price.' });
  await page.goto(`/embed.html#key=${encodeURIComponent(key.key)}&workflow=${saved.id}`);
  await say(page, 'what does this workflow do?');
  await expect(page.getByTestId('assistant-message').last()).toContainText('keeps its price');
  await page.locator('[data-tool="get_workflow"]').getByText('details').click();
  await expect(page.locator('[data-tool="get_workflow"]').getByTestId('tool-result')).toContainText(saved.id);
  await shot(page, 'copilot-embed');
  const refused = await page.evaluate(async (secret) => (await fetch('/api/v1/workflows', { headers: { authorization: `Bearer ${secret}` } })).status, key.key);
  expect(refused).toBe(403);
});
