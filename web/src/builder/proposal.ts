// A workflow the copilot proposes, as the graph the builder's canvas should show once the
// user accepts it. Pure functions: the builder's chat panel calls them, the tests pin them.
//
// An edit of the open workflow comes as an RFC 6902 patch made against its saved version; it
// is applied to what the canvas holds now, so unsaved changes stay. A whole draft replaces
// the canvas only when it is the open workflow (or the canvas is a new, unnamed one).
import type { Workflow, WorkflowNode } from '../api/types';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export interface PatchOperation {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

export class PatchError extends Error {}

function tokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`'${pointer}' is not a JSON Pointer (it starts with '/')`);
  return pointer.slice(1).split('/').map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function child(target: Json, token: string, pointer: string): Json {
  if (Array.isArray(target)) {
    const index = /^\d+$/.test(token) ? Number(token) : -1;
    if (index < 0 || index >= target.length) throw new PatchError(`${pointer}: there is no item ${token} here`);
    return target[index];
  }
  if (target !== null && typeof target === 'object') {
    if (!(token in target)) throw new PatchError(`${pointer}: there is no '${token}' here`);
    return target[token];
  }
  throw new PatchError(`${pointer}: '${token}' is below a plain value`);
}

function get(document: Json, pointer: string): Json {
  return tokens(pointer).reduce<Json>((target, token) => child(target, token, pointer), document);
}

function parent(document: Json, pointer: string): [Json, string] {
  const parts = tokens(pointer);
  if (parts.length === 0) throw new PatchError('an operation cannot replace the whole workflow');
  let target = document;
  for (const part of parts.slice(0, -1)) target = child(target, part, pointer);
  return [target, parts[parts.length - 1]];
}

function add(document: Json, pointer: string, value: Json): void {
  const [target, last] = parent(document, pointer);
  if (Array.isArray(target)) {
    const index = last === '-' ? target.length : /^\d+$/.test(last) ? Number(last) : -1;
    if (index < 0 || index > target.length) throw new PatchError(`${pointer}: index ${last} is outside the list`);
    target.splice(index, 0, value);
  } else if (target !== null && typeof target === 'object') {
    target[last] = value;
  } else {
    throw new PatchError(`${pointer}: cannot add below a plain value`);
  }
}

function remove(document: Json, pointer: string): Json {
  const [target, last] = parent(document, pointer);
  const value = child(target, last, pointer);
  if (Array.isArray(target)) target.splice(Number(last), 1);
  else delete (target as JsonObject)[last];
  return value;
}

const same = (a: Json, b: Json) => JSON.stringify(a) === JSON.stringify(b);

/** `document` with the operations applied (a copy); PatchError names the first that does not fit. */
export function applyJsonPatch<T>(document: T, operations: PatchOperation[]): T {
  const result = structuredClone(document) as unknown as Json;
  operations.forEach((operation, number) => {
    try {
      switch (operation.op) {
        case 'add':
          add(result, operation.path, structuredClone(operation.value ?? null));
          break;
        case 'remove':
          remove(result, operation.path);
          break;
        case 'replace':
          remove(result, operation.path);
          add(result, operation.path, structuredClone(operation.value ?? null));
          break;
        case 'move':
        case 'copy': {
          if (typeof operation.from !== 'string') throw new PatchError(`'${operation.op}' needs 'from'`);
          const value = operation.op === 'move' ? remove(result, operation.from) : structuredClone(get(result, operation.from));
          add(result, operation.path, value);
          break;
        }
        case 'test': {
          if (!same(get(result, operation.path), operation.value ?? null)) throw new PatchError(`${operation.path} is no longer what the copilot read`);
          break;
        }
        default:
          throw new PatchError(`'${operation.op}' is not an RFC 6902 operation`);
      }
    } catch (error) {
      if (error instanceof PatchError) throw new PatchError(`operation ${number} (${operation.op} ${operation.path}): ${error.message}`);
      throw error;
    }
  });
  return result as unknown as T;
}

export interface OpenWorkflow {
  /** The open workflow's id (none for a new, unsaved one). */
  id?: string | null;
  /** What the canvas holds now, unsaved changes included. */
  current: Workflow;
}

interface ProposalState {
  valid?: boolean;
  workflow?: Workflow | null;
  workflow_id?: string | null;
  edit?: { patch?: PatchOperation[]; of?: string; workflow_id?: string; version?: number } | null;
}

/** The workflow the canvas shows once the proposal is accepted, or why it cannot take it. */
export function proposedWorkflow(open: OpenWorkflow, raw: unknown): { workflow: Workflow } | { error: string } {
  const proposal = (raw ?? {}) as ProposalState;
  const drafted = proposal.workflow;
  if (!proposal.valid || !drafted || !Array.isArray(drafted.nodes)) {
    return { error: 'this draft has problems; ask the copilot to fix them first' };
  }
  const edit = proposal.edit;
  let workflow: Workflow;
  if (edit?.of === 'saved' && Array.isArray(edit.patch) && open.id && edit.workflow_id === open.id) {
    try {
      workflow = applyJsonPatch(open.current, edit.patch);
    } catch (error) {
      return {
        error: `the edit does not fit the canvas as it is now (${(error as Error).message}); save or undo your changes, then ask again`,
      };
    }
  } else if (open.id ? proposal.workflow_id === open.id : !open.current.name && open.current.nodes.length === 0) {
    workflow = structuredClone(drafted);
  } else {
    return {
      error: `this proposal is for ${proposal.workflow_id ? 'another workflow' : `a new workflow ('${drafted.name}')`}, not the one open here; accept it on the Copilot page`,
    };
  }
  if (open.id && workflow.name !== open.current.name) {
    return { error: `the proposal renames '${open.current.name}' to '${workflow.name}'; a workflow keeps its name` };
  }
  // Nodes the canvas has no place for yet go where the copilot's layout put them.
  const placed = new Map((drafted.nodes as WorkflowNode[]).map((node) => [node.id, node.position]));
  workflow.nodes = workflow.nodes.map((node) => (node.position ? node : { ...node, position: placed.get(node.id) ?? null }));
  return { workflow };
}
