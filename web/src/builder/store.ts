// The canvas state, in one store: nodes, edges, the rest of the workflow document, undo
// history, the clipboard, and the overlays (live run statuses, validation problems, diff).
import { addEdge, applyEdgeChanges, applyNodeChanges, type Connection, type Edge, type EdgeChange, type NodeChange } from '@xyflow/react';
import { create } from 'zustand';
import type { NodeType, ValidationProblem, Workflow, WorkflowNode } from '../api/types';
import { INPUT, MAIN, freshId, fromCanvas, toCanvas, type CanvasNode, type StepNode } from './convert';

export type RunStatus = 'running' | 'completed' | 'failed' | 'retrying' | 'waiting' | 'cancelled' | 'skipped';
export type DiffMark = 'added' | 'removed' | 'changed';

interface Snapshot {
  nodes: CanvasNode[];
  edges: Edge[];
  description: string;
}

const HISTORY = 100;

export interface CanvasState {
  base: Omit<Workflow, 'nodes' | 'edges' | 'description'>;
  description: string;
  nodes: CanvasNode[];
  edges: Edge[];
  past: Snapshot[];
  future: Snapshot[];
  dirty: boolean;
  clipboard: { nodes: CanvasNode[]; edges: Edge[] } | null;
  selected: string | null;
  runStatus: Record<string, RunStatus>;
  problems: ValidationProblem[];
  diff: Record<string, DiffMark> | null;
  readOnly: boolean;
  lastEdit: { key: string; at: number } | null;
  /** Bumped by every change that can change the saved document (not by moving nodes). */
  revision: number;
  /** Bumped when a document is loaded (the canvas then picks its first view). */
  loads: number;

  load: (workflow: Workflow, options?: { readOnly?: boolean }) => void;
  /** Put another version of the document on the canvas as one undoable, unsaved edit (the copilot's). */
  replace: (workflow: Workflow) => void;
  toWorkflow: (specs: Map<string, NodeType>) => Workflow;
  checkpoint: () => void;
  undo: () => void;
  redo: () => void;
  onNodesChange: (changes: NodeChange<CanvasNode>[]) => void;
  onEdgesChange: (changes: EdgeChange[]) => void;
  onConnect: (connection: Connection) => void;
  addStep: (type: string, position: { x: number; y: number }, spec?: NodeType) => string;
  addSticky: (position: { x: number; y: number }) => void;
  updateStep: (id: string, patch: Partial<WorkflowNode>, coalesce?: string) => void;
  renameStep: (id: string, newId: string) => string | null;
  updateSticky: (id: string, text: string) => void;
  setBase: (patch: Partial<CanvasState['base']>) => void;
  setDescription: (text: string) => void;
  select: (id: string | null) => void;
  copy: () => void;
  paste: (offset?: { x: number; y: number }) => void;
  removeSelected: () => void;
  setPositions: (positions: Map<string, { x: number; y: number }>) => void;
  setRunStatus: (status: Record<string, RunStatus>) => void;
  setProblems: (problems: ValidationProblem[]) => void;
  setDiff: (diff: Record<string, DiffMark> | null, extra?: CanvasNode[]) => void;
  markSaved: () => void;
}

const snapshot = (s: CanvasState): Snapshot => ({ nodes: s.nodes, edges: s.edges, description: s.description });

