// What changed between two versions: nodes added, removed or changed, edges, and the
// field-by-field changes inside a node (config, input, retry...), positions ignored.
import type { JsonValue, Workflow, WorkflowEdge, WorkflowNode } from '../api/types';
import { edgeId } from './convert';

export interface FieldChange {
  path: string;
  before: JsonValue | undefined;
  after: JsonValue | undefined;
}

export interface WorkflowDiff {
  added: string[];
  removed: string[];
  changed: Record<string, FieldChange[]>;
  edgesAdded: WorkflowEdge[];
  edgesRemoved: WorkflowEdge[];
  settingsChanged: FieldChange[];
}

function comparable(node: WorkflowNode): Record<string, JsonValue> {
  const rest: Record<string, unknown> = { ...node };
  delete rest.position;
  return rest as Record<string, JsonValue>;
}

function isObject(value: unknown): value is Record<string, JsonValue> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function empty(value: unknown): boolean {
  return value === undefined || value === null || (Array.isArray(value) && value.length === 0) || (isObject(value) && Object.keys(value).length === 0) || value === '';
}

export function fieldChanges(before: JsonValue | undefined, after: JsonValue | undefined, path = ''): FieldChange[] {
  if (empty(before) && empty(after)) return [];
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => fieldChanges(before[key], after[key], path ? `${path}.${key}` : key));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [{ path: path || '(value)', before, after }];
}

export function diffWorkflows(older: Workflow, newer: Workflow): WorkflowDiff {
  const a = new Map(older.nodes.map((n) => [n.id, n]));
  const b = new Map(newer.nodes.map((n) => [n.id, n]));
  const added = [...b.keys()].filter((id) => !a.has(id));
  const removed = [...a.keys()].filter((id) => !b.has(id));
  const changed: Record<string, FieldChange[]> = {};
  for (const [id, node] of b) {
    const old = a.get(id);
    if (!old) continue;
    const changes = fieldChanges(comparable(old), comparable(node));
    if (changes.length) changed[id] = changes;
  }
  const edgesA = new Map((older.edges ?? []).map((e) => [edgeId(e), e]));
  const edgesB = new Map((newer.edges ?? []).map((e) => [edgeId(e), e]));
  return {
    added,
    removed,
    changed,
    edgesAdded: [...edgesB].filter(([k]) => !edgesA.has(k)).map(([, e]) => e),
    edgesRemoved: [...edgesA].filter(([k]) => !edgesB.has(k)).map(([, e]) => e),
    settingsChanged: fieldChanges(
      { triggers: (older.triggers ?? []) as unknown as JsonValue, settings: (older.settings ?? {}) as JsonValue, name: older.name },
      { triggers: (newer.triggers ?? []) as unknown as JsonValue, settings: (newer.settings ?? {}) as JsonValue, name: newer.name },
    ),
  };
}
