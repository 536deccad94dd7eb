// Completion of template paths ({{ nodes.X.output... }}, trigger..., execution...) from the
// graph (which nodes run before this one) and the last run's recorded data.
import type { JsonValue, Step, Workflow } from '../api/types';

export interface Completion {
  label: string;
  insert: string;
  detail: string;
}

export interface TemplateScope {
  nodes: Record<string, { output?: JsonValue; branch?: string | null; runs?: number }>;
  trigger: JsonValue;
  execution: Record<string, JsonValue>;
}

/** The ids of nodes that can run before ``nodeId`` (a path of edges leads from them to it). */
export function upstream(workflow: Pick<Workflow, 'edges'>, nodeId: string): string[] {
  const into = new Map<string, string[]>();
  for (const edge of workflow.edges ?? []) into.set(edge.target, [...(into.get(edge.target) ?? []), edge.source]);
  const seen = new Set<string>();
  const stack = [...(into.get(nodeId) ?? [])];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...(into.get(id) ?? []));
  }
  seen.delete(nodeId);
  return [...seen].sort();
}

/** The scope a run's templates saw, rebuilt from its recorded steps (the latest completed attempt per node). */
export function scopeFromRun(steps: Step[], trigger: JsonValue, execution: Record<string, JsonValue> = {}): TemplateScope {
  const nodes: TemplateScope['nodes'] = {};
  for (const step of steps) {
    if (step.status !== 'completed' || step.iteration.includes(':')) continue;
    const output = step.output as JsonValue;
    const branch = output && typeof output === 'object' && !Array.isArray(output) && typeof output.branch === 'string' ? output.branch : null;
    nodes[step.node_id] = { output, branch, runs: (nodes[step.node_id]?.runs ?? 0) + 1 };
  }
  return { nodes, trigger, execution };
}

function describe(value: JsonValue | undefined): string {
  if (value === undefined) return 'not seen in the last run';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `list of ${value.length}`;
  if (typeof value === 'object') return `object: ${Object.keys(value).slice(0, 4).join(', ')}${Object.keys(value).length > 4 ? ', …' : ''}`;
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function child(value: JsonValue | undefined, key: string): JsonValue | undefined {
  if (value && typeof value === 'object') {
    if (Array.isArray(value)) return /^\d+$/.test(key) ? value[Number(key)] : undefined;
    return value[key];
  }
  return undefined;
}

/**
 * Completions for the expression being typed at the end of ``before`` (the text left of the
 * cursor), when the cursor is inside ``{{ … }}`` or ``{% … %}``.
 */
export function complete(before: string, scope: TemplateScope, available: string[]): Completion[] {
  const open = Math.max(before.lastIndexOf('{{'), before.lastIndexOf('{%'));
  const close = Math.max(before.lastIndexOf('}}'), before.lastIndexOf('%}'));
  if (open < 0 || close > open) return [];
  const match = before.slice(open + 2).match(/([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]*|\[\d+\])*)$|(^|\s)$/);
  if (!match) return [];
  const expression = match[1] ?? '';
  const parts = expression.split('.');
  const prefix = parts.pop() ?? '';
  const path = parts;
  const roots: Record<string, JsonValue | undefined> = {
    nodes: Object.fromEntries(available.map((id) => [id, (scope.nodes[id] ?? {}) as JsonValue])),
    trigger: scope.trigger,
    execution: { id: '', workflow: '', version: 0, started_at: '', ...scope.execution },
  };
  let candidates: [string, JsonValue | undefined][];
  if (path.length === 0) {
    candidates = Object.entries(roots);
  } else {
    let value: JsonValue | undefined = roots[path[0]];
    if (path[0] === 'nodes' && path.length >= 2) {
      const node = scope.nodes[path[1]];
      value = path.length === 2 ? ({ output: node?.output ?? {}, branch: node?.branch ?? null, runs: node?.runs ?? 0 } as JsonValue) : undefined;
      if (path.length > 2) {
        value = { output: node?.output ?? null, branch: node?.branch ?? null, runs: node?.runs ?? 0 } as JsonValue;
        for (const key of path.slice(2)) value = child(value, key);
      }
    } else {
      for (const key of path.slice(1)) value = child(value, key);
    }
    if (path[0] === 'nodes' && path.length === 1) {
      candidates = available.map((id) => [id, (scope.nodes[id]?.output ?? undefined) as JsonValue | undefined]);
    } else if (value && typeof value === 'object' && !Array.isArray(value)) {
      candidates = Object.entries(value);
    } else if (Array.isArray(value)) {
      candidates = value.slice(0, 10).map((item, index) => [String(index), item]);
    } else {
      candidates = [];
    }
  }
  return candidates
    .filter(([key]) => key.startsWith(prefix))
    .map(([key, value]) => ({
      label: key,
      insert: NAME.test(key) || /^\d+$/.test(key) ? key : `['${key}']`,
      detail: describe(value),
    }));
}
