// The workflow the copilot proposes, on a mini canvas with what changed, and Accept / Reject.
// In the chat page Accept saves it (the server does, on the user's request). In the builder
// Accept hands it to `onApply`, which puts it on the canvas; nothing is saved until the
// user saves there, and the server records the proposal as applied.
import { Anchor, Badge, Button, Card, Group, Stack, Text } from '@mantine/core';
import { useState } from 'react';
import { MiniCanvas } from './MiniCanvas';
import { pendingActions, type ChatView, type JsonObject } from './model';
import type { Decision } from './useCopilot';

/** Puts a proposal on the open canvas: null when done, else why not (shown on the card). */
export type ApplyProposal = (proposal: JsonObject) => string | null;

interface Problem {
  node_id?: string | null;
  message?: string;
}

export interface ProposalProps {
  view: ChatView;
  decide: (decision: Decision) => void;
  busy: boolean;
  onApply?: ApplyProposal;
}

export function Proposal({ view, decide, busy, onApply }: ProposalProps) {
  const [refusal, setRefusal] = useState<string | null>(null);
  const proposal = view.state.proposal as JsonObject | undefined;
  if (!proposal) return null;
  const actionId = String(proposal.action_id);
  const pending = pendingActions(view).some((action) => action.id === proposal.action_id);
  const saved = proposal.saved as { workflow_id?: string; name?: string; version?: number } | undefined;
  const workflow = proposal.workflow as JsonObject | null;
  const problems = (proposal.problems ?? []) as Problem[];
  const accept = () => {
    if (!onApply) return decide({ actionId, decision: 'confirm' });
    const why = onApply(proposal);
    setRefusal(why);
    if (why === null) decide({ actionId, decision: 'apply' });
  };
  return (
    <Card withBorder padding="sm" data-testid="proposal">
      <Group justify="space-between" mb="xs">
        <Text fw={600} size="sm">
          {proposal.valid ? `Proposed: ${String(workflow?.name ?? '')}` : 'Draft with problems'}
        </Text>
        {saved ? (
          <Anchor href={`/workflows/${saved.workflow_id}`} size="sm">
            Saved as v{saved.version}
          </Anchor>
        ) : proposal.applied ? (
          <Badge color="green" variant="light" data-testid="proposal-applied">
            on the canvas, unsaved
          </Badge>
        ) : proposal.read_only ? (
          <Badge color="gray">view only</Badge>
        ) : null}
      </Group>
      {workflow && <MiniCanvas workflow={workflow} changes={proposal.changes as never} />}
      {problems.length > 0 && (
        <Stack gap={2} mt="xs">
          {problems.map((p, i) => (
            <Text key={i} size="xs" c="red">
              {p.node_id ? `${p.node_id}: ` : ''}
              {p.message}
            </Text>
          ))}
        </Stack>
      )}
      {pending && (
        <>
          {onApply && (
            <Text size="xs" c="dimmed" mt="xs">
              Accept puts it on the canvas; it is saved when you save.
            </Text>
          )}
          <Group mt="sm">
            <Button size="xs" disabled={busy} onClick={accept}>
              Accept
            </Button>
            <Button size="xs" variant="default" disabled={busy} onClick={() => decide({ actionId, decision: 'reject' })}>
              Reject
            </Button>
          </Group>
        </>
      )}
      {refusal && (
        <Text size="xs" c="red" mt="xs" data-testid="proposal-refused">
          {refusal}
        </Text>
      )}
    </Card>
  );
}
