import { Background, Controls, MiniMap, ReactFlow, useReactFlow, useStore, type NodeTypes } from '@xyflow/react';
import { memo, useEffect, useState } from 'react';
import type { CanvasNode } from './convert';
import { useLocation } from 'wouter';
import { StepNodeView } from './StepNodeView';
import { StickyNodeView } from './StickyNodeView';
import { useCanvas } from './store';

const NODE_TYPES: NodeTypes = { step: StepNodeView, sticky: StickyNodeView };
const DELETE_KEYS = ['Delete', 'Backspace'];
const MULTI_KEYS = ['Shift', 'Meta', 'Control'];
const READABLE = 0.5;

/**
 * The first view of a graph: all of it when it fits at a readable zoom, else its start (the
 * top-left corner) at that zoom, so a large graph opens on its first nodes, not as specks,
 * and only what is on screen is drawn.
 */
export function initialViewport(nodes: CanvasNode[], width: number, height: number): { x: number; y: number; zoom: number } {
  if (!nodes.length) return { x: 0, y: 0, zoom: 1 };
  const xs = nodes.map((n) => n.position.x);
  const ys = nodes.map((n) => n.position.y);
  const left = Math.min(...xs) - 40;
  const top = Math.min(...ys) - 40;
  const right = Math.max(...xs) + 260;
  const bottom = Math.max(...ys) + 120;
  const fit = Math.min(width / (right - left), height / (bottom - top), 1.2);
  if (fit >= READABLE) {
    return { x: (width - (right - left) * fit) / 2 - left * fit, y: (height - (bottom - top) * fit) / 2 - top * fit, zoom: fit };
  }
  return { x: -left * READABLE, y: -top * READABLE, zoom: READABLE };
}

interface Props {
  readOnly: boolean;
  fit: boolean;
  onSelect: (id: string | null) => void;
}

/** Sets the first view each time a document is loaded into the canvas. */
export function InitialView() {
  const loads = useCanvas((s) => s.loads);
  const width = useStore((s) => s.width);
  const height = useStore((s) => s.height);
  const flow = useReactFlow();
  useEffect(() => {
    if (width && height) void flow.setViewport(initialViewport(useCanvas.getState().nodes, width, height));
    // Only a new document (or the first size) moves the view; resizing later does not.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [loads, width > 0]);
  return null;
}

/** The canvas: the only part of the builder that follows every node move. */
function FlowCanvasInner({ readOnly, fit, onSelect }: Props) {
  const nodes = useCanvas((s) => s.nodes);
  const edges = useCanvas((s) => s.edges);
  const { onNodesChange, onEdgesChange, onConnect, select } = useCanvas.getState();
  const [, navigate] = useLocation();
  // The minimap redraws every node on every move; during a drag it steps aside.
  const [dragging, setDragging] = useState(false);
  return (
    <ReactFlow
      nodes={nodes}
      edges={edges}
      nodeTypes={NODE_TYPES}
      onNodesChange={onNodesChange}
      onEdgesChange={onEdgesChange}
      onConnect={onConnect}
      onNodeClick={(_, node) => {
        select(node.id);
        onSelect(node.id);
      }}
      onNodeDoubleClick={(_, node) => {
        if (node.type === 'step' && node.data.node.type === 'engine/subworkflow' && typeof node.data.node.config?.workflow === 'string') {
          navigate(`/workflows/${encodeURIComponent(node.data.node.config.workflow)}`);
        }
      }}
      onPaneClick={() => select(null)}
      onNodeDragStart={() => setDragging(true)}
      onNodeDragStop={() => setDragging(false)}
      nodesDraggable={!readOnly}
      nodesConnectable={!readOnly}
      deleteKeyCode={readOnly ? null : DELETE_KEYS}
      multiSelectionKeyCode={MULTI_KEYS}
      selectionOnDrag={false}
      panOnScroll
      defaultViewport={{ x: 0, y: 0, zoom: 1 }}
      minZoom={0.05}
      onlyRenderVisibleElements
      defaultEdgeOptions={{ type: 'smoothstep' }}
      proOptions={{ hideAttribution: true }}
    >
      <Background gap={18} />
      {!dragging && <MiniMap pannable zoomable nodeStrokeWidth={3} />}
      <Controls />
      {fit && <InitialView />}
    </ReactFlow>
  );
}

export const FlowCanvas = memo(FlowCanvasInner);
