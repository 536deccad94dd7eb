import { Anchor, Button, Group, Select, Stack, Table, Text, Title } from '@mantine/core';
import { useMemo } from 'react';
import { Link, useSearchParams } from 'wouter';
import { useExecutions, useWorkflows } from '../api/hooks';
import { ProblemAlert } from '../ui/Problem';
import { StatusBadge, ago, duration } from '../ui/Status';

const STATUSES = ['queued', 'running', 'waiting', 'paused', 'completed', 'failed', 'cancelled'];
const WINDOWS = [
  { value: '', label: 'Any time' },
  { value: '1h', label: 'Last hour' },
  { value: '24h', label: 'Last 24 hours' },
  { value: '7d', label: 'Last 7 days' },
];
const SECONDS: Record<string, number> = { '1h': 3600, '24h': 86400, '7d': 604800 };

export function ExecutionList() {
  const [params, setParams] = useSearchParams();
  const status = params.get('status') ?? '';
  const workflow = params.get('workflow') ?? '';
  const since = params.get('since') ?? '';
  const workflows = useWorkflows();
  const list = useExecutions({ status: status || undefined, workflow: workflow || undefined });
  const names = useMemo(
    () => new Map((workflows.data?.pages.flatMap((p) => p.items) ?? []).map((w) => [w.id, w.name])),
    [workflows.data],
  );
  const set = (key: string, value: string | null) =>
    setParams((current) => {
      const next = new URLSearchParams(current);
      if (value) next.set(key, value);
      else next.delete(key);
      return next;
    });

  const all = list.data?.pages.flatMap((p) => p.items) ?? [];
  // The time window is applied to the pages loaded so far; runs are newest first, so a page
  // past the window ends the list.
  const cutoff = since ? Date.now() - SECONDS[since] * 1000 : 0;
  const rows = cutoff ? all.filter((e) => new Date(e.started_at).getTime() >= cutoff) : all;
  const pastWindow = cutoff > 0 && all.length > 0 && new Date(all[all.length - 1].started_at).getTime() < cutoff;

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={3}>Executions</Title>
        <Group>
          <Select placeholder="Any status" aria-label="status filter" clearable data={STATUSES} value={status || null} onChange={(v) => set('status', v)} w={150} />
          <Select
            placeholder="Any workflow"
            aria-label="workflow filter"
            clearable
            searchable
            data={[...names].map(([value, label]) => ({ value, label }))}
            value={workflow || null}
            onChange={(v) => set('workflow', v)}
            w={200}
          />
          <Select aria-label="time filter" data={WINDOWS} value={since} onChange={(v) => set('since', v)} w={150} allowDeselect={false} />
        </Group>
      </Group>
      <ProblemAlert error={list.error} />
      <Table highlightOnHover bg="white" withTableBorder verticalSpacing="xs">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Status</Table.Th>
            <Table.Th>Workflow</Table.Th>
            <Table.Th>Started</Table.Th>
            <Table.Th>Took</Table.Th>
            <Table.Th>Trigger</Table.Th>
            <Table.Th>Run</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((row) => (
            <Table.Tr key={row.id} data-testid="execution-row">
              <Table.Td>
                <StatusBadge status={row.status} />
              </Table.Td>
              <Table.Td>
                {names.get(row.workflow_id) ?? row.workflow_id.slice(0, 8)} <Text span c="dimmed" size="xs">v{row.workflow_version}</Text>
              </Table.Td>
              <Table.Td>{ago(row.started_at)}</Table.Td>
              <Table.Td>{row.completed_at ? duration(new Date(row.completed_at).getTime() - new Date(row.started_at).getTime()) : '—'}</Table.Td>
              <Table.Td>{row.trigger}</Table.Td>
              <Table.Td>
                <Anchor component={Link} href={`/executions/${row.id}`} className="mono">
                  {row.id.slice(0, 8)}
                </Anchor>
                {row.error_message && (
                  <Text size="xs" c="red" lineClamp={1} maw={420}>
                    {row.error_node ? `${row.error_node}: ` : ''}
                    {row.error_message}
                  </Text>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {!list.isPending && rows.length === 0 && (
        <Text c="dimmed" ta="center" py="xl">
          No executions match.
        </Text>
      )}
      {list.hasNextPage && !pastWindow && (
        <Button variant="subtle" onClick={() => void list.fetchNextPage()} loading={list.isFetchingNextPage}>
          Older runs
        </Button>
      )}
    </Stack>
  );
}
