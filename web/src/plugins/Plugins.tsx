import { Badge, Button, Card, FileButton, Group, Modal, Stack, Switch, Table, Text, TextInput, Title } from '@mantine/core';
import { modals } from '@mantine/modals';
import { notifications } from '@mantine/notifications';
import { IconUpload } from '@tabler/icons-react';
import { useQueryClient } from '@tanstack/react-query';
import { useMemo, useRef, useState } from 'react';
import { request } from '../api/client';
import { keys, usePlugin, usePlugins } from '../api/hooks';
import type { PluginDetail, PluginInfo } from '../api/types';
import { useCan } from '../auth/context';
import { ProblemAlert } from '../ui/Problem';
import { UpgradeCheck } from './UpgradeCheck';
import { GrantSummary, grantedForm, PermissionDialog, type PermissionRequest, type PreviousGrant, permissionRequestOf } from './PermissionDialog';

export default function Plugins() {
  const plugins = usePlugins();
  const isOwner = useCan('owner');
  const client = useQueryClient();
  const [spec, setSpec] = useState('');
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [upgrading, setUpgrading] = useState<PluginInfo[] | null>(null);
  const resetUpload = useRef<() => void>(null);

  const grouped = useMemo(() => {
    const byName = new Map<string, PluginInfo[]>();
    for (const p of plugins.data ?? []) byName.set(p.name, [...(byName.get(p.name) ?? []), p]);
    return [...byName];
  }, [plugins.data]);

  const changed = () => {
    void client.invalidateQueries({ queryKey: keys.plugins });
    void client.invalidateQueries({ queryKey: keys.nodes });
    void client.invalidateQueries({ queryKey: keys.connectors });
  };

  const install = async (form: FormData, label: string) => {
    setBusy('install');
    setError(null);
    try {
      const installed = await request<PluginInfo>('/plugins', { form, method: 'POST' });
      notifications.show({ color: 'green', message: `Installed ${installed.name} ${installed.version}: its nodes are in the palette` });
      setSpec('');
      changed();
    } catch (caught) {
      const asked = permissionRequestOf(caught, label);
      if (asked) {
        void askToGrant(form, label, asked);
        return;
      }
      setError(caught);
      notifications.show({ color: 'red', message: `Could not install ${label}` });
    } finally {
      setBusy(null);
    }
  };

  // The plugin declares permissions nobody granted yet: show them (marking what an upgrade asks for beyond
  // the installed version's grant) and install again granting them only if the owner approves.
  const askToGrant = async (form: FormData, label: string, asked: PermissionRequest) => {
    let previous: PreviousGrant | null = null;
    try {
      const detail = await request<PluginDetail>(`/plugins/${encodeURIComponent(asked.plugin)}`);
      const latest = detail.versions.filter((v) => !v.builtin).at(-1);
      if (latest) previous = { version: latest.version, grantDescribed: latest.grantDescribed ?? [] };
    } catch {
      previous = null; // not installed yet: a first install
    }
    const id = modals.open({
      title: `${previous ? 'Upgrade' : 'Install'} ${asked.plugin} ${asked.version}?`,
      size: 'lg',
      children: (
        <PermissionDialog
          request={asked}
          previous={previous}
          onCancel={() => {
            modals.close(id);
            notifications.show({ message: `Nothing was installed${previous ? `; ${asked.plugin} ${previous.version} stays active` : ''}` });
          }}
          onApprove={() => {
            modals.close(id);
            void install(grantedForm(form, asked.missing), label);
          }}
        />
      ),
    });
  };

  const toggle = async (p: PluginInfo) => {
    setError(null);
    try {
      await request(`/plugins/${encodeURIComponent(`${p.name}==${p.version}`)}/${p.enabled ? 'disable' : 'enable'}`, { method: 'POST' });
      changed();
    } catch (caught) {
      setError(caught);
    }
  };

  const remove = (p: PluginInfo) =>
    modals.openConfirmModal({
      title: `Remove ${p.name} ${p.version}?`,
      children: <Text size="sm">Workflows pinned to it will not run until it is installed again. Running executions keep it until they end.</Text>,
      labels: { confirm: 'Remove', cancel: 'Keep it' },
      confirmProps: { color: 'red' },
      onConfirm: async () => {
        try {
          await request(`/plugins/${encodeURIComponent(`${p.name}==${p.version}`)}`, { method: 'DELETE' });
          changed();
        } catch (caught) {
          setError(caught);
        }
      },
    });

  return (
    <Stack>
      <Title order={3}>Plugins</Title>
      {isOwner && (
        <Card withBorder>
          <Group align="flex-end">
            <FileButton
              accept=".whl"
              resetRef={resetUpload}
              onChange={(file) => {
                resetUpload.current?.(); // choosing the same wheel again (after Cancel) must ask again
                if (!file) return;
                const form = new FormData();
                form.append('wheel', file, file.name);
                void install(form, file.name);
              }}
            >
              {(props) => (
                <Button leftSection={<IconUpload size={16} />} loading={busy === 'install'} {...props} data-testid="upload-wheel">
                  Upload a wheel
                </Button>
              )}
            </FileButton>
            <Text c="dimmed" size="sm">
              or
            </Text>
            <TextInput label="From the package index" placeholder="name==version" value={spec} onChange={(e) => setSpec(e.currentTarget.value)} w={240} />
            <Button
              variant="default"
              disabled={!spec.includes('==')}
              loading={busy === 'install'}
              onClick={() => {
                const form = new FormData();
                form.append('spec', spec.trim());
                void install(form, spec);
              }}
            >
              Install
            </Button>
          </Group>
          <Text size="xs" c="dimmed" mt="xs">
            Each version gets its own virtualenv and process; installing, disabling and removing happen while the server runs.
          </Text>
        </Card>
      )}
      <ProblemAlert error={error ?? plugins.error} />
      <Table bg="white" withTableBorder verticalSpacing="sm">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Plugin</Table.Th>
            <Table.Th>Versions</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {grouped.map(([name, versions]) => (
            <Table.Tr key={name} data-testid={`plugin-${name}`}>
              <Table.Td w={280} valign="top">
                <Text fw={600}>{name}</Text>
                <Text size="xs" c="dimmed">
                  {versions[0].summary}
                </Text>
                {versions[0].builtin && <Badge size="xs">built in</Badge>}
                {isOwner && !versions[0].builtin && (
                  <Button size="compact-xs" variant="light" mt={6} onClick={() => setUpgrading(versions)} data-testid={`check-upgrade-${name}`}>
                    Check upgrade
                  </Button>
                )}
              </Table.Td>
              <Table.Td>
                <Group align="flex-start">
                  {versions.map((p) => (
                    <Card key={p.version} withBorder padding="xs" w={260}>
                      <Group justify="space-between">
                        <Text fw={600} size="sm">
                          {p.version}
                        </Text>
                        <Badge size="xs" color={p.process.state === 'running' ? 'green' : 'gray'} variant="light">
                          {String(p.process.state ?? '')}
                        </Badge>
                      </Group>
                      <Text size="xs" c="dimmed" lineClamp={2}>
                        {p.capabilities.join(', ')}
                      </Text>
                      {!p.builtin && <VersionGrant name={p.name} version={p.version} />}
                      {isOwner && !p.builtin && (
                        <Group mt={6} justify="space-between">
                          <Switch size="xs" label="enabled" checked={p.enabled} onChange={() => void toggle(p)} aria-label={`enable ${p.name} ${p.version}`} />
                          <Button size="compact-xs" color="red" variant="subtle" onClick={() => remove(p)}>
                            Remove
                          </Button>
                        </Group>
                      )}
                    </Card>
                  ))}
                </Group>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <Modal opened={upgrading !== null} onClose={() => setUpgrading(null)} title={`Upgrade ${upgrading?.[0].name ?? ''}`} size="xl">
        {upgrading && (
          <UpgradeCheck plugin={upgrading[0].name} suggested={upgrading[upgrading.length - 1].version} onChanged={changed} />
        )}
      </Modal>
    </Stack>
  );
}

/** What one installed version was granted, and whether plugins run sandboxed on this server. */
function VersionGrant({ name, version }: { name: string; version: string }) {
  const detail = usePlugin(name);
  const installed = detail.data?.versions.find((v) => v.version === version);
  if (!installed) return null;
  return <GrantSummary grantDescribed={installed.grantDescribed} sandbox={detail.data?.sandbox} />;
}
