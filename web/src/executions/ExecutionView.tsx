import '@xyflow/react/dist/style.css';
import { Anchor, Group, Loader, Stack, Text } from '@mantine/core';
import { Background, Controls, MiniMap, ReactFlow, ReactFlowProvider, type NodeTypes } from '@xyflow/react';
import { useEffect, useMemo } from 'react';
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

/** One run: the graph of the version it ran, coloured by what each node did, and every attempt. */
export default function ExecutionView({ id }: { id: string }) {
  const run = useRun(id);
  const execution = run.execution;
  const workflow = useWorkflow(execution?.workflow_id, execution?.workflow_version);
  const nodeTypes = useNodeTypes();
  const specs = useMemo(() => new Map((nodeTypes.data ?? []).map((t) => [t.type, t])), [nodeTypes.data]);
  const nodes = useCanvas((s) => s.nodes);
  const plainEdges = useCanvas((s) => s.edges);
  const selected = useCanvas((s) => s.selected);
  const { onNodesChange, select } = useCanvas.getState();
  // The path the run took: edges between nodes that both ran, recomputed when a status changes.
  const edges = useMemo(
    () => plainEdges.map((e) => ({ ...e, animated: run.nodeStatus[e.source] === 'completed' && Boolean(run.nodeStatus[e.target]) })),
    [plainEdges, run.nodeStatus],
  );

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
                proOptions={{ hideAttribution: true }}
              >
                <Background gap={18} />
                <MiniMap pannable zoomable />
                <Controls showInteractive={false} />
                <InitialView />
              </ReactFlow>
            </ReactFlowProvider>
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
