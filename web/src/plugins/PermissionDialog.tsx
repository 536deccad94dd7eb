import { Alert, Badge, Button, Group, List, Stack, Text } from '@mantine/core';
import { ApiError } from '../api/client';

/** What an install refused with `approval_required` says the plugin asks for (the problem's details). */
export interface PermissionRequest {
  plugin: string;
  version: string;
  /** One plain sentence per permission, as `synthral plugin install` prints them. */
  permissions: string[];
  /** The grant items that were missing; sent back in the `grant` field to approve. */
  missing: string[];
}

/** The installed version whose grant an upgrade is compared with. */
export interface PreviousGrant {
  version: string;
  grantDescribed: string[];
}

/** The permission request an `approval_required` refusal carries, or null for any other error. */
export function permissionRequestOf(error: unknown, label: string): PermissionRequest | null {
  if (!(error instanceof ApiError) || error.problem.code !== 'approval_required') return null;
  const details = (error.problem.details ?? {}) as Partial<Record<keyof PermissionRequest, unknown>>;
  const strings = (value: unknown) => (Array.isArray(value) ? value.map(String) : []);
  return {
    plugin: typeof details.plugin === 'string' ? details.plugin : label,
    version: typeof details.version === 'string' ? details.version : '',
    permissions: strings(details.permissions),
    missing: strings(details.missing),
  };
}

/** Which of the requested permissions the installed version was not granted (all of them on a first install). */
export function newSince(permissions: string[], previous: PreviousGrant | null): Set<string> {
  const granted = new Set(previous?.grantDescribed ?? []);
  return new Set(permissions.filter((line) => !granted.has(line)));
}

/** The install form sent again, granting `missing` (any grant the first attempt carried is replaced). */
export function grantedForm(form: FormData, missing: string[]): FormData {
  const granted = new FormData();
  form.forEach((value, key) => {
    if (key !== 'grant') granted.append(key, value);
  });
  for (const item of missing) granted.append('grant', item);
  return granted;
}

/**
 * The install permission dialog: what the plugin asks for in plain words, what is more than the
 * installed version was granted (on an upgrade), and Approve / Cancel.
 */
export function PermissionDialog({ request, previous, onApprove, onCancel }: {
  request: PermissionRequest;
  previous: PreviousGrant | null;
  onApprove: () => void;
  onCancel: () => void;
}) {
  const fresh = newSince(request.permissions, previous);
  const unsandboxed = request.missing.some((item) => item === 'unsandboxed' || item.startsWith('unsandboxed='));
  return (
    <Stack gap="sm" data-testid="permission-dialog">
      <Text size="sm">
        {previous
          ? `Version ${request.version} asks for more than ${previous.version} was granted. If you cancel, ${previous.version} stays active.`
          : `${request.plugin} ${request.version} asks to:`}
      </Text>
      <List size="sm" spacing={4}>
        {request.permissions.map((line) => {
          const isNew = previous !== null && fresh.has(line);
          return (
            <List.Item key={line} data-testid={isNew ? 'permission-new' : 'permission'}>
              <Group gap={6} wrap="nowrap">
                <Text size="sm" fw={isNew ? 700 : undefined}>
                  {line}
                </Text>
                {isNew && (
                  <Badge size="xs" color="orange">
                    new
                  </Badge>
                )}
              </Group>
            </List.Item>
          );
        })}
      </List>
      {unsandboxed && (
        <Alert color="red" p="xs">
          It runs outside the sandbox with every right of the server&apos;s user: approve only code you trust as much as the server itself.
        </Alert>
      )}
      <Text size="xs" c="dimmed">
        It runs in a sandbox that allows this and nothing else. Nothing is installed unless you approve.
      </Text>
      <Group justify="flex-end">
        <Button variant="default" onClick={onCancel} data-testid="cancel-permissions">
          Cancel
        </Button>
        <Button color={unsandboxed ? 'red' : undefined} onClick={onApprove} data-testid="grant-permissions">
          Approve and install
        </Button>
      </Group>
    </Stack>
  );
}

/** Whether a version runs sandboxed: the server sandboxes plugins and its grant does not take it outside. */
export function runsSandboxed(sandbox: string | undefined, grantDescribed: string[] | undefined): boolean {
  const hostSandboxes = (sandbox ?? '').startsWith('plugins run sandboxed');
  return hostSandboxes && !(grantDescribed ?? []).some((line) => line.startsWith('run WITHOUT the sandbox'));
}

/** The current grant of an installed version and whether it runs sandboxed, for the plugin page. */
export function GrantSummary({ grantDescribed, sandbox }: { grantDescribed: string[] | undefined; sandbox: string | undefined }) {
  const sandboxed = runsSandboxed(sandbox, grantDescribed);
  return (
    <Stack gap={2} mt={6} data-testid="grant-summary">
      <Group gap={6}>
        <Text size="xs" fw={600}>
          Granted
        </Text>
        <Badge size="xs" variant="light" color={sandboxed ? 'green' : 'red'} title={sandbox} data-testid="sandbox-status">
          {sandboxed ? 'sandboxed' : 'not sandboxed'}
        </Badge>
      </Group>
      <List size="xs" spacing={0}>
        {(grantDescribed ?? []).map((line) => (
          <List.Item key={line}>{line}</List.Item>
        ))}
      </List>
    </Stack>
  );
}
