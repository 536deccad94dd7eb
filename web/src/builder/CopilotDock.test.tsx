import { MantineProvider } from '@mantine/core';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { ReactFlowProvider } from '@xyflow/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Workflow } from '../api/types';
import { CopilotDock } from './CopilotDock';
import { useCanvas } from './store';

const SAVED: Workflow = {
  name: 'morning-news',
  nodes: [
    { id: 'feed', type: 'feedmail/rss', input: { url: 'https://news.example.com/feed.xml' }, position: { x: 0, y: 0 } },
    { id: 'mail', type: 'feedmail/email', input: { to: 'me@example.com', subject: 'New items' }, position: { x: 280, y: 0 } },
  ],
  edges: [{ source: 'feed', target: 'mail' }],
  triggers: [{ type: 'manual' }],
};
const PATCH = [{ op: 'replace', path: '/nodes/1/input/subject', value: 'Fresh items' }];
const PROPOSED = structuredClone(SAVED);
PROPOSED.nodes[1].input = { to: 'me@example.com', subject: 'Fresh items' };
const PROPOSAL = {
  workflow: PROPOSED,
  valid: true,
  problems: [],
  changes: { added: [], removed: [], changed: { mail: ['input'] } },
  workflow_id: 'wf1',
  action_id: 'a1',
  edit: { patch: PATCH, of: 'saved', workflow_id: 'wf1', version: 1 },
};
const PENDING = [{ id: 'a1', kind: 'save_workflow', summary: "Save a new version of 'morning-news'", needs_role: 'editor' }];

// What the chat endpoint answers, run by run: AG-UI events as server-sent events (the server
// is outside this component; the e2e spec drives the real one).
function answers(...runs: Record<string, unknown>[][]) {
  const bodies: Record<string, unknown>[] = [];
  const fetch = vi.fn(async (_url: string, init: RequestInit) => {
    const body = JSON.parse(String(init.body)) as Record<string, unknown>;
    bodies.push(body);
    const events = runs[bodies.length - 1] ?? [];
    const ids = { threadId: body.threadId, runId: body.runId };
    const all = [{ type: 'RUN_STARTED', ...ids }, ...events, { type: 'RUN_FINISHED', ...ids }];
    const text = all.map((event) => `data: ${JSON.stringify(event)}\n\n`).join('');
    return new Response(text, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  });
  vi.stubGlobal('fetch', fetch);
  return bodies;
}

function dock(locked: string | null = null) {
  return render(
    <MantineProvider>
      <ReactFlowProvider>
        <CopilotDock workflowId="wf1" specs={new Map()} locked={locked} transport={{ url: 'http://synthral.test/api/v1/chat', headers: () => ({ authorization: 'Bearer t' }) }} />
      </ReactFlowProvider>
    </MantineProvider>,
  );
}

async function ask(text: string) {
  fireEvent.change(screen.getByLabelText('message'), { target: { value: text } });
  fireEvent.click(screen.getByRole('button', { name: 'Send' }));
}

const proposing = [
  { type: 'TEXT_MESSAGE_START', messageId: 'm1', role: 'assistant' },
  { type: 'TEXT_MESSAGE_CONTENT', messageId: 'm1', delta: 'I changed the ' },
  { type: 'TEXT_MESSAGE_CONTENT', messageId: 'm1', delta: 'subject.' },
  { type: 'TEXT_MESSAGE_END', messageId: 'm1' },
  { type: 'TOOL_CALL_START', toolCallId: 'c1', toolCallName: 'propose_edit' },
  { type: 'TOOL_CALL_ARGS', toolCallId: 'c1', delta: JSON.stringify({ patch: PATCH }) },
  { type: 'TOOL_CALL_END', toolCallId: 'c1' },
  { type: 'TOOL_CALL_RESULT', messageId: 't1', toolCallId: 'c1', content: JSON.stringify({ status: 'awaiting_confirmation', action_id: 'a1' }) },
  { type: 'STATE_SNAPSHOT', snapshot: { workflow_id: 'wf1', proposal: PROPOSAL, pending_actions: PENDING } },
];

describe('the copilot docked in the builder', () => {
  beforeEach(() => useCanvas.getState().load(SAVED));
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('streams the answer and the tool card, previews the edit, and Accept puts it on the canvas unsaved', async () => {
    const bodies = answers(proposing, [
      { type: 'TOOL_CALL_START', toolCallId: 'd1', toolCallName: 'apply_save_workflow' },
      { type: 'TOOL_CALL_END', toolCallId: 'd1' },
      { type: 'TOOL_CALL_RESULT', messageId: 't2', toolCallId: 'd1', content: JSON.stringify({ status: 'applied', saved: false }) },
      { type: 'STATE_SNAPSHOT', snapshot: { workflow_id: 'wf1', proposal: { ...PROPOSAL, applied: true }, pending_actions: null } },
    ]);
    dock();
    await ask("call the email 'Fresh items'");
    expect(await screen.findByText('I changed the subject.')).toBeTruthy();
    expect(document.querySelector('[data-tool="propose_edit"]')).not.toBeNull();
    expect(screen.getByTestId('proposal').textContent).toContain('Proposed: morning-news');
    expect(screen.getByTestId('proposal-canvas')).toBeTruthy();
    expect(bodies[0].forwardedProps).toEqual({ workflow_id: 'wf1' });
    expect(useCanvas.getState().dirty).toBe(false);

    fireEvent.click(await screen.findByRole('button', { name: 'Accept' }));
    const canvas = useCanvas.getState();
    expect(canvas.toWorkflow(new Map()).nodes[1].input).toEqual({ to: 'me@example.com', subject: 'Fresh items' });
    expect(canvas.dirty).toBe(true); // unsaved: the builder's Save keeps it
    expect(await screen.findByTestId('proposal-applied')).toBeTruthy();
    expect(bodies[1].resume).toEqual([{ interruptId: 'a1', status: 'resolved', payload: { decision: 'apply' } }]);

    canvas.undo(); // one undoable edit
    expect(useCanvas.getState().toWorkflow(new Map()).nodes[1].input).toEqual({ to: 'me@example.com', subject: 'New items' });
  });

  it('says why an edit cannot go onto the canvas and leaves the proposal pending', async () => {
    const bodies = answers(proposing);
    dock('an old version is open; open the latest to apply an edit');
    await ask('change the subject');
    fireEvent.click(await screen.findByRole('button', { name: 'Accept' }));
    expect(screen.getByTestId('proposal-refused').textContent).toBe('an old version is open; open the latest to apply an edit');
    expect(useCanvas.getState().dirty).toBe(false);
    await waitFor(() => expect(bodies).toHaveLength(1)); // no decision was sent
  });

  it('rejecting sends the rejection and changes nothing', async () => {
    const bodies = answers(proposing, [{ type: 'STATE_SNAPSHOT', snapshot: { proposal: PROPOSAL, pending_actions: null } }]);
    dock();
    await ask('change the subject');
    fireEvent.click(await screen.findByRole('button', { name: 'Reject' }));
    await waitFor(() => expect(bodies).toHaveLength(2));
    expect(bodies[1].resume).toEqual([{ interruptId: 'a1', status: 'cancelled' }]);
    expect(useCanvas.getState().dirty).toBe(false);
  });
});
