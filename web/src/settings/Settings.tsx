import { Alert, Badge, Button, Card, Code, CopyButton, Group, PinInput, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { request } from '../api/client';
import { keys, useAccount, useApiKeys, useMembers } from '../api/hooks';
import type { ApiKey, Role } from '../api/types';
import { useCan, useWho } from '../auth/context';
import { ProblemAlert } from '../ui/Problem';
import { ago } from '../ui/Status';

function Members() {
  const members = useMembers();
  const isOwner = useCan('owner');
  const client = useQueryClient();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('editor');
  const [error, setError] = useState<unknown>(null);
  const change = async (address: string, newRole: Role) => {
    setError(null);
    try {
      await request('/workspace/members', { method: 'PUT', body: { email: address, role: newRole } });
      void client.invalidateQueries({ queryKey: keys.members });
    } catch (caught) {
      setError(caught);
    }
  };
  const remove = async (userId: string) => {
    setError(null);
    try {
      await request(`/workspace/members/${userId}`, { method: 'DELETE' });
      void client.invalidateQueries({ queryKey: keys.members });
    } catch (caught) {
      setError(caught);
    }
  };
  return (
    <Card withBorder>
      <Title order={5} mb="xs">
        Members
      </Title>
      <ProblemAlert error={error ?? members.error} />
      <Table>
        <Table.Tbody>
          {members.data?.map((m) => (
            <Table.Tr key={m.user_id} data-testid={`member-${m.email}`}>
              <Table.Td>{m.email}</Table.Td>
              <Table.Td>{m.totp_enabled && <Badge size="xs">2FA</Badge>}</Table.Td>
              <Table.Td w={160}>
                {isOwner ? (
                  <Select size="xs" data={['owner', 'editor', 'viewer']} value={m.role} onChange={(v) => v && void change(m.email, v as Role)} allowDeselect={false} aria-label={`role of ${m.email}`} />
                ) : (
                  m.role
                )}
              </Table.Td>
              <Table.Td w={90}>
                {isOwner && (
                  <Button size="compact-xs" variant="subtle" color="red" onClick={() => void remove(m.user_id)}>
                    Remove
                  </Button>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {isOwner && (
        <Group mt="sm" align="flex-end">
          <TextInput size="xs" label="Add a member by email" placeholder="grace@example.com" value={email} onChange={(e) => setEmail(e.currentTarget.value)} w={260} />
          <Select size="xs" data={['owner', 'editor', 'viewer']} value={role} onChange={(v) => setRole((v as Role) ?? 'editor')} w={110} allowDeselect={false} />
          <Button size="xs" disabled={!email} onClick={() => void change(email, role).then(() => setEmail(''))}>
            Add
          </Button>
        </Group>
      )}
    </Card>
  );
}

function ApiKeys() {
  const apiKeys = useApiKeys();
  const client = useQueryClient();
  const [name, setName] = useState('');
  const [created, setCreated] = useState<ApiKey | null>(null);
  const [error, setError] = useState<unknown>(null);
  const create = async () => {
    setError(null);
    try {
      setCreated(await request<ApiKey>('/auth/api-keys', { body: { name } }));
      setName('');
      void client.invalidateQueries({ queryKey: keys.apiKeys });
    } catch (caught) {
      setError(caught);
    }
  };
  const revoke = async (id: string) => {
    try {
      await request(`/auth/api-keys/${id}`, { method: 'DELETE' });
      void client.invalidateQueries({ queryKey: keys.apiKeys });
    } catch (caught) {
      setError(caught);
    }
  };
  return (
    <Card withBorder>
      <Title order={5} mb="xs">
        API keys
      </Title>
      <Text size="xs" c="dimmed" mb="xs">
        A key acts as you, with your role, in this workspace. Scripts send it as <Code>Authorization: Bearer syn_…</Code>.
      </Text>
      <ProblemAlert error={error ?? apiKeys.error} />
      {created?.key && (
        <Alert color="green" title="The new key, shown this once" mb="xs" data-testid="new-api-key">
          <Group gap="xs">
            <Code>{created.key}</Code>
            <CopyButton value={created.key}>{({ copied, copy }) => <Button size="compact-xs" variant="default" onClick={copy}>{copied ? 'Copied' : 'Copy'}</Button>}</CopyButton>
          </Group>
        </Alert>
      )}
      <Table>
        <Table.Tbody>
          {apiKeys.data?.map((k) => (
            <Table.Tr key={k.id}>
              <Table.Td>{k.name}</Table.Td>
              <Table.Td className="mono">{k.prefix}…</Table.Td>
              <Table.Td>used {ago(k.last_used_at)}</Table.Td>
              <Table.Td>{k.revoked_at ? <Badge color="gray">revoked</Badge> : <Button size="compact-xs" variant="subtle" color="red" onClick={() => void revoke(k.id)}>Revoke</Button>}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <Group mt="sm" align="flex-end">
        <TextInput size="xs" label="New key" placeholder="ci" value={name} onChange={(e) => setName(e.currentTarget.value)} />
        <Button size="xs" disabled={!name} onClick={() => void create()}>
          Create
        </Button>
      </Group>
    </Card>
  );
}

function TwoFactor() {
  const account = useAccount();
  const client = useQueryClient();
  const [uri, setUri] = useState<string | null>(null);
  const [code, setCode] = useState('');
  const [error, setError] = useState<unknown>(null);
  const enabled = account.data?.totp_enabled;
  const begin = async () => {
    setError(null);
    try {
      setUri((await request<{ otpauth_uri: string }>('/auth/totp', { method: 'POST' })).otpauth_uri);
    } catch (caught) {
      setError(caught);
    }
  };
  const finish = async (path: 'confirm' | 'disable') => {
    setError(null);
    try {
      await request(`/auth/totp/${path}`, { body: { code } });
      setUri(null);
      setCode('');
      void client.invalidateQueries({ queryKey: keys.account });
    } catch (caught) {
      setError(caught);
    }
  };
  const secret = uri ? new URL(uri).searchParams.get('secret') : null;
  return (
    <Card withBorder>
      <Title order={5} mb="xs">
        Two-factor sign-in {enabled ? <Badge color="green">on</Badge> : <Badge color="gray">off</Badge>}
      </Title>
      <ProblemAlert error={error} />
      {!enabled && !uri && (
        <Button size="xs" onClick={() => void begin()}>
          Set up an authenticator app
        </Button>
      )}
      {uri && (
        <Stack gap="xs">
          <Text size="sm">Add this key to your authenticator app (or open the link on your phone), then type the code it shows.</Text>
          <Code data-testid="totp-secret">{secret}</Code>
          <Code block style={{ wordBreak: 'break-all' }}>
            {uri}
          </Code>
        </Stack>
      )}
      {(uri || enabled) && (
        <Group mt="xs" align="flex-end">
          <PinInput length={6} type="number" value={code} onChange={setCode} oneTimeCode aria-label="authenticator code" />
          <Button size="xs" disabled={code.length !== 6} onClick={() => void finish(enabled ? 'disable' : 'confirm')} color={enabled ? 'red' : undefined}>
            {enabled ? 'Turn off' : 'Turn on'}
          </Button>
        </Group>
      )}
    </Card>
  );
}

export default function Settings() {
  const who = useWho();
  return (
    <Stack maw={980}>
      <Title order={3}>Members and keys</Title>
      <Members />
      {!who.local && <ApiKeys />}
      {!who.local && <TwoFactor />}
    </Stack>
  );
}
