// A first input for a manual run: the last run's, else fields the templates read from
// `trigger`, filled from the trigger schema where one is declared.
import type { JsonObject, JsonValue, NodeType, Workflow } from '../api/types';

export function sampleFromSchema(schema: JsonObject | null | undefined, depth = 0): JsonValue {
  if (!schema || depth > 4) return null;
  if ('default' in schema) return schema.default as JsonValue;
  if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0] as JsonValue;
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0] as JsonValue;
  switch (type) {
    case 'object': {
      const out: JsonObject = {};
      for (const [key, sub] of Object.entries((schema.properties ?? {}) as Record<string, JsonObject>)) out[key] = sampleFromSchema(sub, depth + 1);
      return out;
    }
    case 'array':
      return [];
    case 'string':
      return '';
    case 'integer':
    case 'number':
      return 0;
    case 'boolean':
      return false;
    default:
      return null;
  }
}

export function seedInput(workflow: Workflow, specs: Map<string, NodeType>, lastInput: JsonObject | null | undefined): JsonObject {
  if (lastInput && Object.keys(lastInput).length) return lastInput;
  const seed: JsonObject = {};
  for (const node of workflow.nodes) {
    const schema = specs.get(node.type)?.trigger_schema;
    const sample = sampleFromSchema(schema);
    if (sample && typeof sample === 'object' && !Array.isArray(sample)) Object.assign(seed, sample);
  }
  const text = JSON.stringify(workflow.nodes.map((n) => [n.input, n.config]));
  for (const match of text.matchAll(/trigger\.([A-Za-z_][A-Za-z0-9_]*)/g)) if (!(match[1] in seed)) seed[match[1]] = '';
  const cron = workflow.triggers?.find((t) => t.type === 'cron');
  if (cron && cron.type === 'cron' && cron.input) Object.assign(seed, cron.input);
  return seed;
}
