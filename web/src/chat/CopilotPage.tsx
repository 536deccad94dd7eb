// The copilot in the app: the chat panel over the signed-in session, with earlier
// conversations to resume (?c=<id>) and the workflow open beside it (?workflow=<id>).
import { Select } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { useLocation, useSearch } from 'wouter';
import { request } from '../api/client';
import { ChatPanel } from './ChatPanel';
import { appTransport } from './transport';

interface ConversationSummary {
  id: string;
  title: string;
  mode: string;
  updated_at: string;
}

export default function CopilotPage() {
  const search = new URLSearchParams(useSearch());
  const [, navigate] = useLocation();
  const threadId = search.get('c');
  const workflowId = search.get('workflow');
  const listed = useQuery({
    queryKey: ['chat', 'conversations'],
    queryFn: () => request<{ items: ConversationSummary[] }>('/chat/conversations?limit=30'),
  });
  const options = useMemo(
    () => (listed.data?.items ?? []).map((c) => ({ value: c.id, label: `${c.title.slice(0, 60)} (${c.mode})` })),
    [listed.data],
  );
  const header = (
    <Select
      size="xs"
      w={340}
      placeholder="Earlier conversations"
      aria-label="earlier conversations"
      data={options}
      value={threadId}
      onChange={(id) => navigate(id ? `/copilot?c=${encodeURIComponent(id)}` : '/copilot')}
      clearable
      searchable
    />
  );
  return (
    <div style={{ height: 'calc(100dvh - 90px)', maxWidth: 980, margin: '0 auto' }}>
      <ChatPanel key={threadId ?? 'new'} transport={appTransport} threadId={threadId} workflowId={workflowId} header={header} />
    </div>
  );
}
