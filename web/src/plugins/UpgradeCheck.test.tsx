import { MantineProvider } from '@mantine/core';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { UpgradeReport } from '../api/types';
import { UpgradeCheck } from './UpgradeCheck';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const REPORT: UpgradeReport = {
  plugin: 'upgrady',
  to_version: '2.0.0',
  from_versions: ['1.0.0'],
  clean: false,
  counts: { identical: 2, changed: 1, failing: 1, incompatible: 1 },
  samples: [
    { capability: 'greet', step_id: 7, execution_id: 'e1', workflow_id: 'w1', workflow: 'greeter', node_id: 'greet', old_version: '1.0.0',
      outcome: 'changed', diff: [{ op: 'replace', path: '/greeting', value: 'Hello, Ada!' }], reason: '', error_type: null },
    { capability: 'divide', step_id: 8, execution_id: 'e1', workflow_id: 'w1', workflow: 'greeter', node_id: 'divide', old_version: '1.0.0',
      outcome: 'failing', diff: [], reason: 'division is broken in version 2', error_type: 'ValueError' },
    { capability: 'shout', step_id: 9, execution_id: 'e1', workflow_id: 'w1', workflow: 'greeter', node_id: 'shout', old_version: '1.0.0',
      outcome: 'incompatible', diff: [], reason: "upgrady 2.0.0 has no capability 'shout'", error_type: null },
    { capability: 'secret', step_id: 10, execution_id: 'e1', workflow_id: 'w1', workflow: 'greeter', node_id: 'secret', old_version: '1.0.0',
      outcome: 'identical', diff: [], reason: '', error_type: null },
  ],
  removed_capabilities: ['shout'],
  notes: [],
};

function json(body: unknown, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json' } });
}

function show() {
  const changed = vi.fn();
  render(
    <MantineProvider>
      <UpgradeCheck plugin="upgrady" suggested="2.0.0" onChanged={changed} />
    </MantineProvider>,
  );
  return changed;
}

describe('upgrade check', () => {
  it('shows the counts and a diff per changed sample, and applies only once the differences are accepted', async () => {
    const fetched = vi.fn(async (url: string, init?: RequestInit) => {
      if (url.endsWith('/upgrade-check')) return json(REPORT);
      if (url.endsWith('/upgrade'))
        return json({ plugin: 'upgrady', skipped: [], report: REPORT, workflows: [
          { workflow_id: 'w1', workflow: 'greeter', from_version: '1.0.0', to_version: '2.0.0', workflow_version: 2 },
        ], sent: init?.body });
      return json({}, 404);
    });
    vi.stubGlobal('fetch', fetched);
    const changed = show();
    fireEvent.click(screen.getByTestId('run-upgrade-check'));
    expect((await screen.findByTestId('count-identical')).textContent).toBe('2 identical');
    expect(screen.getByTestId('count-changed').textContent).toBe('1 changed');
    expect(screen.getByTestId('count-failing').textContent).toBe('1 failing');
    expect(screen.getByTestId('count-incompatible').textContent).toBe('1 incompatible');
    expect(screen.getByTestId('sample-diff').textContent).toBe('replace /greeting "Hello, Ada!"');
    expect(screen.getByTestId('sample-8').textContent).toContain('division is broken in version 2');
    expect(screen.queryByTestId('sample-10')).toBeNull(); // identical samples are only counted
    expect(JSON.parse(String(fetched.mock.calls[0][1]?.body))).toEqual({ version: '2.0.0' });

    const apply = screen.getByTestId('apply-upgrade') as HTMLButtonElement;
    expect(apply.disabled).toBe(true);
    fireEvent.click(screen.getByLabelText('I reviewed the differences; re-pin anyway'));
    expect(apply.disabled).toBe(false);
    fireEvent.click(apply);
    expect((await screen.findByTestId('upgrade-done')).textContent).toBe('Re-pinned greeter (1.0.0 → 2.0.0)');
    expect(JSON.parse(String(fetched.mock.calls[1][1]?.body))).toEqual({ version: '2.0.0', accept_changes: true });
    expect(changed).toHaveBeenCalledOnce();
  });

  it('rolls back in one click and shows the server problem when there is nothing to roll back', async () => {
    let calls = 0;
    vi.stubGlobal('fetch', vi.fn(async () => {
      calls += 1;
      if (calls === 1)
        return json({ plugin: 'upgrady', skipped: [], report: null, workflows: [
          { workflow_id: 'w1', workflow: 'greeter', from_version: '2.0.0', to_version: '1.0.0', workflow_version: 3 },
        ] });
      return json({ status: 409, title: 'Conflict', code: 'nothing_to_roll_back', detail: 'no upgrade of plugin upgrady is in force here to roll back' }, 409);
    }));
    show();
    fireEvent.click(screen.getByTestId('rollback-upgrade'));
    expect((await screen.findByTestId('upgrade-done')).textContent).toBe('Rolled back greeter (2.0.0 → 1.0.0)');
    fireEvent.click(screen.getByTestId('rollback-upgrade'));
    await waitFor(() => expect(screen.getByTestId('problem').textContent).toContain('nothing_to_roll_back'));
  });
});
