/**
 * Canonical JSON: object keys sorted, no insignificant whitespace, `undefined` members dropped,
 * non-finite numbers as null, bigints as strings, Dates as ISO strings. Two equal values always
 * serialise to the same bytes, which is what hashes and approval digests need.
 */
import crypto from 'node:crypto';

/** Serialise `value` canonically. */
export function canonicalJson(value: unknown): string {
  return write(value, new Set());
}

function write(value: unknown, seen: Set<object>): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return JSON.stringify(value.toString());
    case 'undefined':
    case 'function':
    case 'symbol':
      return 'null';
  }
  if (value === null) return 'null';
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  const obj = value as object;
  if (seen.has(obj)) throw new TypeError('canonicalJson: circular structure');
  seen.add(obj);
  let out: string;
  if (Array.isArray(obj)) {
    out = '[' + obj.map((v) => write(v, seen)).join(',') + ']';
  } else {
    const record = obj as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined && typeof record[k] !== 'function' && typeof record[k] !== 'symbol')
      .sort();
    out = '{' + keys.map((k) => JSON.stringify(k) + ':' + write(record[k], seen)).join(',') + '}';
  }
  seen.delete(obj);
  return out;
}

/** Hex sha256 of a string (one-shot `crypto.hash`: no Hash object on the hot path). */
export function sha256Hex(text: string): string {
  return crypto.hash('sha256', text, 'hex');
}
