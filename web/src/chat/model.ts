// The chat as the panel draws it, folded from the copilot's AG-UI events. Pure functions:
// the panel calls `fold` per event and the tests pin it.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** One AG-UI event as it arrives (camelCase fields, `type` first). */
export interface AgEvent {
  type: string;
  [field: string]: unknown;
}

export interface PendingAction {
  id: string;
  kind: string;
  summary: string;
  needs_role: string;
  payload?: JsonObject;
}

export type Item =
  | { kind: 'user'; id: string; text: string }
  | { kind: 'assistant'; id: string; text: string; done: boolean }
  | { kind: 'reasoning'; id: string; text: string }
  | { kind: 'tool'; id: string; name: string; args: string; result?: string }
  | { kind: 'note'; id: string; text: string }
  | { kind: 'error'; id: string; text: string; code?: string }
  | { kind: 'secret'; id: string; url: string; secret: string };

export interface ChatView {
  threadId: string | null;
  items: Item[];
  state: JsonObject;
  events: AgEvent[];
  running: boolean;
  /** The run's mode as the server chose or routed it. */
  mode: string | null;
  costUsd: number;
}

export const emptyView = (threadId: string | null = null): ChatView => ({
  threadId,
  items: [],
  state: {},
  events: [],
  running: false,
  mode: null,
  costUsd: 0,
});

const unescape = (part: string) => part.replace(/~1/g, '/').replace(/~0/g, '~');

/** Apply RFC 6902 operations (add, replace, remove) to a copy of `state`. */
export function applyPatch(state: JsonObject, operations: { op: string; path: string; value?: Json }[]): JsonObject {
  const next = structuredClone(state);
  for (const operation of operations) {
    const parts = operation.path.split('/').slice(1).map(unescape);
    if (parts.length === 0) continue;
    let parent: Json = next;
    for (const part of parts.slice(0, -1)) {
      if (parent === null || typeof parent !== 'object') break;
      parent = Array.isArray(parent) ? parent[Number(part)] : parent[part];
    }
    if (parent === null || typeof parent !== 'object') continue;
    const last = parts[parts.length - 1];
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (operation.op === 'remove') parent.splice(index, 1);
      else if (operation.op === 'add') parent.splice(index, 0, operation.value ?? null);
      else parent[index] = operation.value ?? null;
    } else if (operation.op === 'remove') {
      delete parent[last];
    } else {
      parent[last] = operation.value ?? null;
    }
  }
  return next;
}

const text = (value: unknown) => (typeof value === 'string' ? value : '');

function update<T extends Item>(items: Item[], id: string, kind: T['kind'], change: (item: T) => T): Item[] {
  return items.map((item) => (item.id === id && item.kind === kind ? change(item as T) : item));
}

