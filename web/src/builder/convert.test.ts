import { describe, expect, it } from 'vitest';
import type { NodeType, Workflow } from '../api/types';
import { freshId, fromCanvas, outputHandles, splitDescription, toCanvas } from './convert';

const spec = (type: string, handles: Partial<NodeType['handles']> = {}): NodeType =>
  ({
    type,
    handles: { inputs: [{ id: 'main' }], outputs: [{ id: 'main' }], dynamic_outputs: null, error_output: false, ...handles },
  }) as NodeType;

const SPECS = new Map([
  ['http/request', spec('http/request')],
  ['core/if', spec('core/if', { outputs: [{ id: 'true' }, { id: 'false' }] })],
  ['core/switch', spec('core/switch', { outputs: [], dynamic_outputs: { from_config: '/rules', key: 'branch', fallback: 'default', fallback_from_config: '/fallback' } })],
  ['core/set', spec('core/set')],
]);

const WORKFLOW: Workflow = {
  name: 'price check',
  description: 'Tell cheap from dear.',
  nodes: [
    { id: 'fetch', type: 'http/request', input: { url: '{{ trigger.url }}' }, timeout: 20, position: { x: 0, y: 0 } },
    { id: 'cheap', type: 'core/if', config: { conditions: [{ path: 'price', op: 'lt', value: 10 }] }, position: { x: 300, y: 0 } },
    { id: 'buy', type: 'core/set', secrets: ['api_token'], retry: { max_attempts: 5 }, position: { x: 600, y: -80 } },
    { id: 'wait', type: 'core/set', version: '0.1.0', position: { x: 600, y: 80 } },
  ],
  edges: [
    { source: 'fetch', target: 'cheap' },
    { source: 'cheap', target: 'buy', handle: 'true' },
    { source: 'cheap', target: 'wait', handle: 'false' },
  ],
  triggers: [{ type: 'manual' }],
  settings: { max_steps: 100 },
};

describe('graph ⇄ workflow', () => {
  it('round-trips a workflow through the canvas unchanged', () => {
    const { nodes, edges, description } = toCanvas(WORKFLOW);
    const { name, triggers, settings } = WORKFLOW;
    expect(fromCanvas({ name, triggers, settings }, description, nodes, edges, SPECS)).toEqual(WORKFLOW);
  });

  it('carries branch handles on edges out of branching nodes only', () => {
    const { nodes, edges } = toCanvas(WORKFLOW);
    expect(edges.map((e) => e.sourceHandle)).toEqual(['main', 'true', 'false']);
    // An edge drawn from the main handle of a plain node saves without a handle.
    const drawn = [...edges, { id: 'x', source: 'buy', target: 'wait', sourceHandle: 'main', targetHandle: 'in' }];
    const saved = fromCanvas({ name: 'x' }, '', nodes, drawn, SPECS);
    expect(saved.edges?.at(-1)).toEqual({ source: 'buy', target: 'wait' });
  });

  it('drops edges to nodes that are gone and duplicate edges', () => {
    const { nodes, edges } = toCanvas(WORKFLOW);
    const withoutWait = nodes.filter((n) => n.id !== 'wait');
    const saved = fromCanvas({ name: 'x' }, '', withoutWait, [...edges, edges[0]], SPECS);
    expect(saved.edges).toEqual([{ source: 'fetch', target: 'cheap' }, { source: 'cheap', target: 'buy', handle: 'true' }]);
  });

  it('keeps sticky notes in the description and reads them back', () => {
    const { nodes, edges } = toCanvas(WORKFLOW);
    const note = { id: 'note_1', type: 'sticky' as const, position: { x: 5, y: 6 }, data: { text: 'why', width: 200, height: 100, color: 'yellow' } };
    const saved = fromCanvas({ name: 'x' }, 'About it.', [note, ...nodes], edges, SPECS);
    expect(saved.description).toContain('About it.');
    const back = splitDescription(saved.description);
    expect(back.text).toBe('About it.');
    expect(back.notes).toEqual([{ id: 'note_1', text: 'why', x: 5, y: 6, width: 200, height: 100, color: 'yellow' }]);
    expect(toCanvas(saved).nodes.filter((n) => n.type === 'sticky')).toHaveLength(1);
  });

  it('lays out nodes without positions in a row', () => {
    const { nodes } = toCanvas({ name: 'x', nodes: [{ id: 'a', type: 'core/set' }, { id: 'b', type: 'core/set' }] });
    expect(nodes.map((n) => n.position)).toEqual([{ x: 0, y: 0 }, { x: 260, y: 0 }]);
  });
});

describe('output handles', () => {
  it('come from the node type, or from the rules of a switch with its fallback', () => {
    expect(outputHandles({ id: 'a', type: 'core/if' }, SPECS.get('core/if')).map((h) => h.id)).toEqual(['true', 'false']);
    const route = { id: 'r', type: 'core/switch', config: { rules: [{ branch: 'missing' }, { branch: 'ok' }, { branch: 'ok' }], fallback: 'other' } };
    expect(outputHandles(route, SPECS.get('core/switch')).map((h) => h.id)).toEqual(['missing', 'ok', 'other']);
    const noFallback = { ...route, config: { ...route.config, fallback: null } };
    expect(outputHandles(noFallback, SPECS.get('core/switch')).map((h) => h.id)).toEqual(['missing', 'ok']);
    const unset = { ...route, config: { rules: route.config.rules } };
    expect(outputHandles(unset, SPECS.get('core/switch')).map((h) => h.id)).toEqual(['missing', 'ok', 'default']);
    expect(outputHandles({ id: 'u', type: 'x/unknown' }, undefined)).toEqual([{ id: 'main' }]);
  });
});

describe('fresh ids', () => {
  it('name a node after its capability and number it when taken', () => {
    expect(freshId('http/request', new Set())).toBe('request');
    expect(freshId('http/request', new Set(['request', 'request_2']))).toBe('request_3');
    expect(freshId('ocr-tesseract/2pass', new Set())).toBe('_2pass');
  });
});
