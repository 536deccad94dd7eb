import { Alert, Badge, Button, Group, JsonInput, ScrollArea, Stack, Tabs, Text, TextInput, Title, Tooltip } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import Form from '@rjsf/core';
import type { RJSFSchema } from '@rjsf/utils';
import { IconPlayerPause, IconPlayerPlay, IconPlayerStop, IconRepeat } from '@tabler/icons-react';
import { memo, useState } from 'react';
import { useLocation } from 'wouter';
import { request } from '../api/client';
import type { Execution, Workflow } from '../api/types';
import { useCan } from '../auth/context';
import { validator } from '../builder/schemaValidator';
import { ProblemAlert } from '../ui/Problem';
import { STATUS_COLORS, StatusBadge, duration } from '../ui/Status';
import { Preview } from './Preview';
import type { LiveStep } from './useRun';

/**
 * One row per attempt; a row re-renders only when its own step changes. Plain elements, not
 * the UI kit's: a run streams hundreds of rows in a burst, and each kit component costs a
 * style computation per render that the row does not need.
 */
const StepRow = memo(function StepRow({ step, onSelect }: { step: LiveStep; onSelect: (id: string) => void }) {
  return (
    <tr onClick={() => onSelect(step.node_id)} data-testid="step-row" data-step-id={step.id} data-node={step.node_id} data-status={step.status}>
      <td className="mono">{step.node_id}</td>
      <td>
        <span className={`run-status run-status-${STATUS_COLORS[step.status] ?? 'gray'}`} data-status={step.status}>
          {step.status}
        </span>
      </td>
      <td>#{step.attempt}</td>
      <td>{duration(step.duration_ms)}</td>
      <td className="step-error">{step.error_message}</td>
    </tr>
  );
});

interface Props {
  executionId: string;
  execution: Execution | undefined;
  steps: LiveStep[];
  workflow: Workflow | undefined;
  selectedNode: string | null;
  onSelectNode: (id: string | null) => void;
  stream: string;
}

const LIVE = new Set(['queued', 'running', 'waiting', 'paused']);

