/**
 * A faster twin of {@link canonicalJson} for hot paths (audit records, call digests). It must produce exactly the
 * same bytes (a property test checks this against `src/core/canonical.ts`): the audit hash is defined
 * over `canonicalJson`, and another Store implementation will compute it with that function.
 *
 * Why it is faster: strings that need no escaping are quoted by concatenation (a `JSON.stringify`
 * call per short string is most of the cost), object keys' quoted forms are cached, no
 * `filter`/`map`/`join` arrays, no sort when keys already come sorted (the usual case for objects
 * we built), and a depth counter instead of a `Set` for cycles.
 */
import { canonicalJson } from './canonical.js';

/** Past this depth we hand over to {@link canonicalJson}, which detects cycles (and throws). */
const MAX_FAST_DEPTH = 64;

/** Characters `JSON.stringify` escapes (quote, backslash, controls) and any surrogate (lone ones are escaped). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** Quoted object keys: the same few dozen names come back all the time. */
const quotedKeys = new Map<string, string>();
const MAX_CACHED_KEYS = 2048;

/** Canonical JSON of `value`; byte-for-byte equal to `canonicalJson(value)`. */
export function canonicalJsonFast(value: unknown): string {
  return write(value, 0);
}

/** A JSON string literal, equal to `JSON.stringify(value)`. */
export function jsonString(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : '"' + value + '"';
}

function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = jsonString(key);
    if (quotedKeys.size < MAX_CACHED_KEYS) quotedKeys.set(key, quoted);
  }
  return quoted;
}

/** Canonical JSON of a string that may be absent: `null` when it is. */
export function jsonStringOrNull(value: string | null | undefined): string {
  return typeof value === 'string' ? jsonString(value) : value === undefined || value === null ? 'null' : canonicalJsonFast(value);
}

function write(value: unknown, depth: number): string {
  switch (typeof value) {
    case 'string':
      return jsonString(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
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
  if (depth >= MAX_FAST_DEPTH) return canonicalJson(value);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += write(value[i], depth + 1);
    }
    return out + ']';
  }
  const record = value as Record<string, unknown>;
  let keys = Object.keys(record);
  for (let i = 1; i < keys.length; i++) {
    if ((keys[i - 1] as string) > (keys[i] as string)) {
      keys = keys.slice().sort();
      break;
    }
  }
  let out = '{';
  let first = true;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const v = record[key];
    const t = typeof v;
    if (t === 'undefined' || t === 'function' || t === 'symbol') continue;
    if (!first) out += ',';
    first = false;
    out += quotedKey(key) + ':' + write(v, depth + 1);
  }
  return out + '}';
}

/** Writes one field's value as canonical JSON. */
export type FieldWriter = (value: unknown) => string;

/**
 * A writer for objects of a known shape: canonical JSON of `{ [k]: obj[k] for k in keys }` (so
 * members not listed are not written), equal to `canonicalJson` of that projection. Keys are
 * sorted once here, their quoted forms built once; `writers` may give a field its own writer
 * (which must itself be canonical). Non-objects are written as they are.
 */
export function objectWriter(keys: readonly string[], writers: Readonly<Record<string, FieldWriter>> = {}): (obj: object) => string {
  const sorted = [...keys].sort();
  const prefixes = sorted.map((k) => jsonString(k) + ':');
  const fieldWriters = sorted.map((k) => writers[k] ?? canonicalJsonFast);
  const n = sorted.length;
  return (obj: object): string => {
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj) || obj instanceof Date) return canonicalJsonFast(obj);
    const record = obj as Record<string, unknown>;
    let out = '{';
    let first = true;
    for (let i = 0; i < n; i++) {
      const v = record[sorted[i] as string];
      const t = typeof v;
      if (t === 'undefined' || t === 'function' || t === 'symbol') continue;
      out += (first ? '' : ',') + (prefixes[i] as string) + (fieldWriters[i] as FieldWriter)(v);
      first = false;
    }
    return out + '}';
  };
}

/** A writer for arrays whose elements are written by `element` (non-arrays: written as they are). */
export function arrayWriter(element: FieldWriter): FieldWriter {
  return (value: unknown): string => {
    if (!Array.isArray(value)) return canonicalJsonFast(value);
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const t = typeof v;
      // Inside arrays undefined/function/symbol become null, as in canonicalJson.
      out += (i > 0 ? ',' : '') + (t === 'undefined' || t === 'function' || t === 'symbol' ? 'null' : element(v));
    }
    return out + ']';
  };
}
