import { Alert, Button, Group, ScrollArea, Select, Stack, Table, Text } from '@mantine/core';
import { useState } from 'react';
import { request } from '../api/client';
import { useVersions } from '../api/hooks';
import type { WorkflowDetail } from '../api/types';
import { ProblemAlert } from '../ui/Problem';
import { ago } from '../ui/Status';
import { toCanvas, type CanvasNode } from './convert';
import { diffWorkflows, type WorkflowDiff } from './diff';
import { useCanvas, type DiffMark } from './store';

export interface Comparison {
  older: number;
  newer: number;
  diff: WorkflowDiff;
}

interface Props {
  workflowId: string;
  current: number;
  comparison: Comparison | null;
  onCompare: (comparison: Comparison | null) => void;
  onOpen: (version: number) => void;
  onRestoreCurrent: () => void;
}

export function VersionsPanel({ workflowId, current, comparison, onCompare, onOpen, onRestoreCurrent }: Props) {
  const versions = useVersions(workflowId);
  const list = versions.data ?? [];
  const [older, setOlder] = useState<string | null>(null);
  const [newer, setNewer] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const compare = async () => {
    if (!older || !newer) return;
    setError(null);
    try {
      const [a, b] = [Number(older), Number(newer)].sort((x, y) => x - y);
      const [left, right] = await Promise.all([
        request<WorkflowDetail>(`/workflows/${workflowId}?version=${a}`),
        request<WorkflowDetail>(`/workflows/${workflowId}?version=${b}`),
      ]);
      const diff = diffWorkflows(left.workflow, right.workflow);
      const canvas = useCanvas.getState();
      canvas.load(right.workflow, { readOnly: true });
      const marks: Record<string, DiffMark> = {};
      for (const id of diff.added) marks[id] = 'added';
      for (const id of Object.keys(diff.changed)) marks[id] = 'changed';
      for (const id of diff.removed) marks[id] = 'removed';
      // Removed nodes are drawn where they were, faded, so the change reads on the canvas.
      const present = toCanvas(right.workflow).nodes;
      const ghosts = toCanvas(left.workflow)
        .nodes.filter((n) => diff.removed.includes(n.id))
        .map((n) => {
          // A removed node drawn over a node that took its place is moved just below it.
          const clash = present.some((p) => Math.abs(p.position.x - n.position.x) < 180 && Math.abs(p.position.y - n.position.y) < 90);
          const position = clash ? { x: n.position.x, y: n.position.y + 110 } : n.position;
          return { ...n, position, draggable: false, data: { ...n.data, ghost: true } } as CanvasNode;
        });
      canvas.setDiff(marks, ghosts);
      onCompare({ older: a, newer: b, diff });
    } catch (caught) {
      setError(caught);
    }
  };

  const exit = () => {
    useCanvas.getState().setDiff(null);
    onCompare(null);
    onRestoreCurrent();
  };

  const options = list.map((v) => ({ value: String(v.version), label: `v${v.version}` }));

  return (
    <ScrollArea h="100%" p="sm">
      <Stack gap="sm" data-testid="versions">
        <ProblemAlert error={versions.error ?? error} />
        <Group gap="xs" align="flex-end">
          <Select size="xs" label="Compare" data={options} value={older} onChange={setOlder} w={90} aria-label="older version" />
          <Select size="xs" label="with" data={options} value={newer} onChange={setNewer} w={90} aria-label="newer version" />
          <Button size="xs" onClick={() => void compare()} disabled={!older || !newer || older === newer}>
            Show the diff
          </Button>
        </Group>
        {comparison && (
          <Alert color="blue" variant="light" title={`v${comparison.older} → v${comparison.newer}`} data-testid="diff-summary">
            <Text size="xs">
              {comparison.diff.added.length} added · {comparison.diff.removed.length} removed · {Object.keys(comparison.diff.changed).length} changed · edges +
              {comparison.diff.edgesAdded.length} −{comparison.diff.edgesRemoved.length}
            </Text>
            {comparison.diff.added.map((id) => (
              <Text size="xs" key={`a-${id}`} c="green">
                + {id}
              </Text>
            ))}
            {comparison.diff.removed.map((id) => (
              <Text size="xs" key={`r-${id}`} c="red">
                − {id}
              </Text>
            ))}
            {Object.entries(comparison.diff.changed).map(([id, changes]) => (
              <Text size="xs" key={`c-${id}`} c="orange">
                ~ {id}: {changes.map((c) => c.path).join(', ')}
              </Text>
            ))}
            {comparison.diff.settingsChanged.map((c) => (
              <Text size="xs" key={`s-${c.path}`}>
                workflow {c.path} changed
              </Text>
            ))}
            <Text size="xs" c="dimmed" mt={4}>
              Select a changed node to see its field-by-field changes.
            </Text>
            <Button size="compact-xs" mt="xs" variant="default" onClick={exit}>
              Leave the diff
            </Button>
          </Alert>
        )}
        <Table fz="xs" verticalSpacing={4}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Version</Table.Th>
              <Table.Th>Saved</Table.Th>
              <Table.Th>Plugins</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {list.map((v) => (
              <Table.Tr key={v.version} data-testid={`version-${v.version}`}>
                <Table.Td fw={v.version === current ? 700 : 400}>v{v.version}</Table.Td>
                <Table.Td>{ago(v.created_at)}</Table.Td>
                <Table.Td className="mono">
                  {Object.entries(v.plugin_versions)
                    .map(([k, val]) => `${k} ${val}`)
                    .join(', ') || '—'}
                </Table.Td>
                <Table.Td>
                  <Button size="compact-xs" variant="subtle" onClick={() => onOpen(v.version)}>
                    Open
                  </Button>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Stack>
    </ScrollArea>
  );
}
