import { MantineProvider } from '@mantine/core';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import type { RJSFSchema } from '@rjsf/utils';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { NodeType, WorkflowNode } from '../api/types';
import { ConfigPanel, problemsToErrorSchema } from './ConfigPanel';
import { coerce, prepareSchema } from './schemaPrep';
import { schemaErrors } from './schemaValidator';

vi.mock('wouter', () => ({ useLocation: () => ['/', () => undefined] }));

const IF_SCHEMA: RJSFSchema = {
  $defs: {
    Condition: {
      type: 'object',
      additionalProperties: false,
      properties: {
        path: { type: 'string', title: 'Path', default: '' },
        op: { type: 'string', title: 'Op', enum: ['eq', 'lt', 'gt'], default: 'eq' },
        value: { $ref: '#/$defs/JsonValue', title: 'Value' },
      },
    },
    JsonValue: {},
  },
  type: 'object',
  properties: {
    conditions: { type: 'array', title: 'Conditions', items: { $ref: '#/$defs/Condition' }, minItems: 1 },
    combine: { type: 'string', enum: ['all', 'any'], default: 'all', title: 'Combine' },
    timeout: { type: 'number', exclusiveMinimum: 0, title: 'Timeout' },
  },
  required: ['conditions'],
} as unknown as RJSFSchema;

const SPEC = {
  type: 'core/if',
  plugin: 'core',
  title: 'If',
  description: 'Route the item.',
  builtin: true,
  versions: ['0.1.0'],
  version: '0.1.0',
  config_schema: IF_SCHEMA,
  operations: { run: { input_schema: { type: 'object', properties: { data: { description: 'The item.' } }, required: ['data'] } } },
  default_operation: 'run',
  handles: { inputs: [], outputs: [{ id: 'true' }, { id: 'false' }], dynamic_outputs: null, error_output: false },
  secrets: ['api_token'],
} as unknown as NodeType;

afterEach(cleanup);

function panel(node: WorkflowNode, onChange = vi.fn(), problems = []) {
  render(
    <MantineProvider>
      <ConfigPanel node={node} spec={SPEC} problems={problems} credentials={['api_token']} readOnly={false} complete={() => []} onChange={onChange} onRename={() => null} />
    </MantineProvider>,
  );
  return onChange;
}

describe('forms from JSON Schemas', () => {
  it('draws a field per config property, with enums as choices and a field per input', () => {
    panel({ id: 'check', type: 'core/if', config: { conditions: [{ path: 'price', op: 'lt', value: 10 }] }, input: {} });
    expect(screen.getByDisplayValue('price')).toBeTruthy();
    expect((screen.getByLabelText(/^Op/) as HTMLSelectElement).selectedOptions[0].textContent).toBe('lt');
    expect(screen.getByDisplayValue('10')).toBeTruthy();
    expect(screen.getByLabelText(/^Combine/)).toBeTruthy();
    expect(screen.getByLabelText('input data')).toBeTruthy();
  });

  it('reads any-type fields back as JSON when they parse, else as text', () => {
    const onChange = panel({ id: 'check', type: 'core/if', config: { conditions: [{ path: 'price', op: 'lt', value: 10 }] } });
    fireEvent.change(screen.getByDisplayValue('10'), { target: { value: '25' } });
    expect(onChange.mock.calls.at(-1)?.[0].config.conditions[0].value).toBe(25);
    fireEvent.change(screen.getByDisplayValue('25'), { target: { value: 'cheap' } });
    expect(onChange.mock.calls.at(-1)?.[0].config.conditions[0].value).toBe('cheap');
  });

  it('shows the server’s message under the field it names', () => {
    panel({ id: 'check', type: 'core/if', config: { conditions: [{ path: 'x' }], timeout: -1 } }, vi.fn(), [
      { node_id: 'check', pointer: '/config/timeout', message: "config field 'timeout': must be > 0; set a number of seconds", code: 'config_invalid', severity: 'error' },
    ] as never);
    expect(screen.getByText(/must be > 0; set a number of seconds/)).toBeTruthy();
  });

  it('maps problems to an error schema by JSON pointer', () => {
    const schema = problemsToErrorSchema(
      [
        { node_id: 'a', pointer: '/config/conditions/0/op', message: 'bad op', code: 'config_invalid', severity: 'error' },
        { node_id: 'a', pointer: '/input/url', message: 'not here', code: 'input_invalid', severity: 'error' },
      ],
      '/config',
    );
    expect(schema).toEqual({ conditions: { 0: { op: { __errors: ['bad op'] } } } });
  });

  it('prepares any-type schemas as text and validates without eval', () => {
    const prepared = prepareSchema(IF_SCHEMA);
    const condition = (prepared.$defs as unknown as Record<string, { properties: Record<string, unknown> }>).Condition;
    expect(condition.properties.value).toMatchObject({ type: 'string', 'x-any-json': true, title: 'Value' });
    expect(coerce(prepared, { conditions: [{ value: '[1, 2]' }, { value: '{{ x }}' }] })).toEqual({ conditions: [{ value: [1, 2] }, { value: '{{ x }}' }] });
    expect(schemaErrors(IF_SCHEMA, { conditions: [], timeout: 0 }).map((e) => e.property).sort()).toEqual(['.conditions', '.timeout']);
    expect(schemaErrors(IF_SCHEMA, { conditions: [{ op: 'lt', value: 1 }] })).toEqual([]);
  });
});
