// One conversation with the copilot over AG-UI: @ag-ui/client's HttpAgent posts each run to
// the chat endpoint and reads its server-sent events; the view is folded from them.
import { HttpAgent } from '@ag-ui/client';
import { useCallback, useEffect, useRef, useState } from 'react';
import { emptyView, fold, pendingActions, resumed, withUser, type AgEvent, type ChatView, type JsonObject } from './model';

export const MODES = ['automation', 'agent', 'agent_flow', 'code'] as const;
export type Mode = (typeof MODES)[number];

/** Where the chat talks to and with which credentials (read again before every run). */
export interface Transport {
  url: string;
  headers: () => Record<string, string>;
  /** A fresh credential after a 401 (the app's session refreshes its token); false when none. */
  refresh?: () => Promise<boolean>;
}

export interface Decision {
  actionId: string;
  /** 'apply': a proposed workflow was taken onto the builder's canvas (unsaved). */
  decision: 'confirm' | 'apply' | 'reject';
  changes?: JsonObject;
}

const newId = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`);

export function useCopilot(transport: Transport, options: { workflowId?: string | null; threadId?: string | null } = {}) {
  const [view, setView] = useState<ChatView>(() => emptyView(options.threadId ?? null));
  const agent = useRef<HttpAgent | null>(null);
  const transportRef = useRef(transport);
  transportRef.current = transport;

  const agentFor = useCallback((threadId: string) => {
    if (agent.current?.threadId !== threadId) agent.current = new HttpAgent({ url: transportRef.current.url, threadId });
    return agent.current;
  }, []);

  useEffect(() => {
    const threadId = options.threadId;
    if (!threadId) return;
    let cancelled = false;
    void fetch(`${transportRef.current.url}/conversations/${encodeURIComponent(threadId)}`, { headers: transportRef.current.headers() })
      .then(async (answer) => (answer.ok ? answer.json() : null))
      .then((conversation) => {
        if (!cancelled && conversation) setView(resumed(conversation));
      });
    return () => {
      cancelled = true;
    };
  }, [options.threadId]);

  const run = useCallback(
    async (current: ChatView, params: { prompt?: string; mode?: Mode | null; decisions?: Decision[] }) => {
      const threadId = current.threadId ?? newId();
      const chat = agentFor(threadId);
      chat.headers = transportRef.current.headers();
      let state = current.threadId ? current : { ...current, threadId };
      if (params.prompt) {
        const id = newId();
        chat.messages = [{ id, role: 'user', content: params.prompt }];
        state = withUser(state, id, params.prompt);
      } else {
        chat.messages = [];
      }
      setView({ ...state, running: true });
      // AG-UI asks every open interrupt to be answered: the one decided, the others deferred.
      const decided = new Map((params.decisions ?? []).map((d) => [d.actionId, d]));
      const open = pendingActions(current).map((action) => action.id);
      const resume = params.decisions
        ? [...new Set([...open, ...decided.keys()])].map((id) => {
            const d = decided.get(id);
            if (d?.decision === 'reject') return { interruptId: id, status: 'cancelled' as const };
            return { interruptId: id, status: 'resolved' as const, payload: d ? { decision: d.decision, changes: d.changes } : { decision: 'defer' } };
          })
        : undefined;
      chat.pendingInterrupts = [];
      const forwardedProps = { mode: params.mode ?? undefined, workflow_id: options.workflowId ?? undefined };
      const subscriber = {
        onEvent: ({ event }: { event: unknown }) => {
          state = fold(state, event as AgEvent);
          setView(state);
        },
      };
      try {
        await chat.runAgent({ forwardedProps, resume }, subscriber);
      } catch (error) {
        const message = await explain(error, transportRef.current);
        state = { ...state, running: false, items: [...state.items, { kind: 'error', id: newId(), text: message }] };
        setView(state);
      }
      if (state.running) setView({ ...state, running: false });
    },
    [agentFor, options.workflowId],
  );

  const send = useCallback((prompt: string, mode: Mode | null) => run(view, { prompt, mode }), [run, view]);
  const decide = useCallback((decision: Decision) => run(view, { decisions: [decision] }), [run, view]);
  const reset = useCallback(() => {
    agent.current = null;
    setView(emptyView());
  }, []);
  return { view, send, decide, reset };
}

/** The server's problem+json detail when the request was refused before the stream began. */
async function explain(error: unknown, transport: Transport): Promise<string> {
  const text = error instanceof Error ? error.message : String(error);
  const status = /HTTP (\d{3})/.exec(text)?.[1];
  const body = /HTTP \d{3}: (.*)$/s.exec(text)?.[1];
  if (body) {
    try {
      const problem = JSON.parse(body) as { detail?: string };
      if (problem.detail) return problem.detail;
    } catch {
      // not JSON: the text as it is
    }
  }
  if (status === '401' && transport.refresh && (await transport.refresh())) return 'your session was renewed; send again';
  return text;
}
