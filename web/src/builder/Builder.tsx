import '@xyflow/react/dist/style.css';
import { ActionIcon, Alert, Badge, Button, Group, Kbd, Loader, Modal, Stack, Tabs, Text, TextInput, Tooltip } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import {
  IconArrowBackUp,
  IconArrowForwardUp,
  IconCalendarTime,
  IconDeviceFloppy,
  IconLayoutDistributeHorizontal,
  IconNote,
  IconPlayerPlay,
  IconSparkles,
} from '@tabler/icons-react';
import { useQueryClient } from '@tanstack/react-query';
import { ReactFlowProvider, useReactFlow } from '@xyflow/react';
import { Suspense, lazy, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useLocation, useSearchParams } from 'wouter';
import { ApiError, request } from '../api/client';
import { keys, useCredentials, useNodeTypes, useSaveWorkflow, useWorkflow } from '../api/hooks';
import type { ExecutionDetail, JsonObject, Page, Execution, NodeType, ValidationResult, Workflow, WorkflowNode } from '../api/types';
import { useCan } from '../auth/context';
import { RunDetails } from '../executions/RunDetails';
import { useRun } from '../executions/useRun';
import { ProblemAlert } from '../ui/Problem';
import { ConfigPanel } from './ConfigPanel';
import { CopilotDock } from './CopilotDock';
import { autoLayout } from './layout';
import { DRAG_TYPE, Palette } from './Palette';
import { seedInput } from './seed';
import { SpecsContext } from './specs';
import { FlowCanvas } from './FlowCanvas';
import { useCanvas } from './store';
import { complete as completeTemplate, scopeFromRun, upstream } from './templates';
import { VersionsPanel, type Comparison } from './VersionsPanel';

const MonacoEditor = lazy(() => import('./Monaco'));
const BLANK: Workflow = { name: '', nodes: [], edges: [], triggers: [{ type: 'manual' }] };

export default function Builder({ id }: { id?: string }) {
  return (
    <ReactFlowProvider>
      <BuilderInner id={id} />
    </ReactFlowProvider>
  );
}

function typing(target: EventTarget | null): boolean {
  const element = target as HTMLElement | null;
  return Boolean(element && (element.tagName === 'INPUT' || element.tagName === 'TEXTAREA' || element.isContentEditable || element.closest('.monaco-editor')));
}

