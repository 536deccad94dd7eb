// The embeddable copilot: another page wraps <CopilotWidget> in <AgProvider> with the server's
// address and an API key scoped to one workflow (POST /api/v1/auth/api-keys with
// workflow_id). Such a key reaches only the chat, and only about that workflow.
import { MantineProvider } from '@mantine/core';
import '@mantine/core/styles.css';
import { createContext, useContext, useMemo, type ReactNode } from 'react';
import { ChatPanel } from './ChatPanel';
import type { Transport } from './useCopilot';

interface AgConfig {
  transport: Transport;
  workflowId: string;
}

const AgContext = createContext<AgConfig | null>(null);

export interface AgProviderProps {
  /** The SynthralOS server, e.g. "https://synthral.example.com"; this page's own origin when empty. */
  server?: string;
  /** An API key scoped to `workflowId`. */
  apiKey: string;
  workflowId: string;
  children: ReactNode;
}

export function AgProvider({ server = '', apiKey, workflowId, children }: AgProviderProps) {
  const value = useMemo<AgConfig>(
    () => ({
      transport: { url: `${server.replace(/\/$/, '')}/api/v1/chat`, headers: () => ({ authorization: `Bearer ${apiKey}` }) },
      workflowId,
    }),
    [server, apiKey, workflowId],
  );
  return (
    <MantineProvider>
      <AgContext.Provider value={value}>{children}</AgContext.Provider>
    </MantineProvider>
  );
}

/** The chat panel over the provider's key and workflow. */
export function CopilotWidget({ height = 560, title = 'Ask about this workflow' }: { height?: number | string; title?: string }) {
  const config = useContext(AgContext);
  if (!config) throw new Error('CopilotWidget needs an <AgProvider> around it (server, apiKey, workflowId)');
  return <ChatPanel transport={config.transport} workflowId={config.workflowId} height={height} header={title} />;
}
