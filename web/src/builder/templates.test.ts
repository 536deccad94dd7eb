import { describe, expect, it } from 'vitest';
import type { Step } from '../api/types';
import { complete, scopeFromRun, upstream } from './templates';

const step = (node_id: string, output: unknown, status = 'completed', iteration = '0'): Step =>
  ({ id: Math.random(), node_id, status, iteration, output, attempt: 1 }) as unknown as Step;

const steps = [
  step('fetch', { status: 200, json: { title: 'A lamp', items: [{ name: 'x' }], 'content-type': 'json' } }),
  step('check', { branch: 'true', data: {} }),
  step('fetch', { broken: true }, 'failed'),
  step('each', { x: 1 }, 'completed', '0:3'),
];
const scope = scopeFromRun(steps, { url: 'https://example.com', limit: 5 }, { id: 'run-1' });
const labels = (before: string, available = ['check', 'fetch']) => complete(before, scope, available).map((c) => c.label);

describe('template completion', () => {
  it('offers the roots at the start of an expression', () => {
    expect(labels('{{ ')).toEqual(['nodes', 'trigger', 'execution']);
    expect(labels('{{ tr')).toEqual(['trigger']);
    expect(labels('{% if ')).toEqual(['nodes', 'trigger', 'execution']);
  });

  it('offers the nodes that run before this one, then their recorded fields', () => {
    expect(labels('{{ nodes.')).toEqual(['check', 'fetch']);
    expect(labels('{{ nodes.', ['fetch'])).toEqual(['fetch']);
    expect(labels('{{ nodes.fetch.')).toEqual(['output', 'branch', 'runs']);
    expect(labels('{{ nodes.fetch.output.')).toEqual(['status', 'json']);
    expect(labels('{{ nodes.fetch.output.json.t')).toEqual(['title']);
    expect(labels('{{ nodes.check.branch')).toEqual(['branch']);
  });

  it('quotes keys that are not names and shows what the last run held', () => {
    const found = complete('{{ nodes.fetch.output.json.', scope, ['fetch']);
    expect(found.find((c) => c.label === 'content-type')?.insert).toBe("['content-type']");
    expect(found.find((c) => c.label === 'title')?.detail).toBe('"A lamp"');
    expect(found.find((c) => c.label === 'items')?.detail).toBe('list of 1');
    expect(labels('{{ trigger.')).toEqual(['url', 'limit']);
    expect(labels('{{ execution.')).toContain('id');
  });

  it('offers nothing outside an expression or after it closes', () => {
    expect(labels('plain text nodes.')).toEqual([]);
    expect(labels('{{ nodes.fetch }} and nodes.')).toEqual([]);
  });

  it('rebuilds the scope from completed attempts, not failed ones or map items', () => {
    expect(scope.nodes.fetch.output).toEqual(steps[0].output);
    expect(scope.nodes.check.branch).toBe('true');
    expect(scope.nodes.each).toBeUndefined();
  });

  it('knows which nodes can run before a node', () => {
    const edges = [
      { source: 'a', target: 'b' },
      { source: 'b', target: 'c' },
      { source: 'x', target: 'c' },
      { source: 'c', target: 'b' },
    ];
    expect(upstream({ edges }, 'c')).toEqual(['a', 'b', 'x']);
    expect(upstream({ edges }, 'a')).toEqual([]);
  });
});
