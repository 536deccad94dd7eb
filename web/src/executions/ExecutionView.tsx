import '@xyflow/react/dist/style.css';
import { Anchor, Group, Loader, Stack, Text } from '@mantine/core';
import { Background, Controls, MiniMap, ReactFlow, ReactFlowProvider, type Edge, type NodeTypes } from '@xyflow/react';
import { memo, useEffect, useMemo, useRef } from 'react';
import { Link } from 'wouter';
import { useNodeTypes, useWorkflow } from '../api/hooks';
import { SpecsContext } from '../builder/specs';
import { InitialView } from '../builder/FlowCanvas';
import { StepNodeView } from '../builder/StepNodeView';
import { StickyNodeView } from '../builder/StickyNodeView';
import { useCanvas } from '../builder/store';
import { ProblemAlert } from '../ui/Problem';
import { ago } from '../ui/Status';
import { RunDetails } from './RunDetails';
import { useRun } from './useRun';

const NODE_TYPES: NodeTypes = { step: StepNodeView, sticky: StickyNodeView };
const PRO_OPTIONS = { hideAttribution: true };
const TAKEN = 'run-taken';

/**
 * The edges with the path the run took marked (both ends ran, the source completed). An edge
 * whose mark did not change keeps its object, so a step finishing redraws the edges it touches,
 * not all of them. The mark is a static style: a dash animated on every taken edge of a
 * large graph repaints the canvas on every frame for as long as the page is open.
 */
function useTakenEdges(plain: Edge[], status: Record<string, string>): Edge[] {
  const made = useRef(new Map<string, Edge>());
  return useMemo(() => {
    const before = made.current;
    const next = new Map<string, Edge>();
    const result = plain.map((edge) => {
      const taken = status[edge.source] === 'completed' && Boolean(status[edge.target]);
      const old = before.get(edge.id);
      const same = old !== undefined && old.source === edge.source && old.target === edge.target && (old.className === TAKEN) === taken && old.sourceHandle === edge.sourceHandle && old.data === edge.data;
      const kept = same ? old : { ...edge, className: taken ? TAKEN : undefined };
      next.set(edge.id, kept);
      return kept;
    });
    made.current = next;
    return result;
  }, [plain, status]);
}

/** The read-only graph of a run; drawn again only when its nodes or edges change, not with every step. */
const RunCanvas = memo(function RunCanvas({ edges }: { edges: Edge[] }) {
  const nodes = useCanvas((s) => s.nodes);
  const { onNodesChange, select } = useCanvas.getState();
  return (
    <ReactFlowProvider>
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={NODE_TYPES}
        onNodesChange={onNodesChange}
        onNodeClick={(_, node) => select(node.id)}
        onPaneClick={() => select(null)}
        onlyRenderVisibleElements
        nodesDraggable={false}
        nodesConnectable={false}
        minZoom={0.05}
        proOptions={PRO_OPTIONS}
      >
        <Background gap={18} />
        <MiniMap pannable zoomable />
        <Controls showInteractive={false} />
        <InitialView />
      </ReactFlow>
    </ReactFlowProvider>
  );
});

/** One run: the graph of the version it ran, coloured by what each node did, and every attempt. */
export default function ExecutionView({ id }: { id: string }) {
  const run = useRun(id);
  const execution = run.execution;
  const workflow = useWorkflow(execution?.workflow_id, execution?.workflow_version);
  const nodeTypes = useNodeTypes();
  const specs = useMemo(() => new Map((nodeTypes.data ?? []).map((t) => [t.type, t])), [nodeTypes.data]);
  const plainEdges = useCanvas((s) => s.edges);
  const selected = useCanvas((s) => s.selected);
  const { select } = useCanvas.getState();
  const edges = useTakenEdges(plainEdges, run.nodeStatus);

  useEffect(() => {
    if (workflow.data) useCanvas.getState().load(workflow.data.workflow, { readOnly: true });
  }, [workflow.data]);
  // Loading the graph clears the canvas's statuses: apply them again after every load.
  const loads = useCanvas((s) => s.loads);
  useEffect(() => {
    useCanvas.getState().setRunStatus(run.nodeStatus);
  }, [run.nodeStatus, loads]);

  if (run.detail.error) return <ProblemAlert error={run.detail.error} title="This run could not be opened" />;
  if (!execution) return <Loader m="xl" />;

  return (
    <SpecsContext.Provider value={specs}>
      <div style={{ display: 'flex', height: 'calc(100dvh - 52px)' }}>
        <Stack style={{ flex: 1 }} gap={0}>
          <Group px="sm" py={6} gap="xs" style={{ borderBottom: '1px solid var(--mantine-color-gray-3)', background: 'white' }}>
            <Anchor component={Link} href={`/workflows/${execution.workflow_id}?run=${id}`} fw={600}>
              {workflow.data?.name ?? 'workflow'} v{execution.workflow_version}
            </Anchor>
            <Text size="sm" c="dimmed">
              started {ago(execution.started_at)} by {execution.trigger}
              {execution.replay_of ? ' (a replay)' : ''}
            </Text>
            {execution.replay_of && (
              <Anchor component={Link} href={`/executions/${execution.replay_of}`} size="sm">
                the original run
              </Anchor>
            )}
          </Group>
          <div style={{ flex: 1 }} data-testid="canvas">
            <RunCanvas edges={edges} />
          </div>
        </Stack>
        <div style={{ width: 440, borderLeft: '1px solid var(--mantine-color-gray-3)', background: 'white' }}>
          <RunDetails
            executionId={id}
            execution={execution}
            steps={run.steps}
            workflow={workflow.data?.workflow}
            selectedNode={selected}
            onSelectNode={select}
            stream={run.stream}
          />
        </div>
      </div>
    </SpecsContext.Provider>
  );
}
