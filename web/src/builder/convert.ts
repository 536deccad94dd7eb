// The workflow document ⇄ the canvas's nodes and edges. Pure functions: the canvas store
// calls them on load and on save, and the tests pin them.
import type { Edge, Node } from '@xyflow/react';
import type { Handle, JsonObject, NodeType, Workflow, WorkflowEdge, WorkflowNode } from '../api/types';

export const MAIN = 'main';
export const INPUT = 'in';

export interface StepData extends Record<string, unknown> {
  node: WorkflowNode;
}

export interface StickyData extends Record<string, unknown> {
  text: string;
  width: number;
  height: number;
  color: string;
}

export type StepNode = Node<StepData, 'step'>;
export type StickyNode = Node<StickyData, 'sticky'>;
export type CanvasNode = StepNode | StickyNode;

export interface Sticky {
  id: string;
  text: string;
  x: number;
  y: number;
  width: number;
  height: number;
  color: string;
}

// Canvas-only notes ride in the description, after a marker line the server keeps as text.
const NOTES = /\n*<!-- synthral-notes: (.*) -->\s*$/s;

export function splitDescription(description: string | undefined): { text: string; notes: Sticky[] } {
  const raw = description ?? '';
  const found = raw.match(NOTES);
  if (!found) return { text: raw, notes: [] };
  try {
    const notes = JSON.parse(found[1]) as Sticky[];
    return { text: raw.slice(0, found.index), notes: Array.isArray(notes) ? notes : [] };
  } catch {
    return { text: raw, notes: [] };
  }
}

export function joinDescription(text: string, notes: Sticky[]): string {
  if (notes.length === 0) return text;
  return `${text}${text ? '\n\n' : ''}<!-- synthral-notes: ${JSON.stringify(notes)} -->`;
}

