import { describe, expect, it } from 'vitest';
import type { Workflow } from '../api/types';
import { diffWorkflows, fieldChanges } from './diff';

const v1: Workflow = {
  name: 'w',
  nodes: [
    { id: 'start', type: 'core/set', config: { values: { n: 1 } }, position: { x: 0, y: 0 } },
    { id: 'old', type: 'core/noop' },
    { id: 'same', type: 'core/noop', position: { x: 1, y: 1 } },
  ],
  edges: [{ source: 'start', target: 'old' }],
};
const v2: Workflow = {
  name: 'w',
  nodes: [
    { id: 'start', type: 'core/set', config: { values: { n: 2 } }, retry: { max_attempts: 3 }, position: { x: 50, y: 0 } },
    { id: 'fresh', type: 'core/noop' },
    { id: 'same', type: 'core/noop', position: { x: 99, y: 99 } },
  ],
  edges: [{ source: 'start', target: 'fresh' }],
  settings: { max_steps: 10 },
};

describe('version diff', () => {
  it('finds added, removed and changed nodes, ignoring moves', () => {
    const diff = diffWorkflows(v1, v2);
    expect(diff.added).toEqual(['fresh']);
    expect(diff.removed).toEqual(['old']);
    expect(Object.keys(diff.changed)).toEqual(['start']);
    expect(diff.changed.start).toEqual([
      { path: 'config.values.n', before: 1, after: 2 },
      { path: 'retry', before: undefined, after: { max_attempts: 3 } },
    ]);
    expect(diff.edgesAdded).toEqual([{ source: 'start', target: 'fresh' }]);
    expect(diff.edgesRemoved).toEqual([{ source: 'start', target: 'old' }]);
    expect(diff.settingsChanged.map((c) => c.path)).toEqual(['settings.max_steps']);
  });

  it('treats missing and empty values alike', () => {
    expect(fieldChanges({ config: {} }, { config: null, secrets: [] })).toEqual([]);
    expect(fieldChanges([1, 2], [1, 3])).toEqual([{ path: '(value)', before: [1, 2], after: [1, 3] }]);
  });
});
