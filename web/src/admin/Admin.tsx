import { Badge, Button, Card, Checkbox, Group, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'wouter';
import { request } from '../api/client';
import { useExecutions, useHealth, useProcesses } from '../api/hooks';
import { ProblemAlert } from '../ui/Problem';
import { ago } from '../ui/Status';
import Costs from './Costs';

function Stat({ label, value, tone }: { label: string; value: string | number; tone?: string }) {
  return (
    <Card withBorder padding="sm">
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text size="xl" fw={700} c={tone} data-testid={`stat-${label}`}>
        {value}
      </Text>
    </Card>
  );
}

function seconds(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  if (value < 120) return `${Math.round(value)} s`;
  if (value < 7200) return `${Math.round(value / 60)} min`;
  return `${Math.round(value / 3600)} h`;
}

function bytes(value: number | null): string {
  return value === null ? '—' : `${(value / 1048576).toFixed(1)} MB`;
}

export default function Admin() {
  const health = useHealth();
  const processes = useProcesses();
  const failed = useExecutions({ status: 'failed' });
  const client = useQueryClient();
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [error, setError] = useState<unknown>(null);
  const rows = failed.data?.pages.flatMap((p) => p.items) ?? [];
  const queue = health.data?.queue;

  const replay = async () => {
    setError(null);
    try {
      const results = await request<{ execution_id: string; replayed_as: string | null; error: string | null }[]>('/admin/replay', { body: { execution_ids: [...chosen] } });
      const ok = results.filter((r) => r.replayed_as).length;
      const refused = results.filter((r) => r.error);
      notifications.show({ color: refused.length ? 'yellow' : 'green', message: `${ok} replayed${refused.length ? `; ${refused.length} not: ${refused[0].error}` : ''}` });
      setChosen(new Set());
      void client.invalidateQueries({ queryKey: ['executions'] });
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <Stack>
      <Title order={3}>Admin</Title>
      <ProblemAlert error={health.error ?? error} />
      <SimpleGrid cols={{ base: 2, md: 6 }}>
        <Stat label="Workers" value={health.data?.workers.length ?? '—'} />
        <Stat label="Due" value={queue?.due ?? '—'} tone={queue && queue.due > 50 ? 'orange' : undefined} />
        <Stat label="Oldest queued" value={seconds(queue?.oldest_queued_seconds)} />
        <Stat label="Running" value={queue?.running ?? '—'} />
        <Stat label="Waiting" value={queue?.waiting ?? '—'} />
        <Stat label="Failed 24 h" value={queue?.failed_24h ?? '—'} tone={queue?.failed_24h ? 'red' : undefined} />
      </SimpleGrid>
      <Costs />
      <Card withBorder>
        <Title order={5} mb="xs">
          Workers seen in the last ten minutes
        </Title>
        <Table fz="sm">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Worker</Table.Th>
              <Table.Th>Runs held</Table.Th>
              <Table.Th>Steps (10 min)</Table.Th>
              <Table.Th>Last step</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {health.data?.workers.map((w) => (
              <Table.Tr key={w.worker} data-testid="worker">
                <Table.Td className="mono">{w.worker}</Table.Td>
                <Table.Td>{w.runs_held}</Table.Td>
                <Table.Td>{w.steps_10m}</Table.Td>
                <Table.Td>{ago(w.last_seen)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
        {health.data?.workers.length === 0 && <Text size="sm" c="dimmed">No worker has run a step lately.</Text>}
      </Card>
      <Card withBorder>
        <Group justify="space-between" mb="xs">
          <Title order={5}>Failed runs</Title>
          <Button size="xs" disabled={!chosen.size} onClick={() => void replay()} data-testid="bulk-replay">
            Replay {chosen.size || ''} from the failed step
          </Button>
        </Group>
        <Table fz="sm">
          <Table.Tbody>
            {rows.map((e) => (
              <Table.Tr key={e.id}>
                <Table.Td w={30}>
                  <Checkbox
                    aria-label={`choose ${e.id}`}
                    checked={chosen.has(e.id)}
                    onChange={(event) => {
                      const next = new Set(chosen);
                      if (event.currentTarget.checked) next.add(e.id);
                      else next.delete(e.id);
                      setChosen(next);
                    }}
                  />
                </Table.Td>
                <Table.Td className="mono">
                  <Link href={`/executions/${e.id}`}>{e.id.slice(0, 8)}</Link>
                </Table.Td>
                <Table.Td>{ago(e.started_at)}</Table.Td>
                <Table.Td>
                  <Text size="xs" c="red" lineClamp={1}>
                    {e.error_node}: {e.error_message}
                  </Text>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
        {rows.length === 0 && <Text size="sm" c="dimmed">No failed runs.</Text>}
      </Card>
      <Card withBorder>
        <Title order={5} mb="xs">
          Plugin processes
        </Title>
        <ProblemAlert error={processes.error} />
        <Table fz="sm">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Plugin</Table.Th>
              <Table.Th>State</Table.Th>
              <Table.Th>PID</Table.Th>
              <Table.Th>Up</Table.Th>
              <Table.Th>Restarts</Table.Th>
              <Table.Th>Memory</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {processes.data?.map((p) => (
              <Table.Tr key={`${p.name}==${p.version}`} data-testid={`process-${p.name}`}>
                <Table.Td>
                  {p.name} <Text span c="dimmed" size="xs">{p.version}</Text>
                </Table.Td>
                <Table.Td>
                  <Badge size="xs" color={p.state === 'running' ? 'green' : p.enabled ? 'gray' : 'red'} variant="light">
                    {p.enabled ? p.state : 'disabled'}
                  </Badge>
                </Table.Td>
                <Table.Td className="mono">{p.pid ?? '—'}</Table.Td>
                <Table.Td>{seconds(p.uptime_seconds)}</Table.Td>
                <Table.Td>{p.restarts}{p.consecutive_failures ? ` (${p.consecutive_failures} failing)` : ''}</Table.Td>
                <Table.Td>{bytes(p.rss_bytes)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Card>
    </Stack>
  );
}
