import { Alert, Anchor, Button, Card, Code, CopyButton, Group, Stack, Table, Text, Title } from '@mantine/core';
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'wouter';
import { request } from '../api/client';
import { keys, useSchedules, useWebhook, useWorkflow } from '../api/hooks';
import type { Subscription } from '../api/types';
import { useCan } from '../auth/context';
import { ProblemAlert } from '../ui/Problem';
import { ago } from '../ui/Status';

function curlExample(url: string, scheme: string | null): string {
  const body = `'{"hello": "world"}'`;
  if (scheme && !scheme.startsWith('standard')) {
    return `curl -sS -X POST '${url}' -H 'content-type: application/json' -d ${body}   # signed with the ${scheme} scheme`;
  }
  return [
    `id=msg_$(date +%s); ts=$(date +%s); body=${body}`,
    `key=$(printf '%s' "\${SECRET#whsec_}" | base64 -d | od -An -tx1 | tr -d ' \\n')`,
    `sig=$(printf '%s' "$id.$ts.$body" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | base64)`,
    `curl -sS -X POST '${url}' -H 'content-type: application/json' \\`,
    `  -H "webhook-id: $id" -H "webhook-timestamp: $ts" -H "webhook-signature: v1,$sig" -d "$body"`,
  ].join('\n');
}

export default function Triggers({ id }: { id: string }) {
  const workflow = useWorkflow(id);
  const schedules = useSchedules(id);
  const webhook = useWebhook(id);
  const canEdit = useCan('editor');
  const client = useQueryClient();
  const [secret, setSecret] = useState<Subscription | null>(null);
  const [error, setError] = useState<unknown>(null);

  const rotate = async () => {
    setError(null);
    try {
      setSecret(await request<Subscription>(`/workflows/${id}/webhook`, { method: 'POST' }));
      void client.invalidateQueries({ queryKey: keys.webhook(id) });
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <Stack maw={980}>
      <Group justify="space-between">
        <Title order={3}>Triggers of {workflow.data?.name ?? '…'}</Title>
        <Button component={Link} href={`/workflows/${id}`} variant="default">
          Open the builder
        </Button>
      </Group>
      <Card withBorder>
        <Title order={5} mb="xs">
          Schedules
        </Title>
        <ProblemAlert error={schedules.error} />
        {schedules.data?.length === 0 && (
          <Text size="sm" c="dimmed">
            No cron trigger. Add one to the workflow's triggers, e.g. <Code>{'{"type": "cron", "cron": "0 9 * * mon-fri", "timezone": "Europe/Paris"}'}</Code>.
          </Text>
        )}
        {schedules.data?.map((s) => (
          <Stack key={s.id} gap={4} mb="sm" data-testid="schedule">
            <Group gap="xs">
              <Code>{s.cron}</Code>
              <Text size="sm">in {s.timezone}</Text>
              <Text size="xs" c="dimmed">
                catch-up {s.catch_up} · fired {s.fired_count} · missed {s.missed_count} · last {ago(s.last_run_at)}
              </Text>
            </Group>
            <Table fz="xs" withRowBorders={false} verticalSpacing={0}>
              <Table.Tbody>
                {s.upcoming.map((slot) => (
                  <Table.Tr key={slot.utc} data-testid="next-fire">
                    <Table.Td>{new Date(slot.utc).toLocaleString()}</Table.Td>
                    <Table.Td className="mono">{slot.local}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Stack>
        ))}
      </Card>
      <Card withBorder>
        <Title order={5} mb="xs">
          Webhook
        </Title>
        <ProblemAlert error={webhook.error ?? error} />
        {webhook.data && !webhook.data.has_trigger && (
          <Text size="sm" c="dimmed">
            No webhook trigger. Add <Code>{'{"type": "webhook"}'}</Code> to the workflow's triggers.
          </Text>
        )}
        {webhook.data?.has_trigger && webhook.data.url && (
          <Stack gap="xs">
            <Group gap="xs">
              <Code data-testid="webhook-url">{webhook.data.url}</Code>
              <CopyButton value={webhook.data.url}>{({ copied, copy }) => <Button size="compact-xs" variant="default" onClick={copy}>{copied ? 'Copied' : 'Copy'}</Button>}</CopyButton>
            </Group>
            <Text size="sm">
              {webhook.data.subscribed ? `Signing secret made ${ago(webhook.data.rotated_at)} (${webhook.data.scheme}).` : 'No signing secret yet: deliveries are refused until one is made.'}
            </Text>
            {canEdit && (
              <Button w={220} size="xs" onClick={() => void rotate()} data-testid="rotate-secret">
                {webhook.data.subscribed ? 'Rotate the secret' : 'Make the signing secret'}
              </Button>
            )}
            {secret && (
              <Alert color="green" title="The new secret, shown this once" data-testid="new-secret">
                <Group gap="xs">
                  <Code>{secret.secret}</Code>
                  <CopyButton value={secret.secret}>{({ copied, copy }) => <Button size="compact-xs" variant="default" onClick={copy}>{copied ? 'Copied' : 'Copy'}</Button>}</CopyButton>
                </Group>
                <Text size="xs" mt={4}>
                  The previous secret stays valid until the next rotation, so senders can switch over.
                </Text>
              </Alert>
            )}
            <Text size="sm" fw={500}>
              Try it with curl
            </Text>
            <Code block data-testid="curl">{`SECRET='${secret?.secret ?? '<the signing secret>'}'\n${curlExample(webhook.data.url, webhook.data.scheme)}`}</Code>
            <CopyButton value={`SECRET='${secret?.secret ?? ''}'\n${curlExample(webhook.data.url, webhook.data.scheme)}`}>
              {({ copied, copy }) => (
                <Button size="compact-xs" variant="default" w={140} onClick={copy}>
                  {copied ? 'Copied' : 'Copy the example'}
                </Button>
              )}
            </CopyButton>
            <Text size="xs" c="dimmed">
              Deliveries follow Standard Webhooks; see <Anchor href="/api/v1/docs">the API reference</Anchor>.
            </Text>
          </Stack>
        )}
      </Card>
    </Stack>
  );
}
