// Config schemas as the form draws them. A value of any JSON type (the schema `{}`, e.g. a
// condition's `value`) has no widget of its own: it is drawn as a text field whose text is
// read as JSON when it parses as a number, list, object, boolean or null, else kept as text.
import type { JsonValue } from '../api/types';
import { fromText } from './textValue';

type Schema = Record<string, unknown>;
const ANY = 'x-any-json';
const SHAPING = ['type', 'enum', 'const', 'anyOf', 'oneOf', 'allOf', 'properties', 'items', 'additionalProperties', 'not'];

function resolve(schema: Schema, root: Schema): Schema {
  const ref = schema.$ref;
  if (typeof ref !== 'string' || !ref.startsWith('#/')) return schema;
  let found: unknown = root;
  for (const part of ref.slice(2).split('/')) found = (found as Schema | undefined)?.[part];
  if (!found || typeof found !== 'object') return schema;
  const { $ref: _ignored, ...rest } = schema;
  void _ignored;
  return { ...(found as Schema), ...rest };
}

function isAny(schema: Schema): boolean {
  return !SHAPING.some((key) => key in schema) && !('$ref' in schema);
}

function prepare(schema: unknown, root: Schema, depth: number): unknown {
  if (!schema || typeof schema !== 'object' || Array.isArray(schema) || depth > 12) return schema;
  let node = schema as Schema;
  if (typeof node.$ref === 'string') {
    const target = resolve(node, root);
    // Inline only references to any-type definitions; others stay references.
    if (target !== node && isAny(target)) node = target;
    else return node;
  }
  if (isAny(node)) return { ...node, type: 'string', [ANY]: true };
  const out: Schema = { ...node };
  if (node.properties && typeof node.properties === 'object') {
    out.properties = Object.fromEntries(Object.entries(node.properties as Schema).map(([k, v]) => [k, prepare(v, root, depth + 1)]));
  }
  if (node.items && typeof node.items === 'object') out.items = prepare(node.items, root, depth + 1);
  if (node.additionalProperties && typeof node.additionalProperties === 'object') out.additionalProperties = prepare(node.additionalProperties, root, depth + 1);
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    if (Array.isArray(node[key])) out[key] = (node[key] as unknown[]).map((s) => prepare(s, root, depth + 1));
  }
  if (node.$defs && typeof node.$defs === 'object') {
    out.$defs = Object.fromEntries(Object.entries(node.$defs as Schema).map(([k, v]) => [k, depth === 0 ? prepare(v, root, depth + 1) : v]));
  }
  return out;
}

/** The schema with any-type values made text fields (marked, so `coerce` can read them back). */
export function prepareSchema<T extends object>(schema: T): T {
  return prepare(schema, schema as Schema, 0) as T;
}

/** Form data back to JSON: the text of any-type fields read as JSON where it parses. */
export function coerce(schema: unknown, data: JsonValue | undefined, root?: Schema): JsonValue | undefined {
  if (!schema || typeof schema !== 'object') return data;
  const top = (root ?? schema) as Schema;
  const node = resolve(schema as Schema, top);
  if (node[ANY] && typeof data === 'string') return fromText(data);
  if (Array.isArray(data)) return data.map((item) => coerce(node.items, item, top) as JsonValue);
  if (data && typeof data === 'object') {
    const properties = (node.properties ?? {}) as Schema;
    const out: Record<string, JsonValue> = {};
    for (const [key, value] of Object.entries(data)) {
      const sub = properties[key] ?? (typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined);
      out[key] = coerce(sub, value, top) as JsonValue;
    }
    return out;
  }
  return data;
}