export const useCanvas = create<CanvasState>((set, get) => ({
  base: { name: '' },
  description: '',
  nodes: [],
  edges: [],
  past: [],
  future: [],
  dirty: false,
  clipboard: null,
  selected: null,
  runStatus: {},
  problems: [],
  diff: null,
  readOnly: false,
  lastEdit: null,
  revision: 0,
  loads: 0,

  load: (workflow, options) => {
    const { nodes, edges, description } = toCanvas(workflow);
    const base = { name: workflow.name, triggers: workflow.triggers, settings: workflow.settings };
    set((s) => ({ revision: s.revision + 1, loads: s.loads + 1, base, nodes, edges, description, past: [], future: [], dirty: false, selected: null, runStatus: {}, problems: [], diff: null, readOnly: Boolean(options?.readOnly) }));
  },

  replace: (workflow) => {
    if (get().readOnly) return;
    get().checkpoint();
    const { nodes, edges, description } = toCanvas(workflow);
    set((s) => ({ base: { ...s.base, name: workflow.name, triggers: workflow.triggers, settings: workflow.settings }, nodes, edges, description, selected: null, diff: null }));
  },

  toWorkflow: (specs) => {
    const s = get();
    return fromCanvas(s.base, s.description, s.nodes.filter((n) => !n.data.ghost), s.edges.filter((e) => !e.data?.ghost), specs);
  },

  checkpoint: () => set((s) => ({ past: [...s.past.slice(-HISTORY + 1), snapshot(s)], future: [], dirty: true, revision: s.revision + 1 })),

  undo: () =>
    set((s) => {
      const previous = s.past.at(-1);
      if (!previous) return {};
      return { ...previous, past: s.past.slice(0, -1), future: [snapshot(s), ...s.future], dirty: true, revision: s.revision + 1 };
    }),

  redo: () =>
    set((s) => {
      const next = s.future[0];
      if (!next) return {};
      return { ...next, future: s.future.slice(1), past: [...s.past, snapshot(s)], dirty: true, revision: s.revision + 1 };
    }),

  onNodesChange: (changes) => {
    const s = get();
    if (s.readOnly) {
      const allowed = changes.filter((c) => c.type === 'select' || c.type === 'dimensions');
      if (allowed.length) set({ nodes: applyNodeChanges(allowed, s.nodes) });
      return;
    }
    // A drag's first move and every removal are one undo step each.
    const startsDrag = changes.some((c) => c.type === 'position' && c.dragging && !s.nodes.find((n) => n.id === c.id)?.dragging);
    const removes = changes.some((c) => c.type === 'remove');
    if (startsDrag || removes) get().checkpoint();
    const moved = changes.some((c) => c.type === 'position' || c.type === 'remove');
    set({ nodes: applyNodeChanges(changes, get().nodes), ...(moved ? { dirty: true } : {}) });
  },

  onEdgesChange: (changes) => {
    const s = get();
    if (s.readOnly) return;
    if (changes.some((c) => c.type === 'remove')) get().checkpoint();
    set({ edges: applyEdgeChanges(changes, get().edges) });
  },

  onConnect: (connection) => {
    if (get().readOnly || connection.source === connection.target && !connection.sourceHandle) return;
    get().checkpoint();
    const handle = connection.sourceHandle ?? MAIN;
    const id = `${connection.source}->${connection.target}${handle !== MAIN ? `:${handle}` : ''}`;
    set((s) => ({
      edges: addEdge({ ...connection, id, sourceHandle: handle, targetHandle: INPUT, label: handle !== MAIN ? handle : undefined }, s.edges),
    }));
  },

  addStep: (type, position, spec) => {
    get().checkpoint();
    const taken = new Set(get().nodes.map((n) => n.id));
    const id = freshId(type, taken);
    const node: WorkflowNode = { id, type, config: {}, input: {} };
    if (spec && spec.default_operation === null) {
      const first = Object.keys(spec.operations)[0];
      if (first) node.operation = first;
    }
    const step: StepNode = { id, type: 'step', position, data: { node }, selected: true };
    set((s) => ({ nodes: [...s.nodes.map((n) => ({ ...n, selected: false })), step], selected: id }));
    return id;
  },

  addSticky: (position) => {
    get().checkpoint();
    const taken = new Set(get().nodes.map((n) => n.id));
    let n = 1;
    while (taken.has(`note_${n}`)) n += 1;
    const note: CanvasNode = {
      id: `note_${n}`,
      type: 'sticky',
      position,
      zIndex: -1,
      style: { width: 240, height: 140 },
      data: { text: 'A note for people reading this workflow.', width: 240, height: 140, color: 'yellow' },
    };
    set((s) => ({ nodes: [note, ...s.nodes] }));
  },

  updateStep: (id, patch, coalesce) => {
    // Typing into one field is one undo step, not one per key.
    const last = get().lastEdit;
    const key = coalesce ? `${id}:${coalesce}` : '';
    if (!key || !last || last.key !== key || Date.now() - last.at > 1500) get().checkpoint();
    set((s) => ({ lastEdit: key ? { key, at: Date.now() } : null, dirty: true, revision: s.revision + 1 }));
    set((s) => ({
      nodes: s.nodes.map((n) => (n.id === id && n.type === 'step' ? { ...n, data: { ...n.data, node: { ...n.data.node, ...patch } } } : n)) as CanvasNode[],
    }));
  },

  renameStep: (id, newId) => {
    if (id === newId) return null;
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(newId)) {
      return "a node id starts with a letter or '_' and holds only letters, digits and '_' (at most 64)";
    }
    if (get().nodes.some((n) => n.id === newId)) return `another node is called '${newId}'; pick a free id`;
    get().checkpoint();
    set((s) => ({
      nodes: s.nodes.map((n) => (n.id === id ? ({ ...n, id: newId, data: n.type === 'step' ? { ...n.data, node: { ...n.data.node, id: newId } } : n.data } as CanvasNode) : n)),
      edges: s.edges.map((e) => {
        const source = e.source === id ? newId : e.source;
        const target = e.target === id ? newId : e.target;
        return { ...e, source, target, id: `${source}->${target}${e.sourceHandle && e.sourceHandle !== MAIN ? `:${e.sourceHandle}` : ''}` };
      }),
      selected: s.selected === id ? newId : s.selected,
    }));
    return null;
  },

  updateSticky: (id, text) => {
    get().checkpoint();
    set((s) => ({ nodes: s.nodes.map((n) => (n.id === id && n.type === 'sticky' ? { ...n, data: { ...n.data, text } } : n)) as CanvasNode[] }));
  },

  setBase: (patch) => {
    get().checkpoint();
    set((s) => ({ base: { ...s.base, ...patch } }));
  },

  setDescription: (text) => {
    get().checkpoint();
    set({ description: text });
  },

  select: (id) => set({ selected: id }),

  copy: () => {
    const s = get();
    const nodes = s.nodes.filter((n) => n.selected);
    const ids = new Set(nodes.map((n) => n.id));
    const edges = s.edges.filter((e) => ids.has(e.source) && ids.has(e.target));
    if (nodes.length) set({ clipboard: { nodes: structuredClone(nodes), edges: structuredClone(edges) } });
  },

  paste: (offset = { x: 40, y: 40 }) => {
    const s = get();
    if (!s.clipboard || s.readOnly) return;
    get().checkpoint();
    const taken = new Set(s.nodes.map((n) => n.id));
    const renamed = new Map<string, string>();
    const nodes = s.clipboard.nodes.map((n) => {
      const id = n.type === 'step' ? freshId(n.data.node.type, taken) : freshId(n.id.replace(/_\d+$/, ''), taken);
      taken.add(id);
      renamed.set(n.id, id);
      const copy = structuredClone(n);
      return {
        ...copy,
        id,
        selected: true,
        position: { x: n.position.x + offset.x, y: n.position.y + offset.y },
        data: copy.type === 'step' ? { ...copy.data, node: { ...copy.data.node, id } } : copy.data,
      } as CanvasNode;
    });
    const edges = s.clipboard.edges.map((e) => {
      const source = renamed.get(e.source) ?? e.source;
      const target = renamed.get(e.target) ?? e.target;
      return { ...e, source, target, selected: false, id: `${source}->${target}${e.sourceHandle && e.sourceHandle !== MAIN ? `:${e.sourceHandle}` : ''}` };
    });
    set({ nodes: [...s.nodes.map((n) => ({ ...n, selected: false })), ...nodes], edges: [...s.edges, ...edges] });
  },

  removeSelected: () => {
    const s = get();
    if (s.readOnly) return;
    const ids = new Set(s.nodes.filter((n) => n.selected).map((n) => n.id));
    const edgeIds = new Set(s.edges.filter((e) => e.selected).map((e) => e.id));
    if (!ids.size && !edgeIds.size) return;
    get().checkpoint();
    set({
      nodes: s.nodes.filter((n) => !ids.has(n.id)),
      edges: s.edges.filter((e) => !edgeIds.has(e.id) && !ids.has(e.source) && !ids.has(e.target)),
      selected: s.selected && ids.has(s.selected) ? null : s.selected,
    });
  },

  setPositions: (positions) => {
    get().checkpoint();
    set((s) => ({ nodes: s.nodes.map((n) => (positions.has(n.id) ? { ...n, position: positions.get(n.id)! } : n)) }));
  },

  setRunStatus: (runStatus) => set({ runStatus }),
  setProblems: (problems) => set({ problems }),
  setDiff: (diff, extra) =>
    set((s) => ({
      diff,
      nodes: [...s.nodes.filter((n) => !n.data.ghost), ...(extra ?? [])],
    })),
  markSaved: () => set({ dirty: false }),
}));
