// Auto-layout with ELK's layered algorithm (left to right), loaded only when asked for.
import type { Edge } from '@xyflow/react';
import type { CanvasNode } from './convert';

export async function autoLayout(nodes: CanvasNode[], edges: Edge[]): Promise<Map<string, { x: number; y: number }>> {
  const { default: ELK } = await import('elkjs/lib/elk.bundled.js');
  const elk = new ELK();
  const steps = nodes.filter((n) => n.type === 'step');
  const ids = new Set(steps.map((n) => n.id));
  const graph = await elk.layout({
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.layered.spacing.nodeNodeBetweenLayers': '90',
      'elk.spacing.nodeNode': '50',
      'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
    },
    children: steps.map((n) => ({ id: n.id, width: n.measured?.width ?? 220, height: n.measured?.height ?? 72 })),
    edges: edges
      .filter((e) => ids.has(e.source) && ids.has(e.target))
      .map((e) => ({ id: e.id, sources: [e.source], targets: [e.target] })),
  });
  const positions = new Map<string, { x: number; y: number }>();
  for (const child of graph.children ?? []) positions.set(child.id, { x: child.x ?? 0, y: child.y ?? 0 });
  return positions;
}
