// A proposed workflow, drawn small and read-only beside the chat: what Accept would save.
import { Background, Position, ReactFlow, ReactFlowProvider, type Edge, type Node } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { useMemo } from 'react';
import type { Json, JsonObject } from './model';

interface Changes {
  added?: string[];
  removed?: string[];
  changed?: Record<string, string[]>;
}

const COLORS = { added: '#2f9e44', changed: '#f08c00', same: '#868e96' };

export function MiniCanvas({ workflow, changes, height = 220 }: { workflow: JsonObject; changes?: Changes; height?: number }) {
  const { nodes, edges } = useMemo(() => {
    const raw = Array.isArray(workflow.nodes) ? (workflow.nodes as JsonObject[]) : [];
    const added = new Set(changes?.added ?? []);
    const changed = new Set(Object.keys(changes?.changed ?? {}));
    const nodes: Node[] = raw.map((node, index) => {
      const id = String(node.id);
      const position = (node.position as { x?: number; y?: number } | null) ?? {};
      const status = added.has(id) ? 'added' : changed.has(id) ? 'changed' : 'same';
      return {
        id,
        position: { x: position.x ?? index * 240, y: position.y ?? 0 },
        data: { label: `${id} · ${String(node.type)}` },
        style: { border: `2px solid ${COLORS[status]}`, fontSize: 12, width: 200 },
        sourcePosition: Position.Right,
        targetPosition: Position.Left,
        draggable: false,
        connectable: false,
      };
    });
    const list = Array.isArray(workflow.edges) ? (workflow.edges as JsonObject[]) : [];
    const edges: Edge[] = list.map((edge: Json, index) => {
      const e = edge as JsonObject;
      return { id: `e${index}`, source: String(e.source), target: String(e.target), label: e.handle ? String(e.handle) : undefined };
    });
    return { nodes, edges };
  }, [workflow, changes]);
  return (
    <div style={{ height, border: '1px solid var(--mantine-color-gray-3)', borderRadius: 6 }} data-testid="proposal-canvas">
      {/* Its own store: inside the builder it would otherwise share (and re-fit) the big canvas's. */}
      <ReactFlowProvider>
        <ReactFlow
          nodes={nodes}
          edges={edges}
          fitView
          fitViewOptions={{ padding: 0.15 }}
          nodesDraggable={false}
          nodesConnectable={false}
          elementsSelectable={false}
          zoomOnScroll={false}
          proOptions={{ hideAttribution: true }}
        >
          <Background gap={16} />
        </ReactFlow>
      </ReactFlowProvider>
    </div>
  );
}
