import { Avatar, Badge, Button, Card, Group, Modal, PasswordInput, SimpleGrid, Stack, Text, TextInput, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { request } from '../api/client';
import { keys, useConnectors, useCredentials } from '../api/hooks';
import type { Connector } from '../api/types';
import { useCan } from '../auth/context';
import { ProblemAlert } from '../ui/Problem';
import { ConnectorDocs } from './ConnectorDocs';

export default function Connectors() {
  const connectors = useConnectors();
  const canEdit = useCan('editor');
  const isOwner = useCan('owner');
  const credentials = useCredentials(canEdit);
  const client = useQueryClient();
  const [error, setError] = useState<unknown>(null);
  const [clientFor, setClientFor] = useState<Connector | null>(null);
  const [clientId, setClientId] = useState('');
  const [clientSecret, setClientSecret] = useState('');
  const [keyFor, setKeyFor] = useState<Connector | null>(null);
  const [docsFor, setDocsFor] = useState<string | null>(null);
  const [apiKey, setApiKey] = useState('');
  const connected = new Set((credentials.data ?? []).map((c) => c.name));

  const connect = async (connector: Connector) => {
    setError(null);
    // Open the window first, in the click's own turn, so the browser does not block it.
    const popup = window.open('about:blank', 'synthral-oauth', 'width=560,height=720');
    try {
      const started = await request<{ authorization_url: string }>(`/connectors/${connector.slug}/authorize`, { method: 'POST' });
      if (popup) popup.location.href = started.authorization_url;
      else window.location.href = started.authorization_url;
      const timer = setInterval(() => {
        if (!popup || popup.closed) {
          clearInterval(timer);
          void client.invalidateQueries({ queryKey: keys.credentials });
        }
      }, 500);
    } catch (caught) {
      popup?.close();
      setError(caught);
    }
  };

  const saveClient = async () => {
    if (!clientFor) return;
    try {
      await request(`/connectors/${clientFor.slug}/client`, { method: 'PUT', body: { client_id: clientId, client_secret: clientSecret || null } });
      notifications.show({ color: 'green', message: `OAuth client saved for ${clientFor.slug}` });
      setClientFor(null);
    } catch (caught) {
      setError(caught);
    }
  };

  const saveKey = async () => {
    if (!keyFor) return;
    try {
      await request(`/credentials/${encodeURIComponent(keyFor.slug)}`, { method: 'PUT', body: { value: { api_key: apiKey }, kind: 'api_key', meta: { connector: keyFor.slug } } });
      void client.invalidateQueries({ queryKey: keys.credentials });
      setKeyFor(null);
      setApiKey('');
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <Stack>
      <Title order={3}>Connectors</Title>
      <ProblemAlert error={error ?? connectors.error} />
      {connectors.data?.length === 0 && (
        <Text c="dimmed">No connector plugin is installed. Install one on the Plugins page (owners).</Text>
      )}
      <SimpleGrid cols={{ base: 1, md: 2, lg: 3 }}>
        {connectors.data?.map((c) => (
          <Card key={c.slug} withBorder data-testid={`connector-${c.slug}`}>
            <Group>
              <Avatar src={c.logo.startsWith('data:image/') || c.logo.startsWith('/') ? c.logo : undefined} radius="sm">
                {c.slug.slice(0, 2).toUpperCase()}
              </Avatar>
              <div style={{ flex: 1 }}>
                <Text fw={600}>{c.slug}</Text>
                <Text size="xs" c="dimmed">
                  {c.plugin} {c.version} · {c.auth_type}
                </Text>
              </div>
              {connected.has(c.slug) && <Badge color="green">connected</Badge>}
            </Group>
            <Text size="sm" mt="xs" lineClamp={2}>
              {c.description}
            </Text>
            {c.scopes.length > 0 && (
              <Group gap={4} mt="xs">
                {c.scopes.map((s) => (
                  <Badge key={s} size="xs" variant="outline">
                    {s}
                  </Badge>
                ))}
              </Group>
            )}
            <Text size="xs" c="dimmed" mt="xs">
              Actions: {c.actions.join(', ') || '—'}
            </Text>
            <Group mt="sm" gap="xs">
              {canEdit && c.auth_type === 'oauth2' && (
                <Button size="xs" onClick={() => void connect(c)}>
                  {connected.has(c.slug) ? 'Reconnect' : 'Connect'}
                </Button>
              )}
              {canEdit && c.auth_type !== 'oauth2' && c.auth_type !== 'none' && (
                <Button size="xs" onClick={() => setKeyFor(c)}>
                  {connected.has(c.slug) ? 'Replace the key' : 'Add the key'}
                </Button>
              )}
              <Button size="xs" variant="subtle" onClick={() => setDocsFor(c.slug)}>
                Docs
              </Button>
              {isOwner && c.auth_type === 'oauth2' && (
                <Button size="xs" variant="default" onClick={() => setClientFor(c)}>
                  OAuth client
                </Button>
              )}
            </Group>
          </Card>
        ))}
      </SimpleGrid>
      <ConnectorDocs slug={docsFor} onClose={() => setDocsFor(null)} />
      <Modal opened={clientFor !== null} onClose={() => setClientFor(null)} title={`OAuth client for ${clientFor?.slug}`}>
        <Stack>
          <TextInput label="Client id" value={clientId} onChange={(e) => setClientId(e.currentTarget.value)} />
          <PasswordInput label="Client secret" value={clientSecret} onChange={(e) => setClientSecret(e.currentTarget.value)} description="Stored encrypted; never shown again." />
          <Button onClick={() => void saveClient()} disabled={!clientId}>
            Save
          </Button>
        </Stack>
      </Modal>
      <Modal opened={keyFor !== null} onClose={() => setKeyFor(null)} title={`API key for ${keyFor?.slug}`}>
        <Stack>
          <PasswordInput label="API key" value={apiKey} onChange={(e) => setApiKey(e.currentTarget.value)} description="Write-only: it is encrypted and never shown again." />
          <Button onClick={() => void saveKey()} disabled={!apiKey}>
            Save
          </Button>
        </Stack>
      </Modal>
    </Stack>
  );
}