export function RunDetails({ executionId, execution, steps, workflow, selectedNode, onSelectNode, stream }: Props) {
  const canEdit = useCan('editor');
  const [, navigate] = useLocation();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [signalName, setSignalName] = useState('');
  const [signalData, setSignalData] = useState('{}');

  const act = async (name: string, path: string, body: unknown = {}) => {
    setBusy(name);
    setError(null);
    try {
      const answer = await request<{ execution_id?: string; delivered?: boolean }>(`/executions/${executionId}/${path}`, { body });
      if (name === 'replay' && answer.execution_id) {
        notifications.show({ color: 'green', message: 'Replay started' });
        navigate(`/executions/${answer.execution_id}`);
      } else if (name === 'signal' || name === 'answer') {
        notifications.show({ color: answer.delivered === false ? 'yellow' : 'green', message: answer.delivered === false ? 'That signal was delivered before' : 'Sent' });
      }
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(null);
    }
  };

  if (!execution) return <Text p="sm">Loading the run…</Text>;
  const waiting = execution.waiting_for;
  const formNode = waiting?.type === 'engine/human_input' && waiting.node ? workflow?.nodes.find((n) => n.id === waiting.node) : undefined;
  const form = (formNode?.config?.form as RJSFSchema | undefined) ?? { type: 'object' };
  const prompt = formNode?.config?.prompt as string | undefined;
  const shown = selectedNode ? steps.filter((s) => s.node_id === selectedNode) : steps;
  const live = LIVE.has(execution.status);

  return (
    <Stack gap="xs" h="100%" p="sm" data-testid="run-details">
      <Group justify="space-between">
        <Group gap="xs">
          <Title order={5}>Run</Title>
          <StatusBadge status={execution.status} size="md" />
          <Text size="xs" c="dimmed" className="mono">
            {executionId.slice(0, 8)}
          </Text>
          {live && (
            <Tooltip label={stream === 'live' ? 'Updates arrive as they happen' : 'Reconnecting; the history is read again when it is back'}>
              <Badge size="xs" variant="dot" color={stream === 'live' ? 'green' : 'orange'}>
                {stream}
              </Badge>
            </Tooltip>
          )}
        </Group>
        {canEdit && (
          <Group gap={4}>
            {live && execution.status !== 'paused' && (
              <Button size="xs" variant="default" leftSection={<IconPlayerPause size={14} />} loading={busy === 'pause'} onClick={() => void act('pause', 'pause')}>
                Pause
              </Button>
            )}
            {execution.status === 'paused' && (
              <Button size="xs" variant="default" leftSection={<IconPlayerPlay size={14} />} loading={busy === 'resume'} onClick={() => void act('resume', 'resume')}>
                Resume
              </Button>
            )}
            {live && (
              <Button size="xs" color="red" variant="light" leftSection={<IconPlayerStop size={14} />} loading={busy === 'cancel'} onClick={() => void act('cancel', 'cancel')}>
                Cancel
              </Button>
            )}
            {!live && (
              <Button size="xs" variant="light" leftSection={<IconRepeat size={14} />} loading={busy === 'replay'} onClick={() => void act('replay', 'replay', selectedNode ? { from_node: selectedNode } : {})}>
                {selectedNode ? `Replay from ${selectedNode}` : 'Replay from failure'}
              </Button>
            )}
          </Group>
        )}
      </Group>
      <ProblemAlert error={error} />
      {execution.error_message && (
        <Alert color="red" variant="light" title={execution.error_type ?? 'Failed'} data-testid="run-error">
          <Text size="sm">
            {execution.error_node ? <b>{execution.error_node}: </b> : null}
            {execution.error_message}
          </Text>
        </Alert>
      )}
      {execution.status === 'waiting' && formNode && canEdit && (
        <Alert color="yellow" variant="light" title={prompt ?? `${formNode.id} waits for an answer`} data-testid="human-input">
          <div className="rjsf">
            <Form
              schema={form}
              validator={validator}
              showErrorList={false}
              uiSchema={{ 'ui:submitButtonOptions': { submitText: 'Send answer' } }}
              onSubmit={(event) => void act('answer', 'signal', { type: 'human_input', data: { answer: event.formData ?? {} } })}
            />
          </div>
        </Alert>
      )}
      {live && canEdit && (
        <Group gap={4} align="flex-end">
          <TextInput size="xs" label="Signal" placeholder="name" value={signalName} onChange={(e) => setSignalName(e.currentTarget.value)} w={120} />
          <JsonInput size="xs" label="Data" value={signalData} onChange={setSignalData} style={{ flex: 1 }} minRows={1} validationError="not JSON" />
          <Button
            size="xs"
            variant="default"
            disabled={!signalName}
            onClick={() => {
              let data: unknown;
              try {
                data = JSON.parse(signalData || '{}');
              } catch {
                setError(new Error('the signal data is not JSON; write an object such as {"amount": 12}'));
                return;
              }
              void act('signal', 'signal', { type: 'custom', name: signalName, data });
            }}
          >
            Send
          </Button>
        </Group>
      )}
      <Tabs defaultValue="steps" style={{ flex: 1, display: 'flex', flexDirection: 'column', minHeight: 0 }}>
        <Tabs.List>
          <Tabs.Tab value="steps">Steps {selectedNode ? `of ${selectedNode}` : `(${steps.length})`}</Tabs.Tab>
          <Tabs.Tab value="io">Run input and output</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="steps" style={{ flex: 1, minHeight: 0 }}>
          <ScrollArea h="100%">
            {selectedNode && (
              <Button size="compact-xs" variant="subtle" onClick={() => onSelectNode(null)} my={4}>
                Show every step
              </Button>
            )}
            {shown.length === 0 && (
              <Text size="xs" c="dimmed" p="xs">
                {selectedNode ? `${selectedNode} has not run in this execution.` : 'No step has run yet.'}
              </Text>
            )}
            {selectedNode ? (
              <Stack gap="sm" mt="xs">
                {shown.map((step) => (
                  <Stack key={step.id} gap={4} data-testid="step-detail">
                    <Group gap="xs">
                      <StatusBadge status={step.status} />
                      <Text size="sm" fw={600}>
                        attempt {step.attempt}
                        {step.iteration !== '0' ? ` · run ${step.iteration}` : ''}
                      </Text>
                      <Text size="xs" c="dimmed">
                        {duration(step.duration_ms)} {step.worker ? `· ${step.worker}` : ''} {step.replayed_from ? '· reused from the replayed run' : ''}
                      </Text>
                    </Group>
                    {step.error_message && (
                      <Text size="xs" c="red">
                        {step.error_type}: {step.error_message}
                      </Text>
                    )}
                    <Text size="xs" fw={600}>
                      Input
                    </Text>
                    <Preview executionId={executionId} value={step.input} />
                    <Text size="xs" fw={600}>
                      Output
                    </Text>
                    <Preview executionId={executionId} value={step.output} />
                  </Stack>
                ))}
              </Stack>
            ) : (
              <table className="step-table">
                <tbody>
                  {shown.map((step) => (
                    <StepRow key={step.id} step={step} onSelect={onSelectNode} />
                  ))}
                </tbody>
              </table>
            )}
          </ScrollArea>
        </Tabs.Panel>
        <Tabs.Panel value="io">
          <ScrollArea h="100%">
            <Text size="xs" fw={600} mt="xs">
              Input
            </Text>
            <Preview executionId={executionId} value={execution.input ?? undefined} />
            <Text size="xs" fw={600} mt="xs">
              Output
            </Text>
            <Preview executionId={executionId} value={execution.output ?? undefined} />
          </ScrollArea>
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}
