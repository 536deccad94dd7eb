import { ActionIcon, Anchor, Button, FileButton, Group, Menu, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { modals } from '@mantine/modals';
import { notifications } from '@mantine/notifications';
import { IconCopy, IconDots, IconDownload, IconPlus, IconSearch, IconTrash, IconUpload } from '@tabler/icons-react';
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useState } from 'react';
import { Link, useLocation } from 'wouter';
import { request } from '../api/client';
import { keys, useWorkflows } from '../api/hooks';
import type { WorkflowDetail, WorkflowSaved, WorkflowSummary } from '../api/types';
import { useCan } from '../auth/context';
import { ProblemAlert, problemText } from '../ui/Problem';
import { StatusBadge, ago } from '../ui/Status';
import { download, parseWorkflow, serialise } from './transfer';

export function WorkflowList() {
  const list = useWorkflows();
  const canEdit = useCan('editor');
  const [query, setQuery] = useState('');
  const [, navigate] = useLocation();
  const client = useQueryClient();
  const [error, setError] = useState<unknown>(null);

  // Most visits go on to a workflow: fetch the builder's code while the list is read, and a
  // workflow's graph as soon as the pointer reaches its link.
  useEffect(() => {
    const timer = setTimeout(() => void import('../builder/Builder'), 300);
    return () => clearTimeout(timer);
  }, []);
  const prefetch = (id: string) => void client.prefetchQuery({ queryKey: keys.workflow(id), queryFn: () => request<WorkflowDetail>(`/workflows/${id}`) });

  const rows = useMemo(() => {
    const all = list.data?.pages.flatMap((p) => p.items) ?? [];
    const needle = query.trim().toLowerCase();
    return needle ? all.filter((w) => w.name.toLowerCase().includes(needle) || (w.description ?? '').toLowerCase().includes(needle)) : all;
  }, [list.data, query]);

  const refresh = () => client.invalidateQueries({ queryKey: keys.workflows });

  const importFile = async (file: File | null) => {
    if (!file) return;
    setError(null);
    try {
      const workflow = parseWorkflow(await file.text(), file.name);
      const saved = await request<WorkflowSaved>('/workflows', { body: workflow });
      notifications.show({ color: 'green', message: `Imported ${saved.name} as version ${saved.version}` });
      void refresh();
      navigate(`/workflows/${saved.id}`);
    } catch (caught) {
      setError(caught);
    }
  };

  const exportOne = async (row: WorkflowSummary, format: 'json' | 'yaml') => {
    const detail = await request<WorkflowDetail>(`/workflows/${row.id}`);
    download(`${row.name}.${format === 'json' ? 'json' : 'yaml'}`, serialise(detail.workflow, format));
  };

  const duplicate = async (row: WorkflowSummary) => {
    const detail = await request<WorkflowDetail>(`/workflows/${row.id}`);
    const taken = new Set((list.data?.pages.flatMap((p) => p.items) ?? []).map((w) => w.name));
    let name = `${row.name} copy`;
    for (let n = 2; taken.has(name); n += 1) name = `${row.name} copy ${n}`;
    try {
      const saved = await request<WorkflowSaved>('/workflows', { body: { ...detail.workflow, name } });
      void refresh();
      notifications.show({ color: 'green', message: `Duplicated as ${saved.name}` });
    } catch (caught) {
      setError(caught);
    }
  };

  const remove = (row: WorkflowSummary) =>
    modals.openConfirmModal({
      title: `Delete ${row.name}?`,
      children: <Text size="sm">Its versions, schedules and finished runs go with it. This cannot be undone.</Text>,
      labels: { confirm: 'Delete', cancel: 'Keep it' },
      confirmProps: { color: 'red' },
      onConfirm: async () => {
        try {
          await request(`/workflows/${row.id}`, { method: 'DELETE' });
          void refresh();
        } catch (caught) {
          notifications.show({ color: 'red', title: `Could not delete ${row.name}`, message: problemText(caught) });
        }
      },
    });

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={3}>Workflows</Title>
        <Group>
          <TextInput placeholder="Search workflows" leftSection={<IconSearch size={16} />} value={query} onChange={(e) => setQuery(e.currentTarget.value)} aria-label="search workflows" />
          {canEdit && (
            <>
              <FileButton onChange={(file) => void importFile(file)} accept=".json,.yaml,.yml,application/json,application/yaml">
                {(props) => (
                  <Button variant="default" leftSection={<IconUpload size={16} />} {...props}>
                    Import
                  </Button>
                )}
              </FileButton>
              <Button leftSection={<IconPlus size={16} />} component={Link} href="/workflows/new">
                New workflow
              </Button>
            </>
          )}
        </Group>
      </Group>
      <ProblemAlert error={error ?? list.error} />
      <Table highlightOnHover verticalSpacing="sm" bg="white" withTableBorder>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Version</Table.Th>
            <Table.Th>Last run</Table.Th>
            <Table.Th>Updated</Table.Th>
            <Table.Th w={40} />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((row) => (
            <Table.Tr key={row.id} data-testid={`workflow-${row.name}`}>
              <Table.Td>
                <Anchor component={Link} href={`/workflows/${row.id}`} fw={600} onMouseEnter={() => prefetch(row.id)} onFocus={() => prefetch(row.id)}>
                  {row.name}
                </Anchor>
                {row.description && (
                  <Text size="xs" c="dimmed" lineClamp={1}>
                    {row.description.replace(/<!--[\s\S]*?-->/g, '')}
                  </Text>
                )}
              </Table.Td>
              <Table.Td>v{row.version}</Table.Td>
              <Table.Td>
                {row.last_run ? (
                  <Group gap={6}>
                    <Anchor component={Link} href={`/executions/${row.last_run.execution_id}`}>
                      <StatusBadge status={row.last_run.status} />
                    </Anchor>
                    <Text size="xs" c="dimmed">
                      {ago(row.last_run.started_at)}
                    </Text>
                  </Group>
                ) : (
                  <Text size="xs" c="dimmed">
                    never run
                  </Text>
                )}
              </Table.Td>
              <Table.Td>
                <Text size="sm">{ago(row.updated_at)}</Text>
              </Table.Td>
              <Table.Td>
                <Menu position="bottom-end">
                  <Menu.Target>
                    <ActionIcon variant="subtle" aria-label={`actions for ${row.name}`}>
                      <IconDots size={16} />
                    </ActionIcon>
                  </Menu.Target>
                  <Menu.Dropdown>
                    <Menu.Item leftSection={<IconDownload size={14} />} onClick={() => void exportOne(row, 'json')}>
                      Export JSON
                    </Menu.Item>
                    <Menu.Item leftSection={<IconDownload size={14} />} onClick={() => void exportOne(row, 'yaml')}>
                      Export YAML
                    </Menu.Item>
                    {canEdit && (
                      <>
                        <Menu.Item leftSection={<IconCopy size={14} />} onClick={() => void duplicate(row)}>
                          Duplicate
                        </Menu.Item>
                        <Menu.Item color="red" leftSection={<IconTrash size={14} />} onClick={() => remove(row)}>
                          Delete
                        </Menu.Item>
                      </>
                    )}
                  </Menu.Dropdown>
                </Menu>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {!list.isPending && rows.length === 0 && (
        <Text c="dimmed" ta="center" py="xl">
          {query ? 'No workflow matches.' : 'No workflows yet. Create one, or import a JSON or YAML file.'}
        </Text>
      )}
      {list.hasNextPage && (
        <Button variant="subtle" onClick={() => void list.fetchNextPage()} loading={list.isFetchingNextPage}>
          Load more
        </Button>
      )}
    </Stack>
  );
}
