import { Button, Card, Group, Select, Stack, Table, Text, TextInput, Textarea, Title } from '@mantine/core';
import { modals } from '@mantine/modals';
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { request } from '../api/client';
import { keys, useCredentials } from '../api/hooks';
import { ProblemAlert } from '../ui/Problem';
import { ago } from '../ui/Status';

export default function Credentials() {
  const credentials = useCredentials();
  const client = useQueryClient();
  const [name, setName] = useState('');
  const [kind, setKind] = useState('secret');
  const [value, setValue] = useState('');
  const [error, setError] = useState<unknown>(null);

  const save = async () => {
    setError(null);
    let parsed: unknown = value;
    if (value.trim().startsWith('{')) {
      try {
        parsed = JSON.parse(value);
      } catch {
        setError(new Error('the value starts with { but is not a JSON object; fix it, or write a plain secret'));
        return;
      }
    }
    try {
      await request(`/credentials/${encodeURIComponent(name)}`, { method: 'PUT', body: { value: parsed, kind } });
      setName('');
      setValue('');
      void client.invalidateQueries({ queryKey: keys.credentials });
    } catch (caught) {
      setError(caught);
    }
  };

  const remove = (credential: string) =>
    modals.openConfirmModal({
      title: `Delete ${credential}?`,
      children: <Text size="sm">Steps granted it will fail until a credential of that name exists again.</Text>,
      labels: { confirm: 'Delete', cancel: 'Keep it' },
      confirmProps: { color: 'red' },
      onConfirm: async () => {
        try {
          await request(`/credentials/${encodeURIComponent(credential)}`, { method: 'DELETE' });
          void client.invalidateQueries({ queryKey: keys.credentials });
        } catch (caught) {
          setError(caught);
        }
      },
    });

  return (
    <Stack maw={980}>
      <Title order={3}>Credentials</Title>
      <Text size="sm" c="dimmed">
        Values are write-only: encrypted at rest, handed only to the steps granted them, never shown again.
      </Text>
      <Card withBorder>
        <Group align="flex-end">
          <TextInput label="Name" placeholder="api_token" value={name} onChange={(e) => setName(e.currentTarget.value)} w={200} />
          <Select label="Kind" data={['secret', 'api_key', 'basic']} value={kind} onChange={(v) => setKind(v ?? 'secret')} w={120} allowDeselect={false} />
          <Textarea label="Value" placeholder='a secret, or {"user": "…", "password": "…"}' value={value} onChange={(e) => setValue(e.currentTarget.value)} autosize minRows={1} style={{ flex: 1 }} autoComplete="off" />
          <Button onClick={() => void save()} disabled={!name || !value}>
            Save
          </Button>
        </Group>
      </Card>
      <ProblemAlert error={error ?? credentials.error} />
      <Table bg="white" withTableBorder>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Kind</Table.Th>
            <Table.Th>Value</Table.Th>
            <Table.Th>Updated</Table.Th>
            <Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {credentials.data?.map((c) => (
            <Table.Tr key={c.id} data-testid={`credential-${c.name}`}>
              <Table.Td className="mono">{c.name}</Table.Td>
              <Table.Td>{c.kind}</Table.Td>
              <Table.Td className="mono">{c.masked}</Table.Td>
              <Table.Td>{ago(c.updated_at)}</Table.Td>
              <Table.Td>
                <Button size="compact-xs" variant="subtle" color="red" onClick={() => remove(c.name)}>
                  Delete
                </Button>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}