function pointer(document: unknown, path: string): unknown {
  if (!path || path === '/') return document;
  let current: unknown = document;
  for (const part of path.replace(/^\//, '').split('/')) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** The output handles of a node: fixed by its type, or from its config (switch rules). */
export function outputHandles(node: WorkflowNode, spec: NodeType | undefined): Handle[] {
  if (!spec) return [{ id: MAIN }];
  const handles = spec.handles;
  let outputs: Handle[] = handles.outputs.length ? [...handles.outputs] : [{ id: MAIN }];
  const dynamic = handles.dynamic_outputs;
  if (dynamic) {
    const rules = pointer(node.config ?? {}, dynamic.from_config);
    outputs = [];
    if (Array.isArray(rules)) {
      for (const rule of rules) {
        const name = rule && typeof rule === 'object' ? (rule as Record<string, unknown>)[dynamic.key] : undefined;
        if (typeof name === 'string' && name && !outputs.some((o) => o.id === name)) outputs.push({ id: name, label: name });
      }
    }
    // The fallback branch: the type's, unless the config field it names says otherwise (null: none).
    let fallback: unknown = dynamic.fallback ?? null;
    if (dynamic.fallback_from_config) {
      const configured = pointer(node.config ?? {}, dynamic.fallback_from_config);
      if (configured !== undefined) fallback = configured;
    }
    if (typeof fallback === 'string' && fallback && !outputs.some((o) => o.id === fallback)) {
      outputs.push({ id: fallback, label: fallback });
    }
  }
  if (handles.error_output && !outputs.some((o) => o.id === 'error')) outputs.push({ id: 'error', label: 'error' });
  return outputs;
}

/** Whether edges out of this node carry a handle (branching nodes), or leave it null. */
export function branches(node: WorkflowNode, spec: NodeType | undefined): boolean {
  const outputs = outputHandles(node, spec);
  return !(outputs.length === 1 && outputs[0].id === MAIN);
}

export function edgeId(edge: WorkflowEdge): string {
  return `${edge.source}->${edge.target}${edge.handle ? `:${edge.handle}` : ''}`;
}

export function toCanvas(workflow: Workflow): { nodes: CanvasNode[]; edges: Edge[]; description: string } {
  const { text, notes } = splitDescription(workflow.description);
  const steps: CanvasNode[] = workflow.nodes.map((node, index) => ({
    id: node.id,
    type: 'step',
    position: node.position ? { x: node.position.x, y: node.position.y } : { x: index * 260, y: 0 },
    data: { node: structuredClone(node) },
  }));
  const stickies: CanvasNode[] = notes.map((note) => ({
    id: note.id,
    type: 'sticky',
    position: { x: note.x, y: note.y },
    zIndex: -1,
    style: { width: note.width, height: note.height },
    data: { text: note.text, width: note.width, height: note.height, color: note.color },
  }));
  const edges: Edge[] = (workflow.edges ?? []).map((edge) => ({
    id: edgeId(edge),
    source: edge.source,
    target: edge.target,
    sourceHandle: edge.handle ?? MAIN,
    targetHandle: INPUT,
    label: edge.handle ?? undefined,
  }));
  return { nodes: [...stickies, ...steps], edges, description: text };
}

export function fromCanvas(
  base: Omit<Workflow, 'nodes' | 'edges'>,
  description: string,
  nodes: CanvasNode[],
  edges: Edge[],
  specs: Map<string, NodeType>,
): Workflow {
  const steps = nodes.filter((n): n is StepNode => n.type === 'step');
  const byId = new Map(steps.map((n) => [n.id, n.data.node]));
  const notes: Sticky[] = nodes
    .filter((n): n is StickyNode => n.type === 'sticky')
    .map((n) => ({
      id: n.id,
      text: n.data.text,
      x: Math.round(n.position.x),
      y: Math.round(n.position.y),
      width: Math.round(n.measured?.width ?? n.data.width),
      height: Math.round(n.measured?.height ?? n.data.height),
      color: n.data.color,
    }));
  const workflowNodes: WorkflowNode[] = steps.map((n) => clean({ ...n.data.node, id: n.id, position: { x: Math.round(n.position.x), y: Math.round(n.position.y) } }));
  const seen = new Set<string>();
  const workflowEdges: WorkflowEdge[] = [];
  for (const edge of edges) {
    const source = byId.get(edge.source);
    if (!source || !byId.has(edge.target)) continue;
    const handle = branches(source, specs.get(source.type)) ? (edge.sourceHandle ?? null) : null;
    const out: WorkflowEdge = handle ? { source: edge.source, target: edge.target, handle } : { source: edge.source, target: edge.target };
    const key = edgeId(out);
    if (!seen.has(key)) {
      seen.add(key);
      workflowEdges.push(out);
    }
  }
  return { ...base, description: joinDescription(description, notes), nodes: workflowNodes, edges: workflowEdges };
}

/** Drop fields left empty by the editor so saved documents stay as small as hand-written ones. */
function clean(node: WorkflowNode): WorkflowNode {
  const result: WorkflowNode = { id: node.id, type: node.type };
  if (node.name) result.name = node.name;
  if (node.config && Object.keys(node.config).length) result.config = node.config as JsonObject;
  if (node.input && Object.keys(node.input).length) result.input = node.input as JsonObject;
  if (node.operation) result.operation = node.operation;
  if (node.version) result.version = node.version;
  if (node.secrets && node.secrets.length) result.secrets = node.secrets;
  if (node.retry && Object.values(node.retry).some((v) => v !== null && v !== undefined && !(Array.isArray(v) && v.length === 0))) {
    result.retry = node.retry;
  }
  if (node.timeout) result.timeout = node.timeout;
  result.position = node.position;
  return result;
}

/** A fresh node id for a type: its capability name, numbered when taken ('request', 'request_2'). */
export function freshId(type: string, taken: Set<string>): string {
  const stem = (type.split('/').pop() ?? 'node').replace(/[^A-Za-z0-9_]/g, '_').replace(/^([0-9])/, '_$1') || 'node';
  if (!taken.has(stem)) return stem;
  for (let n = 2; ; n += 1) if (!taken.has(`${stem}_${n}`)) return `${stem}_${n}`;
}
