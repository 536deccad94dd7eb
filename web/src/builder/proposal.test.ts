import { describe, expect, it } from 'vitest';
import type { Workflow } from '../api/types';
import { applyJsonPatch, PatchError, proposedWorkflow } from './proposal';

const SAVED: Workflow = {
  name: 'morning-news',
  nodes: [
    { id: 'feed', type: 'feedmail/rss', input: { url: 'https://news.example.com/feed.xml' }, position: { x: 0, y: 0 } },
    { id: 'mail', type: 'feedmail/email', input: { to: 'me@example.com', subject: 'New items' }, position: { x: 280, y: 0 } },
  ],
  edges: [{ source: 'feed', target: 'mail' }],
  triggers: [{ type: 'manual' }],
};
const SUBJECT = [{ op: 'replace', path: '/nodes/1/input/subject', value: 'Fresh items' }];

function proposal(workflow: Workflow, edit: unknown = null, workflowId: string | null = 'wf1') {
  return { valid: true, workflow, workflow_id: workflowId, action_id: 'a1', edit };
}

describe('applying the copilot’s JSON Patch', () => {
  it('adds, replaces, removes, moves, copies and tests as RFC 6902 says, on a copy', () => {
    const doc = { a: [1, 2], b: { c: 'x' } };
    const out = applyJsonPatch(doc, [
      { op: 'add', path: '/a/-', value: 3 },
      { op: 'replace', path: '/b/c', value: 'y' },
      { op: 'copy', from: '/b/c', path: '/d' },
      { op: 'move', from: '/a/0', path: '/e' },
      { op: 'remove', path: '/a/0' },
      { op: 'test', path: '/d', value: 'y' },
    ]);
    expect(out).toEqual({ a: [3], b: { c: 'y' }, d: 'y', e: 1 });
    expect(doc).toEqual({ a: [1, 2], b: { c: 'x' } });
  });

  it('names the operation that does not fit', () => {
    expect(() => applyJsonPatch(SAVED, [{ op: 'replace', path: '/nodes/5/input', value: {} }])).toThrow(PatchError);
    expect(() => applyJsonPatch(SAVED, [{ op: 'replace', path: '/nodes/5/input', value: {} }])).toThrow(/operation 0 \(replace \/nodes\/5\/input\): .*no item 5/);
    expect(() => applyJsonPatch(SAVED, [{ op: 'test', path: '/name', value: 'other' }])).toThrow(/no longer what the copilot read/);
    expect(() => applyJsonPatch(SAVED, [{ op: 'frobnicate', path: '/name' }])).toThrow(/not an RFC 6902 operation/);
  });
});

describe('the workflow the canvas shows once a proposal is accepted', () => {
  const edited = applyJsonPatch(SAVED, SUBJECT);
  const edit = { patch: SUBJECT, of: 'saved', workflow_id: 'wf1', version: 1 };

  it('applies an edit’s patch to the canvas as it is now, keeping unsaved changes', () => {
    const current = structuredClone(SAVED);
    current.nodes[0].input = { url: 'https://other.example.com/rss' }; // unsaved on the canvas
    const result = proposedWorkflow({ id: 'wf1', current }, proposal(edited, edit));
    expect('workflow' in result && result.workflow.nodes[1].input).toEqual({ to: 'me@example.com', subject: 'Fresh items' });
    expect('workflow' in result && result.workflow.nodes[0].input).toEqual({ url: 'https://other.example.com/rss' });
  });

  it('places a node the patch adds where the copilot laid it out', () => {
    const added = [{ op: 'add', path: '/nodes/-', value: { id: 'log', type: 'core/set' } }];
    const laid = { ...applyJsonPatch(SAVED, added) };
    laid.nodes = laid.nodes.map((n) => (n.id === 'log' ? { ...n, position: { x: 560, y: 0 } } : n));
    const result = proposedWorkflow({ id: 'wf1', current: SAVED }, proposal(laid, { ...edit, patch: added }));
    expect('workflow' in result && result.workflow.nodes[2]).toEqual({ id: 'log', type: 'core/set', position: { x: 560, y: 0 } });
  });

  it('refuses an edit that no longer fits the canvas, saying what to do', () => {
    const current = { ...SAVED, nodes: SAVED.nodes.slice(0, 1) }; // the mail node was deleted meanwhile
    const result = proposedWorkflow({ id: 'wf1', current }, proposal(edited, edit));
    expect('error' in result && result.error).toMatch(/does not fit the canvas .* save or undo your changes, then ask again/);
  });

  it('takes a whole draft onto a new, empty canvas, and refuses one for another workflow', () => {
    const blank: Workflow = { name: '', nodes: [], edges: [], triggers: [{ type: 'manual' }] };
    const fresh = proposedWorkflow({ id: null, current: blank }, proposal(SAVED, null, null));
    expect('workflow' in fresh && fresh.workflow.name).toBe('morning-news');
    const elsewhere = proposedWorkflow({ id: 'wf2', current: { ...SAVED, name: 'other' } }, proposal(SAVED));
    expect('error' in elsewhere && elsewhere.error).toMatch(/another workflow, not the one open here/);
  });

  it('refuses a draft with problems and a rename', () => {
    expect(proposedWorkflow({ id: 'wf1', current: SAVED }, { ...proposal(SAVED), valid: false })).toEqual({
      error: 'this draft has problems; ask the copilot to fix them first',
    });
    const renamed = proposedWorkflow({ id: 'wf1', current: SAVED }, proposal({ ...SAVED, name: 'evening' }));
    expect('error' in renamed && renamed.error).toMatch(/renames 'morning-news' to 'evening'/);
  });
});
