// The copilot's chat: streaming text, a card per tool call, the proposed workflow on a mini
// canvas with Accept / Reject, code in Monaco for code mode, and the raw AG-UI events on
// demand. Nothing acts until the person presses a button here.
import {
  Alert,
  Anchor,
  Badge,
  Button,
  Card,
  Code,
  Collapse,
  Group,
  Loader,
  ScrollArea,
  SegmentedControl,
  Stack,
  Switch,
  Text,
  Textarea,
  Tooltip,
} from '@mantine/core';
import { IconPlayerPlay, IconSend, IconSparkles } from '@tabler/icons-react';
import { Suspense, lazy, useEffect, useRef, useState, type ReactNode } from 'react';
import { Proposal, type ApplyProposal } from './Proposal';
import { pendingActions, type ChatView, type Item, type JsonObject, type PendingAction } from './model';
import { MODES, useCopilot, type Decision, type Mode, type Transport } from './useCopilot';

const Monaco = lazy(() => import('../builder/Monaco'));

const MODE_LABELS: Record<Mode | 'auto', string> = {
  auto: 'Auto',
  automation: 'Automation',
  agent: 'Agent',
  agent_flow: 'Agent + tools',
  code: 'Code',
};

function pretty(text: string | undefined): string {
  if (!text) return '';
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function ToolCard({ item }: { item: Extract<Item, { kind: 'tool' }> }) {
  const [open, setOpen] = useState(false);
  let status: string | null = null;
  try {
    const parsed = item.result ? (JSON.parse(item.result) as { status?: string; ok?: boolean; valid?: boolean }) : null;
    status = parsed?.status ?? (parsed?.ok === false || parsed?.valid === false ? 'refused' : parsed ? 'done' : null);
  } catch {
    status = 'done';
  }
  return (
    <Card withBorder padding="xs" radius="sm" data-testid="tool-card" data-tool={item.name}>
      <Group justify="space-between" gap="xs" onClick={() => setOpen((o) => !o)} style={{ cursor: 'pointer' }}>
        <Group gap="xs">
          <Badge variant="light" radius="sm">
            {item.name}
          </Badge>
          {item.result === undefined ? <Loader size="xs" /> : <Text size="xs" c="dimmed">{status}</Text>}
        </Group>
        <Anchor size="xs" component="button" type="button">
          {open ? 'hide' : 'details'}
        </Anchor>
      </Group>
      <Collapse expanded={open}>
        <Text size="xs" fw={600} mt="xs">
          Arguments
        </Text>
        <Code block style={{ maxHeight: 200, overflow: 'auto' }}>
          {pretty(item.args)}
        </Code>
        {item.result !== undefined && (
          <>
            <Text size="xs" fw={600} mt="xs">
              Result
            </Text>
            <Code block style={{ maxHeight: 240, overflow: 'auto' }} data-testid="tool-result">
              {pretty(item.result)}
            </Code>
          </>
        )}
      </Collapse>
    </Card>
  );
}

function Bubble({ item }: { item: Item }) {
  switch (item.kind) {
    case 'user':
      return (
        <Card padding="xs" radius="md" bg="var(--mantine-color-blue-0)" ml="15%" data-testid="user-message">
          <Text size="sm" style={{ whiteSpace: 'pre-wrap' }}>
            {item.text}
          </Text>
        </Card>
      );
    case 'assistant':
      return (
        <Text size="sm" style={{ whiteSpace: 'pre-wrap' }} data-testid="assistant-message">
          {item.text}
          {!item.done && '▍'}
        </Text>
      );
    case 'reasoning':
      return (
        <Text size="xs" c="dimmed" style={{ whiteSpace: 'pre-wrap' }}>
          {item.text}
        </Text>
      );
    case 'tool':
      return <ToolCard item={item} />;
    case 'note':
      return (
        <Text size="xs" c="dimmed">
          {item.text}
        </Text>
      );
    case 'error':
      return (
        <Alert color="red" title="The copilot stopped" data-testid="chat-error">
          {item.text}
        </Alert>
      );
    case 'secret':
      return (
        <Alert color="yellow" title="Webhook secret (shown once)">
          <Text size="sm">{item.url}</Text>
          <Code>{item.secret}</Code>
        </Alert>
      );
  }
}

function CodeCard({ view, decide, busy }: { view: ChatView; decide: (d: Decision) => void; busy: boolean }) {
  const code = view.state.code as { language?: string; code?: string; inputs?: JsonObject; action_id?: string; result?: JsonObject } | undefined;
  const [text, setText] = useState(code?.code ?? '');
  const actionId = code?.action_id;
  useEffect(() => {
    setText(code?.code ?? '');
  }, [actionId, code?.code]);
  if (!code) return null;
  const pending = pendingActions(view).some((action) => action.id === actionId);
  const language = code.language === 'javascript' ? 'javascript' : 'python';
  return (
    <Card withBorder padding="sm" data-testid="code-card">
      <Text fw={600} size="sm" mb="xs">
        Code ({language}) — runs in the sandbox, never on the server
      </Text>
      <Suspense fallback={<Loader size="sm" />}>
        <Monaco value={text} onChange={setText} language={language} height={180} readOnly={!pending} testId="code-editor" />
      </Suspense>
      {pending && actionId && (
        <Group mt="sm">
          <Button size="xs" leftSection={<IconPlayerPlay size={14} />} disabled={busy}
            onClick={() => decide({ actionId, decision: 'confirm', changes: text !== code.code ? { code: text } : undefined })}>
            Run
          </Button>
          <Button size="xs" variant="default" disabled={busy} onClick={() => decide({ actionId, decision: 'reject' })}>
            Reject
          </Button>
        </Group>
      )}
      {code.result && (
        <Code block mt="xs" data-testid="code-result">
          {JSON.stringify(code.result, null, 2)}
        </Code>
      )}
    </Card>
  );
}

function ActionCard({ action, decide, busy }: { action: PendingAction; decide: (d: Decision) => void; busy: boolean }) {
  const input = action.payload?.input;
  const [text, setText] = useState(JSON.stringify(input ?? {}, null, 2));
  const [bad, setBad] = useState<string | null>(null);
  const confirm = () => {
    if (action.kind !== 'run_workflow') return decide({ actionId: action.id, decision: 'confirm' });
    try {
      const parsed = JSON.parse(text) as JsonObject;
      setBad(null);
      decide({ actionId: action.id, decision: 'confirm', changes: { input: parsed } });
    } catch (error) {
      setBad(`the input is not JSON (${(error as Error).message}); fix it, then confirm`);
    }
  };
  return (
    <Card withBorder padding="sm" data-testid="pending-action" data-kind={action.kind}>
      <Text size="sm" mb="xs">
        {action.summary}
      </Text>
      {action.kind === 'run_workflow' && (
        <Textarea label="Test input" autosize minRows={2} value={text} onChange={(e) => setText(e.currentTarget.value)} error={bad} />
      )}
      <Group mt="sm">
        <Button size="xs" disabled={busy} onClick={confirm}>
          Confirm
        </Button>
        <Button size="xs" variant="default" disabled={busy} onClick={() => decide({ actionId: action.id, decision: 'reject' })}>
          Reject
        </Button>
      </Group>
    </Card>
  );
}

export interface ChatPanelProps {
  transport: Transport;
  workflowId?: string | null;
  threadId?: string | null;
  /** Shown above the chat (the page's title, a conversation list). */
  header?: ReactNode;
  height?: number | string;
  /** In the builder: Accept puts a proposed workflow on the canvas instead of saving it. */
  onApply?: ApplyProposal;
  /** What the empty chat suggests asking. */
  hint?: string;
}

export function ChatPanel({ transport, workflowId, threadId, header, height = '100%', onApply, hint }: ChatPanelProps) {
  const { view, send, decide, reset } = useCopilot(transport, { workflowId, threadId });
  const [mode, setMode] = useState<Mode | 'auto'>('auto');
  const [prompt, setPrompt] = useState('');
  const [inspect, setInspect] = useState(false);
  const bottom = useRef<HTMLDivElement>(null);
  useEffect(() => {
    void bottom.current?.scrollIntoView({ block: 'end' }); // a promise in newer browsers: an effect returns no value
  }, [view.items.length, view.state]);

  const submit = () => {
    const text = prompt.trim();
    if (!text || view.running) return;
    setPrompt('');
    void send(text, mode === 'auto' ? null : mode);
  };
  const proposalAction = (view.state.proposal as JsonObject | undefined)?.action_id;
  const codeAction = (view.state.code as JsonObject | undefined)?.action_id;
  const others = pendingActions(view).filter((a) => a.id !== proposalAction && a.id !== codeAction);

  return (
    <Stack h={height} gap="xs" data-testid="chat-panel">
      <Group justify="space-between" wrap="nowrap">
        <Group gap="xs">
          <IconSparkles size={18} />
          {header ?? <Text fw={600}>Copilot</Text>}
        </Group>
        <Group gap="xs">
          {view.mode && <Badge variant="outline" data-testid="run-mode">{MODE_LABELS[view.mode as Mode] ?? view.mode}</Badge>}
          {view.costUsd > 0 && (
            <Tooltip label="What this conversation's LLM calls cost">
              <Text size="xs" c="dimmed">${view.costUsd.toFixed(4)}</Text>
            </Tooltip>
          )}
          <Switch size="xs" label="Dev inspect" checked={inspect} onChange={(e) => setInspect(e.currentTarget.checked)} />
          <Button size="xs" variant="subtle" onClick={reset} disabled={view.running}>
            New chat
          </Button>
        </Group>
      </Group>
      <SegmentedControl
        size="xs"
        value={mode}
        onChange={(value) => setMode(value as Mode | 'auto')}
        data={(['auto', ...MODES] as const).map((m) => ({ value: m, label: MODE_LABELS[m] }))}
        aria-label="mode"
      />
      <ScrollArea style={{ flex: 1 }} type="auto">
        <Stack gap="xs" pr="sm">
          {view.items.length === 0 && (
            <Text size="sm" c="dimmed">
              {hint ??
                'Ask for an automation (“every morning at 8, fetch this RSS feed and email me new items”), to explain a failed run, or to run some code. Nothing is saved or run until you accept it here.'}
            </Text>
          )}
          {view.items.map((item) => (
            <Bubble key={`${item.kind}-${item.id}`} item={item} />
          ))}
          <Proposal view={view} decide={(d) => void decide(d)} busy={view.running} onApply={onApply} />
          <CodeCard view={view} decide={(d) => void decide(d)} busy={view.running} />
          {others.map((action) => (
            <ActionCard key={action.id} action={action} decide={(d) => void decide(d)} busy={view.running} />
          ))}
          {view.running && <Loader size="xs" type="dots" data-testid="chat-running" />}
          {inspect && (
            <Card withBorder padding="xs" data-testid="raw-events">
              <Text size="xs" fw={600}>
                AG-UI events ({view.events.length})
              </Text>
              <Code block style={{ maxHeight: 300, overflow: 'auto', fontSize: 11 }}>
                {view.events.map((event) => JSON.stringify(event)).join('\n')}
              </Code>
            </Card>
          )}
          <div ref={bottom} />
        </Stack>
      </ScrollArea>
      <Group gap="xs" align="flex-end" wrap="nowrap">
        <Textarea
          style={{ flex: 1 }}
          autosize
          minRows={1}
          maxRows={6}
          placeholder="Message the copilot"
          aria-label="message"
          value={prompt}
          onChange={(e) => setPrompt(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              submit();
            }
          }}
        />
        <Button onClick={submit} disabled={view.running || !prompt.trim()} leftSection={<IconSend size={16} />}>
          Send
        </Button>
      </Group>
    </Stack>
  );
}