/** The view after one more event. */
export function fold(view: ChatView, event: AgEvent): ChatView {
  const next: ChatView = { ...view, events: [...view.events, event] };
  switch (event.type) {
    case 'RUN_STARTED': {
      const metadata = (event.metadata ?? {}) as { mode?: string };
      return { ...next, running: true, threadId: text(event.threadId) || view.threadId, mode: metadata.mode ?? view.mode };
    }
    case 'RUN_FINISHED': {
      const result = (event.result ?? {}) as { cost_usd?: number; mode?: string };
      return { ...next, running: false, costUsd: view.costUsd + (result.cost_usd ?? 0), mode: result.mode ?? view.mode };
    }
    case 'RUN_ERROR':
      return {
        ...next,
        running: false,
        items: [...view.items, { kind: 'error', id: `error-${view.events.length}`, text: text(event.message), code: text(event.code) }],
      };
    case 'TEXT_MESSAGE_START':
      return { ...next, items: [...view.items, { kind: 'assistant', id: text(event.messageId), text: '', done: false }] };
    case 'TEXT_MESSAGE_CONTENT':
      return {
        ...next,
        items: update(view.items, text(event.messageId), 'assistant', (item: Extract<Item, { kind: 'assistant' }>) => ({
          ...item,
          text: item.text + text(event.delta),
        })),
      };
    case 'TEXT_MESSAGE_END':
      return {
        ...next,
        items: update(view.items, text(event.messageId), 'assistant', (item: Extract<Item, { kind: 'assistant' }>) => ({ ...item, done: true })),
      };
    case 'REASONING_MESSAGE_START':
      return { ...next, items: [...view.items, { kind: 'reasoning', id: text(event.messageId), text: '' }] };
    case 'REASONING_MESSAGE_CONTENT':
      return {
        ...next,
        items: update(view.items, text(event.messageId), 'reasoning', (item: Extract<Item, { kind: 'reasoning' }>) => ({
          ...item,
          text: item.text + text(event.delta),
        })),
      };
    case 'TOOL_CALL_START':
      return {
        ...next,
        items: [...view.items, { kind: 'tool', id: text(event.toolCallId), name: text(event.toolCallName), args: '' }],
      };
    case 'TOOL_CALL_ARGS':
      return {
        ...next,
        items: update(view.items, text(event.toolCallId), 'tool', (item: Extract<Item, { kind: 'tool' }>) => ({
          ...item,
          args: item.args + text(event.delta),
        })),
      };
    case 'TOOL_CALL_RESULT':
      return {
        ...next,
        items: update(view.items, text(event.toolCallId), 'tool', (item: Extract<Item, { kind: 'tool' }>) => ({
          ...item,
          result: text(event.content),
        })),
      };
    case 'STATE_SNAPSHOT':
      return { ...next, state: (event.snapshot ?? {}) as JsonObject };
    case 'STATE_DELTA':
      return { ...next, state: applyPatch(view.state, (event.delta ?? []) as { op: string; path: string; value?: Json }[]) };
    case 'CUSTOM': {
      const value = (event.value ?? {}) as { url?: string; secret?: string };
      if (event.name === 'webhook_secret' && value.secret) {
        return { ...next, items: [...view.items, { kind: 'secret', id: `secret-${view.events.length}`, url: value.url ?? '', secret: value.secret }] };
      }
      return next;
    }
    default:
      return next;
  }
}

/** The user's own message, shown at once (the server stores it with the run). */
export function withUser(view: ChatView, id: string, message: string): ChatView {
  return { ...view, items: [...view.items, { kind: 'user', id, text: message }] };
}

export function pendingActions(view: ChatView): PendingAction[] {
  const pending = view.state.pending_actions;
  return Array.isArray(pending) ? (pending as unknown as PendingAction[]) : [];
}

interface StoredMessage {
  id: string;
  role: string;
  content: string;
  toolCalls?: { id: string; function: { name: string; arguments: string } }[];
  toolCallId?: string;
}

/** A stored conversation (GET /chat/conversations/{id}) as the view it ended with. */
export function resumed(conversation: { id: string; state: JsonObject; mode: string; messages: StoredMessage[] }): ChatView {
  const items: Item[] = [];
  for (const message of conversation.messages) {
    if (message.role === 'user') items.push({ kind: 'user', id: message.id, text: message.content });
    else if (message.role === 'developer') items.push({ kind: 'note', id: message.id, text: message.content });
    else if (message.role === 'assistant') {
      if (message.content) items.push({ kind: 'assistant', id: message.id, text: message.content, done: true });
      for (const call of message.toolCalls ?? []) items.push({ kind: 'tool', id: call.id, name: call.function.name, args: call.function.arguments });
    } else if (message.role === 'tool') {
      const id = message.toolCallId ?? '';
      const index = items.findIndex((item) => item.kind === 'tool' && item.id === id);
      if (index >= 0) items[index] = { ...(items[index] as Extract<Item, { kind: 'tool' }>), result: message.content };
    }
  }
  return { ...emptyView(conversation.id), items, state: conversation.state, mode: conversation.mode };
}
