import type { JsonValue } from '../api/types';

/** Text typed into a field: JSON when it reads as a number, list, object, boolean or null; else a string. */
export function fromText(text: string): JsonValue {
  const trimmed = text.trim();
  if (/^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null|\[.*\]|\{(?!\{|%).*\})$/s.test(trimmed)) {
    try {
      return JSON.parse(trimmed) as JsonValue;
    } catch {
      return text;
    }
  }
  return text;
}
