import { Alert, Badge, Button, Checkbox, Code, Group, Stack, Table, Text, TextInput } from '@mantine/core';
import { useState } from 'react';
import { request } from '../api/client';
import type { UpgradeApplied, UpgradeOutcome, UpgradeReport } from '../api/types';
import { ProblemAlert } from '../ui/Problem';

const OUTCOMES: { key: UpgradeOutcome; label: string; color: string }[] = [
  { key: 'identical', label: 'identical', color: 'green' },
  { key: 'changed', label: 'changed', color: 'yellow' },
  { key: 'failing', label: 'failing', color: 'red' },
  { key: 'incompatible', label: 'incompatible', color: 'grape' },
];

/**
 * Check an upgrade of one plugin by replaying recorded steps against the new version, then apply
 * it to the workspace's workflows or roll the last apply back. The server decides what is clean;
 * this shows its report and sends what the owner chose.
 */
export function UpgradeCheck({ plugin, suggested, onChanged }: { plugin: string; suggested: string; onChanged?: () => void }) {
  const [version, setVersion] = useState(suggested);
  const [report, setReport] = useState<UpgradeReport | null>(null);
  const [accept, setAccept] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const base = `/plugins/${encodeURIComponent(plugin)}`;

  const call = async <T,>(what: string, path: string, body?: unknown): Promise<T | null> => {
    setBusy(what);
    setError(null);
    setDone(null);
    try {
      return await request<T>(path, { method: 'POST', body: body ?? {} });
    } catch (caught) {
      setError(caught);
      return null;
    } finally {
      setBusy(null);
    }
  };

  const check = async () => {
    const answer = await call<UpgradeReport>('check', `${base}/upgrade-check`, { version: version.trim() });
    setReport(answer);
    setAccept(false);
  };

  const summary = (applied: UpgradeApplied, verb: string) =>
    applied.workflows.length
      ? `${verb} ${applied.workflows.map((w) => `${w.workflow} (${w.from_version} → ${w.to_version})`).join(', ')}`
      : 'No workflow was re-pinned';

  const apply = async () => {
    const applied = await call<UpgradeApplied>('apply', `${base}/upgrade`, { version: version.trim(), accept_changes: accept });
    if (applied) {
      setDone(summary(applied, 'Re-pinned'));
      onChanged?.();
    }
  };

  const rollback = async () => {
    const applied = await call<UpgradeApplied>('rollback', `${base}/rollback`);
    if (applied) {
      setDone(summary(applied, 'Rolled back'));
      onChanged?.();
    }
  };

  const shown = report?.samples.filter((s) => s.outcome !== 'identical') ?? [];
  return (
    <Stack gap="sm" data-testid="upgrade-check">
      <Group align="flex-end">
        <TextInput label="Upgrade to version" value={version} onChange={(e) => setVersion(e.currentTarget.value)} w={180} />
        <Button onClick={() => void check()} loading={busy === 'check'} disabled={!version.trim()} data-testid="run-upgrade-check">
          Check upgrade
        </Button>
        <Button variant="default" onClick={() => void rollback()} loading={busy === 'rollback'} data-testid="rollback-upgrade">
          Roll back the last upgrade
        </Button>
      </Group>
      <ProblemAlert error={error} />
      {done && (
        <Alert color="green" variant="light" data-testid="upgrade-done">
          {done}
        </Alert>
      )}
      {report && (
        <Stack gap="xs" data-testid="upgrade-report">
          <Group gap="xs">
            <Text size="sm" fw={600}>
              {report.plugin} {report.from_versions.join(', ') || '(no history)'} → {report.to_version}
            </Text>
            {OUTCOMES.map((o) => (
              <Badge key={o.key} color={o.color} variant="light" data-testid={`count-${o.key}`}>
                {report.counts[o.key]} {o.label}
              </Badge>
            ))}
          </Group>
          {report.notes.map((note) => (
            <Text key={note} size="xs" c="dimmed">
              {note}
            </Text>
          ))}
          {report.removed_capabilities.length > 0 && (
            <Text size="xs">Gone in {report.to_version}: {report.removed_capabilities.join(', ')}</Text>
          )}
          {shown.length > 0 && (
            <Table withTableBorder verticalSpacing={4} fz="xs">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Capability</Table.Th>
                  <Table.Th w={150}>Recorded in</Table.Th>
                  <Table.Th w={130}>Outcome</Table.Th>
                  <Table.Th>Difference</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {shown.map((s) => (
                  <Table.Tr key={s.step_id} data-testid={`sample-${s.step_id}`}>
                    <Table.Td>{s.capability}</Table.Td>
                    <Table.Td>
                      {s.workflow} · {s.node_id}
                    </Table.Td>
                    <Table.Td>
                      <Badge size="xs" color={OUTCOMES.find((o) => o.key === s.outcome)?.color} variant="light">
                        {s.outcome}
                      </Badge>
                    </Table.Td>
                    <Table.Td>
                      {s.outcome === 'changed' && s.diff.length > 0 ? (
                        <Code block data-testid="sample-diff">
                          {s.diff.map((op) => `${op.op} ${op.path}${op.value !== undefined ? ` ${JSON.stringify(op.value)}` : ''}`).join('\n')}
                        </Code>
                      ) : (
                        <Text size="xs">{s.reason}</Text>
                      )}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
          <Group>
            {!report.clean && (
              <Checkbox
                label="I reviewed the differences; re-pin anyway"
                checked={accept}
                onChange={(e) => setAccept(e.currentTarget.checked)}
                data-testid="accept-changes"
              />
            )}
            <Button color="green" onClick={() => void apply()} loading={busy === 'apply'} disabled={!report.clean && !accept} data-testid="apply-upgrade">
              Apply to workflows
            </Button>
          </Group>
        </Stack>
      )}
    </Stack>
  );
}
