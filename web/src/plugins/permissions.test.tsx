import { MantineProvider } from '@mantine/core';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/client';
import { GrantSummary, grantedForm, newSince, PermissionDialog, type PermissionRequest, permissionRequestOf, runsSandboxed } from './PermissionDialog';

afterEach(cleanup);

const refusal = (details: Record<string, unknown>) =>
  new ApiError({ type: 'about:blank', title: 'Approval required', status: 400, detail: 'rss 0.3.0 asks for permissions', code: 'approval_required', details } as never);

const asked: PermissionRequest = {
  plugin: 'connector-rss',
  version: '0.3.0',
  permissions: ['connect to any public host on the internet (through the egress proxy)', 'keep files in its own data folder'],
  missing: ['network=any', 'files=data'],
};

const show = (previous: { version: string; grantDescribed: string[] } | null, onApprove = vi.fn(), onCancel = vi.fn()) => {
  render(
    <MantineProvider>
      <PermissionDialog request={asked} previous={previous} onApprove={onApprove} onCancel={onCancel} />
    </MantineProvider>,
  );
  return { onApprove, onCancel };
};

describe('the install permission dialog', () => {
  it('reads what the plugin asks for from an approval_required refusal, and nothing from other errors', () => {
    expect(permissionRequestOf(refusal({ plugin: 'connector-rss', version: '0.3.0', permissions: asked.permissions, missing: asked.missing }), 'x.whl')).toEqual(asked);
    expect(permissionRequestOf(refusal({}), 'x.whl')).toEqual({ plugin: 'x.whl', version: '', permissions: [], missing: [] });
    const other = new ApiError({ type: 'about:blank', title: 'Bad', status: 400, detail: 'no', code: 'input_invalid' } as never);
    expect(permissionRequestOf(other, 'x.whl')).toBeNull();
    expect(permissionRequestOf(new Error('network down'), 'x.whl')).toBeNull();
  });

  it('lists every permission in plain words on a first install, none marked new', () => {
    show(null);
    const dialog = screen.getByTestId('permission-dialog');
    expect(dialog.textContent).toContain('connect to any public host on the internet');
    expect(dialog.textContent).toContain('keep files in its own data folder');
    expect(screen.getAllByTestId('permission')).toHaveLength(2);
    expect(screen.queryAllByTestId('permission-new')).toHaveLength(0);
  });

  it('marks only what an upgrade asks for beyond the installed version grant, and says the old one stays', () => {
    show({ version: '0.2.0', grantDescribed: ['keep files in its own data folder'] });
    const fresh = screen.getAllByTestId('permission-new');
    expect(fresh).toHaveLength(1);
    expect(fresh[0].textContent).toContain('connect to any public host');
    expect(screen.getByTestId('permission-dialog').textContent).toContain('0.2.0 stays active');
    expect([...newSince(asked.permissions, null)]).toEqual(asked.permissions);
  });

  it('approves or cancels with its buttons', () => {
    const { onApprove, onCancel } = show(null);
    fireEvent.click(screen.getByTestId('cancel-permissions'));
    expect(onCancel).toHaveBeenCalledOnce();
    expect(onApprove).not.toHaveBeenCalled();
    fireEvent.click(screen.getByTestId('grant-permissions'));
    expect(onApprove).toHaveBeenCalledOnce();
  });

  it('warns in red before granting a plugin that runs outside the sandbox', () => {
    render(
      <MantineProvider>
        <PermissionDialog request={{ ...asked, missing: ['unsandboxed'] }} previous={null} onApprove={vi.fn()} onCancel={vi.fn()} />
      </MantineProvider>,
    );
    expect(screen.getByTestId('permission-dialog').textContent).toContain('outside the sandbox');
  });

  it('sends the install again with the missing items in the grant field, replacing any earlier grant', () => {
    const form = new FormData();
    form.append('spec', 'connector-rss==0.3.0');
    form.append('grant', 'network');
    const again = grantedForm(form, asked.missing);
    expect(again.get('spec')).toBe('connector-rss==0.3.0');
    expect(again.getAll('grant')).toEqual(['network=any', 'files=data']);
  });

  it('shows an installed version grant and whether it runs sandboxed', () => {
    const sandboxed = 'plugins run sandboxed (bubblewrap, seccomp; limits by rlimits (no cgroup the host may write))';
    render(
      <MantineProvider>
        <GrantSummary grantDescribed={['nothing beyond running in the sandbox']} sandbox={sandboxed} />
      </MantineProvider>,
    );
    expect(screen.getByTestId('grant-summary').textContent).toContain('nothing beyond running in the sandbox');
    expect(screen.getByTestId('sandbox-status').textContent).toBe('sandboxed');
    expect(runsSandboxed(sandboxed, ["run WITHOUT the sandbox, with every right of the host's user (keys, database, network)"])).toBe(false);
    expect(runsSandboxed("plugins run UNSANDBOXED, with the host's rights (SYNTHRAL_PLUGIN_SANDBOX=off)", [])).toBe(false);
    expect(runsSandboxed(undefined, [])).toBe(false);
  });
});
