import { describe, expect, it } from 'vitest';
import { applyPatch, emptyView, fold, pendingActions, resumed, type AgEvent } from './model';

const run = (events: AgEvent[]) => events.reduce(fold, emptyView());

describe('the chat view folded from AG-UI events', () => {
  it('streams text into one assistant message and ends it', () => {
    const view = run([
      { type: 'RUN_STARTED', threadId: 't1', runId: 'r1', metadata: { mode: 'automation' } },
      { type: 'TEXT_MESSAGE_START', messageId: 'm1', role: 'assistant' },
      { type: 'TEXT_MESSAGE_CONTENT', messageId: 'm1', delta: 'Hel' },
      { type: 'TEXT_MESSAGE_CONTENT', messageId: 'm1', delta: 'lo' },
      { type: 'TEXT_MESSAGE_END', messageId: 'm1' },
      { type: 'RUN_FINISHED', threadId: 't1', runId: 'r1', result: { cost_usd: 0.25, mode: 'automation' } },
    ]);
    expect(view.items).toEqual([{ kind: 'assistant', id: 'm1', text: 'Hello', done: true }]);
    expect([view.threadId, view.mode, view.running, view.costUsd]).toEqual(['t1', 'automation', false, 0.25]);
    expect(view.events).toHaveLength(6);
  });

  it('gathers a tool call card with its arguments and result', () => {
    const view = run([
      { type: 'TOOL_CALL_START', toolCallId: 'c1', toolCallName: 'search_catalog' },
      { type: 'TOOL_CALL_ARGS', toolCallId: 'c1', delta: '{"query":' },
      { type: 'TOOL_CALL_ARGS', toolCallId: 'c1', delta: '"rss"}' },
      { type: 'TOOL_CALL_END', toolCallId: 'c1' },
      { type: 'TOOL_CALL_RESULT', toolCallId: 'c1', messageId: 'x', content: '{"count":1}' },
    ]);
    expect(view.items).toEqual([{ kind: 'tool', id: 'c1', name: 'search_catalog', args: '{"query":"rss"}', result: '{"count":1}' }]);
  });

  it('keeps the state from snapshots and RFC 6902 deltas, pending actions included', () => {
    const action = { id: 'a1', kind: 'save_workflow', summary: 'Save', needs_role: 'editor' };
    const view = run([
      { type: 'STATE_SNAPSHOT', snapshot: { mode: 'automation' } },
      { type: 'STATE_DELTA', delta: [{ op: 'add', path: '/pending_actions', value: [action] }] },
      { type: 'STATE_DELTA', delta: [{ op: 'add', path: '/proposal', value: { valid: true, action_id: 'a1' } }] },
    ]);
    expect(pendingActions(view)).toEqual([action]);
    const after = fold(view, { type: 'STATE_DELTA', delta: [{ op: 'remove', path: '/pending_actions' }] });
    expect(pendingActions(after)).toEqual([]);
    expect(after.state.proposal).toEqual({ valid: true, action_id: 'a1' });
  });

  it('applies nested and array operations without touching the original', () => {
    const state = { a: { list: [1, 3] } };
    const next = applyPatch(state, [
      { op: 'add', path: '/a/list/1', value: 2 },
      { op: 'replace', path: '/a/b~1c', value: 'x' },
    ]);
    expect(next).toEqual({ a: { list: [1, 2, 3], 'b/c': 'x' } });
    expect(state).toEqual({ a: { list: [1, 3] } });
  });

  it('shows a run error as an error item and stops running', () => {
    const view = run([{ type: 'RUN_STARTED', threadId: 't', runId: 'r' }, { type: 'RUN_ERROR', message: 'no LLM', code: 'configuration' }]);
    expect(view.running).toBe(false);
    expect(view.items).toEqual([{ kind: 'error', id: 'error-1', text: 'no LLM', code: 'configuration' }]);
  });

  it('rebuilds a stored conversation with tool results on their cards', () => {
    const view = resumed({
      id: 'c1',
      mode: 'automation',
      state: {},
      messages: [
        { id: '1', role: 'user', content: 'hi' },
        { id: '2', role: 'assistant', content: '', toolCalls: [{ id: 'k', function: { name: 'list_workflows', arguments: '{}' } }] },
        { id: '3', role: 'tool', content: '{"workflows":[]}', toolCallId: 'k' },
        { id: '4', role: 'assistant', content: 'None yet.' },
      ],
    });
    expect(view.items.map((item) => item.kind)).toEqual(['user', 'tool', 'assistant']);
    expect(view.items[1]).toMatchObject({ result: '{"workflows":[]}' });
  });
});
