// Live execution events over /api/v1/ws. The socket reconnects with back-off; after every
// (re)connect the caller re-reads the step history, so nothing lost while away stays lost.
import { session } from './client';
import type { RunEvent } from './types';

export interface EventStreamOptions {
  executionId?: string;
  onEvent: (event: RunEvent) => void;
  /** Called when the stream is subscribed, first and after each reconnect: catch up from history here. */
  onSubscribed?: () => void;
  onState?: (state: 'connecting' | 'live' | 'lost') => void;
}

export function openEventStream(options: EventStreamOptions): () => void {
  let socket: WebSocket | null = null;
  let closed = false;
  let failures = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const connect = () => {
    if (closed) return;
    options.onState?.('connecting');
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/ws`;
    socket = new WebSocket(url);
    socket.onopen = () => {
      // Browsers cannot set headers on a WebSocket: the first message authenticates.
      const auth: Record<string, string> = { type: 'auth' };
      if (session.accessToken) auth.token = session.accessToken;
      if (session.workspace) auth.workspace = session.workspace;
      socket?.send(JSON.stringify(auth));
      socket?.send(JSON.stringify(options.executionId ? { type: 'subscribe', execution_id: options.executionId } : { type: 'subscribe' }));
    };
    socket.onmessage = (message) => {
      const data = JSON.parse(String(message.data)) as { type: string };
      if (data.type === 'subscribed') {
        failures = 0;
        options.onState?.('live');
        options.onSubscribed?.();
      } else if (data.type === 'event') {
        options.onEvent(data as unknown as RunEvent);
      }
    };
    socket.onclose = () => {
      socket = null;
      if (closed) return;
      options.onState?.('lost');
      failures += 1;
      const wait = Math.min(10_000, 250 * 2 ** Math.min(failures, 6));
      timer = setTimeout(() => {
        // An expired access token closes the socket: refresh it before trying again.
        void session.refresh().finally(connect);
      }, wait);
    };
  };

  connect();
  return () => {
    closed = true;
    if (timer) clearTimeout(timer);
    socket?.close();
  };
}