function BuilderInner({ id }: { id?: string }) {
  const [params, setParams] = useSearchParams();
  const version = params.get('version') ? Number(params.get('version')) : undefined;
  const runParam = params.get('run');
  const loaded = useWorkflow(id, version);
  const latest = useWorkflow(id);
  const nodeTypes = useNodeTypes();
  const canEdit = useCan('editor');
  const credentials = useCredentials(canEdit);
  const save = useSaveWorkflow();
  const client = useQueryClient();
  const [, navigate] = useLocation();
  const flow = useReactFlow();
  // Actions are stable; each piece of state is subscribed to on its own, so dragging a node
  // re-renders the canvas and not the panels around it.
  const canvas = useCanvas.getState();
  const base = useCanvas((s) => s.base);
  const dirty = useCanvas((s) => s.dirty);
  const problems = useCanvas((s) => s.problems);
  const selected = useCanvas((s) => s.selected);
  const revision = useCanvas((s) => s.revision);
  const canUndo = useCanvas((s) => s.past.length > 0);
  const canRedo = useCanvas((s) => s.future.length > 0);
  const empty = useCanvas((s) => s.nodes.length === 0);
  const selectedNode = useCanvas((s) => {
    const found = s.nodes.find((n) => n.id === s.selected);
    return found?.type === 'step' ? found.data.node : undefined;
  });
  const specs = useMemo(() => new Map((nodeTypes.data ?? []).map((t) => [t.type, t])), [nodeTypes.data]);
  const paletteTypes = useMemo(() => nodeTypes.data ?? [], [nodeTypes.data]);
  const [tab, setTab] = useState<string | null>('node');
  const [runInput, setRunInput] = useState<string | null>(null);
  const [runError, setRunError] = useState<unknown>(null);
  const [saveError, setSaveError] = useState<unknown>(null);
  const [validation, setValidation] = useState<'idle' | 'checking' | 'valid' | 'invalid' | 'unavailable'>('idle');
  const [comparison, setComparison] = useState<Comparison | null>(null);
  const [lastRunData, setLastRunData] = useState<ExecutionDetail | null>(null);
  const [copilot, setCopilot] = useState(false);
  const canvasWidth = useRef(copilot);
  // The canvas changes width when the copilot opens or closes: keep the workflow in view.
  useEffect(() => {
    if (canvasWidth.current === copilot) return;
    canvasWidth.current = copilot;
    // Two frames: the canvas learns its new size from a ResizeObserver, after the first.
    requestAnimationFrame(() => requestAnimationFrame(() => void flow.fitView({ padding: 0.2, duration: 200 })));
  }, [copilot, flow]);
  const wrapper = useRef<HTMLDivElement>(null);
  const viewingOld = Boolean(version && latest.data && version !== latest.data.version);
  const readOnly = !canEdit || viewingOld || comparison !== null;
  const run = useRun(runParam ?? undefined);

  // Load the document into the canvas when it arrives (or a new one when there is no id).
  useEffect(() => {
    if (!id) {
      canvas.load(BLANK, { readOnly: !canEdit });
      return;
    }
    if (loaded.data) canvas.load(loaded.data.workflow, { readOnly });
    // Reloading on every canvas change would undo the edits: load on new data only.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id, loaded.data]);

  useEffect(() => {
    useCanvas.setState({ readOnly });
  }, [readOnly]);

  // The last run's recorded data feeds template completion.
  useEffect(() => {
    if (!loaded.data) return;
    let stop = false;
    request<Page<Execution>>(`/workflows/${loaded.data.id}/executions?limit=1`)
      .then((page) => (page.items[0] ? request<ExecutionDetail>(`/executions/${page.items[0].id}`) : null))
      .then((detail) => !stop && setLastRunData(detail))
      .catch(() => undefined);
    return () => {
      stop = true;
    };
  }, [loaded.data, runParam]);

  // Live run statuses colour the nodes.
  const loads = useCanvas((s) => s.loads);
  useEffect(() => {
    canvas.setRunStatus(runParam ? run.nodeStatus : {});
    // Loading a document clears the statuses, so they are applied again after each load.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [run.nodeStatus, runParam, loads]);

  // Validation as you edit: the server's validator, a moment after the last change.
  useEffect(() => {
    if (!specs.size || comparison) return;
    const workflow = canvas.toWorkflow(specs);
    if (!workflow.nodes.length) {
      canvas.setProblems([]);
      setValidation('idle');
      return;
    }
    const controller = new AbortController();
    const timer = setTimeout(() => {
      setValidation('checking');
      request<ValidationResult>('/workflows/validate', { body: { ...workflow, name: workflow.name || 'untitled' }, signal: controller.signal })
        .then((result) => {
          canvas.setProblems(result.problems);
          setValidation(result.valid ? 'valid' : 'invalid');
        })
        .catch((error) => {
          if (error instanceof ApiError && (error.status === 404 || error.status === 405)) setValidation('unavailable');
          else if (!(error instanceof DOMException)) setValidation('idle');
        });
    }, 500);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [revision, specs, comparison]);

  const runData = run.detail.data;
  const completer = useCallback(
    (before: string) => {
      const state = useCanvas.getState();
      const workflow = state.toWorkflow(specs);
      const available = state.selected ? upstream(workflow, state.selected) : workflow.nodes.map((n) => n.id);
      const data = runData ?? lastRunData;
      const scope = scopeFromRun(data?.steps ?? [], (data?.execution.input ?? {}) as JsonObject, { id: data?.execution.id ?? '', workflow: workflow.name, version: data?.execution.workflow_version ?? 0 });
      return completeTemplate(before, scope, available);
    },
    [specs, runData, lastRunData],
  );
  const showNode = useCallback((id: string | null) => {
    if (id && !runParam) setTab('node');
  }, [runParam]);
  const nodeProblems = useMemo(() => problems.filter((p) => p.node_id === selected), [problems, selected]);
  const credentialNames = useMemo(() => (credentials.data ?? []).map((c) => c.name), [credentials.data]);
  const changeNode = useCallback((patch: Partial<WorkflowNode>, field?: string) => selected && useCanvas.getState().updateStep(selected, patch, field), [selected]);
  const renameNode = useCallback((next: string) => (selected ? useCanvas.getState().renameStep(selected, next) : null), [selected]);
  const addFromPalette = useCallback((t: NodeType) => useCanvas.getState().addStep(t.type, flow.screenToFlowPosition({ x: 500, y: 250 }), t), [flow]);

  const doSave = useCallback(async () => {
    if (readOnly) return;
    setSaveError(null);
    const workflow = canvas.toWorkflow(specs);
    if (!workflow.name.trim()) {
      setSaveError(new Error('name the workflow first: the name field is at the top left'));
      return;
    }
    try {
      const saved = await save.mutateAsync({ id: loaded.data?.id, workflow });
      canvas.markSaved();
      notifications.show({ color: 'green', message: saved.created ? `Saved version ${saved.version}` : 'No change since the last version' });
      if (!id) navigate(`/workflows/${saved.id}`, { replace: true });
      return saved;
    } catch (error) {
      setSaveError(error);
      return undefined;
    }
  }, [readOnly, canvas, specs, save, loaded.data, id, navigate]);

  const openRun = useCallback(async () => {
    setRunError(null);
    const workflow = canvas.toWorkflow(specs);
    let last: JsonObject | null = null;
    if (loaded.data) {
      const page = await request<Page<Execution>>(`/workflows/${loaded.data.id}/executions?limit=1`).catch(() => null);
      last = (page?.items[0]?.input as JsonObject | undefined) ?? null;
    }
    setRunInput(JSON.stringify(seedInput(workflow, specs, last), null, 2));
  }, [canvas, specs, loaded.data]);

  const startRun = async () => {
    setRunError(null);
    let input: JsonObject;
    try {
      input = JSON.parse(runInput || '{}') as JsonObject;
      if (!input || typeof input !== 'object' || Array.isArray(input)) throw new Error('not an object');
    } catch {
      setRunError(new Error('the input is not a JSON object; write it as {"field": value}'));
      return;
    }
    let workflowId = loaded.data?.id;
    let runVersion = viewingOld ? version : undefined;
    if (!viewingOld && useCanvas.getState().dirty) {
      const saved = await doSave();
      if (!saved) {
        setRunInput(null);
        return;
      }
      workflowId = saved.id;
      runVersion = saved.version;
    }
    if (!workflowId) {
      setRunError(new Error('save the workflow before running it'));
      return;
    }
    try {
      const accepted = await request<{ execution_id: string }>(`/workflows/${workflowId}/run`, { body: { trigger_data: input, ...(runVersion ? { version: runVersion } : {}) } });
      setRunInput(null);
      setTab('run');
      const next = new URLSearchParams(params);
      next.set('run', accepted.execution_id);
      if (!id) navigate(`/workflows/${workflowId}?run=${accepted.execution_id}`);
      else setParams(next);
      void client.invalidateQueries({ queryKey: keys.workflows });
    } catch (error) {
      setRunError(error);
    }
  };

  const layout = useCallback(async () => {
    const positions = await autoLayout(useCanvas.getState().nodes, useCanvas.getState().edges);
    canvas.setPositions(positions);
    requestAnimationFrame(() => void flow.fitView({ padding: 0.2, duration: 200 }));
  }, [canvas, flow]);

  // Keyboard shortcuts, outside text fields.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const mod = event.ctrlKey || event.metaKey;
      if (mod && event.key.toLowerCase() === 's') {
        event.preventDefault();
        void doSave();
        return;
      }
      if (typing(event.target)) return;
      if (mod && event.key.toLowerCase() === 'z' && !event.shiftKey) {
        event.preventDefault();
        canvas.undo();
      } else if (mod && (event.key.toLowerCase() === 'y' || (event.key.toLowerCase() === 'z' && event.shiftKey))) {
        event.preventDefault();
        canvas.redo();
      } else if (mod && event.key.toLowerCase() === 'c') {
        canvas.copy();
      } else if (mod && event.key.toLowerCase() === 'v') {
        canvas.paste();
      } else if (mod && event.key === 'Enter') {
        void openRun();
      } else if (!mod && event.shiftKey && event.key.toLowerCase() === 'l' && !readOnly) {
        void layout();
      } else if (!mod && event.key.toLowerCase() === 'n' && !readOnly) {
        const center = flow.screenToFlowPosition({ x: window.innerWidth / 2, y: window.innerHeight / 2 });
        canvas.addSticky(center);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [canvas, doSave, openRun, layout, readOnly, flow]);

  const onDrop = (event: React.DragEvent) => {
    event.preventDefault();
    const type = event.dataTransfer.getData(DRAG_TYPE);
    if (!type || readOnly) return;
    const position = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY });
    canvas.addStep(type, { x: position.x - 100, y: position.y - 30 }, specs.get(type));
    setTab('node');
  };

  if (id && loaded.error) {
    return (
      <Stack p="md">
        <ProblemAlert error={loaded.error} title="This workflow could not be opened" />
        <Button component={Link} href="/workflows" variant="default" w={200}>
          Back to workflows
        </Button>
      </Stack>
    );
  }
  if (id && !loaded.data) return <Loader m="xl" />;

  const problemsCount = problems.length;
  const workflowDoc = loaded.data?.workflow;

  return (
    <SpecsContext.Provider value={specs}>
      <div style={{ display: 'flex', flexDirection: 'column', height: 'calc(100dvh - 52px)' }}>
        <Group px="sm" py={6} gap="xs" justify="space-between" style={{ borderBottom: '1px solid var(--mantine-color-gray-3)', background: 'white' }}>
          <Group gap="xs">
            <TextInput
              size="xs"
              placeholder="Workflow name"
              aria-label="workflow name"
              value={base.name}
              readOnly={Boolean(id) || readOnly}
              onChange={(e) => canvas.setBase({ name: e.currentTarget.value })}
              w={220}
              fw={600}
            />
            {loaded.data && (
              <Badge variant="light" color={viewingOld ? 'orange' : 'gray'}>
                v{loaded.data.version}
                {viewingOld ? ' (old)' : ''}
              </Badge>
            )}
            {dirty && !readOnly && (
              <Badge color="yellow" variant="dot">
                unsaved
              </Badge>
            )}
            <Tooltip label={validation === 'unavailable' ? 'This server has no validation route yet; saving still checks everything' : `${problemsCount} problem(s) found by the server's validator`}>
              <Badge
                data-testid="validation"
                data-state={validation}
                color={validation === 'valid' ? 'green' : validation === 'invalid' ? 'red' : 'gray'}
                variant="light"
              >
                {validation === 'checking' ? 'checking…' : validation === 'valid' ? 'valid' : validation === 'invalid' ? `${problemsCount} problem${problemsCount === 1 ? '' : 's'}` : validation === 'unavailable' ? 'not checked' : '—'}
              </Badge>
            </Tooltip>
          </Group>
          <Group gap={4}>
            {!readOnly && (
              <>
                <Tooltip label={<>Undo <Kbd size="xs">Ctrl Z</Kbd></>}>
                  <ActionIcon variant="default" onClick={canvas.undo} disabled={!canUndo} aria-label="undo">
                    <IconArrowBackUp size={16} />
                  </ActionIcon>
                </Tooltip>
                <Tooltip label={<>Redo <Kbd size="xs">Ctrl Shift Z</Kbd></>}>
                  <ActionIcon variant="default" onClick={canvas.redo} disabled={!canRedo} aria-label="redo">
                    <IconArrowForwardUp size={16} />
                  </ActionIcon>
                </Tooltip>
                <Tooltip label={<>Tidy up <Kbd size="xs">Shift L</Kbd></>}>
                  <ActionIcon variant="default" onClick={() => void layout()} aria-label="auto-layout">
                    <IconLayoutDistributeHorizontal size={16} />
                  </ActionIcon>
                </Tooltip>
                <Tooltip label={<>Add a sticky note <Kbd size="xs">N</Kbd></>}>
                  <ActionIcon variant="default" onClick={() => canvas.addSticky(flow.screenToFlowPosition({ x: 400, y: 200 }))} aria-label="add note">
                    <IconNote size={16} />
                  </ActionIcon>
                </Tooltip>
              </>
            )}
            <Button size="xs" variant={copilot ? 'filled' : 'default'} leftSection={<IconSparkles size={14} />} onClick={() => setCopilot((open) => !open)} data-testid="copilot-toggle">
              Copilot
            </Button>
            {loaded.data && (
              <Button size="xs" variant="default" component={Link} href={`/workflows/${loaded.data.id}/triggers`} leftSection={<IconCalendarTime size={14} />}>
                Triggers
              </Button>
            )}
            {canEdit && (
              <Button size="xs" variant="light" leftSection={<IconPlayerPlay size={14} />} onClick={() => void openRun()} disabled={comparison !== null} data-testid="run-button">
                Run{viewingOld ? ` v${version}` : ''}
              </Button>
            )}
            {canEdit && !viewingOld && (
              <Button size="xs" leftSection={<IconDeviceFloppy size={14} />} onClick={() => void doSave()} loading={save.isPending} disabled={comparison !== null} data-testid="save-button">
                Save
              </Button>
            )}
          </Group>
        </Group>
        {viewingOld && (
          <Alert color="orange" variant="light" py={4} radius={0}>
            <Group gap="xs">
              <Text size="sm">
                You are looking at version {version}; the latest is {latest.data?.version}.
              </Text>
              <Button size="compact-xs" variant="subtle" onClick={() => setParams(new URLSearchParams())}>
                Open the latest
              </Button>
            </Group>
          </Alert>
        )}
        {!canEdit && (
          <Alert color="gray" variant="light" py={4} radius={0} data-testid="read-only">
            <Text size="sm">You are a viewer in this workspace: the workflow is read-only.</Text>
          </Alert>
        )}
        <ProblemAlert error={saveError} title="Not saved" />
        <div style={{ display: 'flex', flex: 1, minHeight: 0 }}>
          {!readOnly && !copilot && (
            <div style={{ width: 250, borderRight: '1px solid var(--mantine-color-gray-3)', background: 'white' }}>
              <Palette types={paletteTypes} error={nodeTypes.error} disabled={readOnly} onAdd={addFromPalette} />
            </div>
          )}
          <div style={{ flex: 1, position: 'relative' }} ref={wrapper} onDrop={onDrop} onDragOver={(e) => e.preventDefault()} data-testid="canvas">
            <FlowCanvas readOnly={readOnly} fit={Boolean(loaded.data?.workflow.nodes.length)} onSelect={showNode} />
            {empty && !readOnly && (
              <Text c="dimmed" style={{ position: 'absolute', top: '45%', width: '100%', textAlign: 'center', pointerEvents: 'none' }}>
                Drag a node from the palette to start.
              </Text>
            )}
          </div>
          {copilot && (
            <CopilotDock
              workflowId={loaded.data?.id}
              specs={specs}
              locked={!canEdit ? 'you are a viewer here: the canvas is read-only' : viewingOld ? 'an old version is open; open the latest to apply an edit' : comparison ? 'close the version comparison first' : null}
            />
          )}
          <div style={{ width: 400, borderLeft: '1px solid var(--mantine-color-gray-3)', background: 'white', display: 'flex', flexDirection: 'column' }}>
            <Tabs value={tab} onChange={setTab} style={{ display: 'flex', flexDirection: 'column', height: '100%' }}>
              <Tabs.List>
                <Tabs.Tab value="node">Node</Tabs.Tab>
                <Tabs.Tab value="run" disabled={!runParam}>
                  Run
                </Tabs.Tab>
                <Tabs.Tab value="versions" disabled={!loaded.data}>
                  Versions
                </Tabs.Tab>
              </Tabs.List>
              <Tabs.Panel value="node" style={{ flex: 1, minHeight: 0 }}>
                {selectedNode ? (
                  <ConfigPanel
                    key={selectedNode.id}
                    node={selectedNode}
                    spec={specs.get(selectedNode.type)}
                    problems={nodeProblems}
                    credentials={credentialNames}
                    readOnly={readOnly}
                    complete={completer}
                    changes={comparison?.diff.changed[selectedNode.id]}
                    onChange={changeNode}
                    onRename={renameNode}
                  />
                ) : (
                  <Stack p="md" gap="xs">
                    <Text size="sm" c="dimmed">
                      Select a node to configure it.
                    </Text>
                    {problems.filter((p) => !p.node_id).map((p) => (
                      <Text key={p.pointer + p.message} className="form-problem">
                        {p.pointer}: {p.message}
                      </Text>
                    ))}
                    <Text size="xs" c="dimmed" mt="md">
                      <Kbd size="xs">Ctrl S</Kbd> save · <Kbd size="xs">Ctrl Enter</Kbd> run · <Kbd size="xs">Ctrl C</Kbd>/<Kbd size="xs">V</Kbd> copy and paste · <Kbd size="xs">Del</Kbd> delete · <Kbd size="xs">Shift L</Kbd> tidy up · <Kbd size="xs">N</Kbd> note · Shift-drag to select several
                    </Text>
                  </Stack>
                )}
              </Tabs.Panel>
              <Tabs.Panel value="run" style={{ flex: 1, minHeight: 0 }}>
                {runParam && (
                  <RunDetails
                    executionId={runParam}
                    execution={run.execution}
                    steps={run.steps}
                    workflow={workflowDoc}
                    selectedNode={selected}
                    onSelectNode={(nodeId) => canvas.select(nodeId)}
                    stream={run.stream}
                  />
                )}
              </Tabs.Panel>
              <Tabs.Panel value="versions" style={{ flex: 1, minHeight: 0 }}>
                {loaded.data && (
                  <VersionsPanel
                    workflowId={loaded.data.id}
                    current={loaded.data.version}
                    comparison={comparison}
                    onCompare={setComparison}
                    onOpen={(v) => setParams(v === latest.data?.version ? new URLSearchParams() : new URLSearchParams({ version: String(v) }))}
                    onRestoreCurrent={() => loaded.data && canvas.load(loaded.data.workflow, { readOnly })}
                  />
                )}
              </Tabs.Panel>
            </Tabs>
          </div>
        </div>
      </div>
      <Modal opened={runInput !== null} onClose={() => setRunInput(null)} title="Run with input" size="lg">
        <Stack>
          <Text size="sm" c="dimmed">
            The run's input: templates read it as <span className="mono">trigger</span>.{dirty && !viewingOld ? ' Unsaved changes are saved first, as a new version.' : ''}
          </Text>
          <Suspense fallback={<Loader size="sm" />}>
            <MonacoEditor value={runInput ?? '{}'} onChange={setRunInput} language="json" height={240} testId="run-input" />
          </Suspense>
          <ProblemAlert error={runError} title="Not started" />
          <Group justify="flex-end">
            <Button onClick={() => void startRun()} leftSection={<IconPlayerPlay size={14} />} data-testid="start-run">
              Start the run
            </Button>
          </Group>
        </Stack>
      </Modal>
    </SpecsContext.Provider>
  );
}
