/**
 * A tool's result as plain JSON data the audit trail can hold. A result is whatever the tool
 * returned — an HTTP response that refers back to itself, a driver's objects, a getter that
 * throws, a Proxy — and once the tool has run its completion must be recorded, so this never
 * throws: what JSON cannot carry becomes a short marker in its place. Arguments are different
 * (they are refused, see arguments.ts): a call can be refused before it runs, a result cannot.
 */

/** Deeper than this, a value is replaced by {@link NESTED_TOO_DEEP}. */
export const MAX_RESULT_DEPTH = 64;
/** Values visited at most; the rest is replaced by {@link LEFT_OUT} (the recorded preview is short anyway). */
export const MAX_RESULT_VALUES = 10_000;

/** Recorded in place of a value that contains itself. */
export const CIRCULAR = '[Circular]';
/** Recorded in place of a value nested deeper than {@link MAX_RESULT_DEPTH}. */
export const NESTED_TOO_DEEP = '[Nested too deep]';
/** Recorded in place of what is left once {@link MAX_RESULT_VALUES} values were visited. */
export const LEFT_OUT = '[Left out: too large]';

/** Plain JSON data for `value`: never throws, never returns a cycle. */
export function storableResult(value: unknown): unknown {
  // Most results are a primitive or a string: no walk.
  if (typeof value !== 'object' || value === null) return leaf(value);
  return new ResultCopy().copy(value, 0);
}

class ResultCopy {
  private readonly ancestors = new Set<object>();
  private visited = 0;

  copy(value: unknown, depth: number): unknown {
    if (++this.visited > MAX_RESULT_VALUES) return LEFT_OUT;
    if (typeof value !== 'object' || value === null) return leaf(value);
    if (this.ancestors.has(value)) return CIRCULAR;
    if (depth >= MAX_RESULT_DEPTH) return NESTED_TOO_DEEP;
    this.ancestors.add(value);
    try {
      return this.copyObject(value, depth);
    } catch (err) {
      return unreadable(err);
    } finally {
      this.ancestors.delete(value);
    }
  }

  private copyObject(value: object, depth: number): unknown {
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
    if (value instanceof Error) {
      const code = (value as { code?: unknown }).code;
      return { type: String(value.name), message: String(value.message), ...(code === undefined ? {} : { code: this.copy(code, depth + 1) }) };
    }
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    // As JSON.stringify does (a Buffer, a decimal, a driver's row); once, so a toJSON returning its own kind cannot loop.
    if (typeof toJSON === 'function') return this.copyPlain(toJSON.call(value) as unknown, depth);
    return this.copyPlain(value, depth);
  }

  private copyPlain(value: unknown, depth: number): unknown {
    if (typeof value !== 'object' || value === null) return leaf(value);
    if (Array.isArray(value)) {
      const out: unknown[] = [];
      for (let i = 0; i < value.length; i++) {
        if (this.visited >= MAX_RESULT_VALUES) {
          out.push(LEFT_OUT);
          break;
        }
        const member = this.member(value, String(i), depth);
        out.push(member === undefined ? null : member);
      }
      return out;
    }
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      if (this.visited >= MAX_RESULT_VALUES) {
        out[key] = LEFT_OUT;
        break;
      }
      const member = this.member(value as Record<string, unknown>, key, depth);
      // Defined as a plain data property: a key named "__proto__" stays a key.
      if (member !== undefined) Object.defineProperty(out, key, { value: member, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }

  private member(container: object, key: string, depth: number): unknown {
    let member: unknown;
    try {
      member = (container as Record<string, unknown>)[key];
    } catch (err) {
      return unreadable(err);
    }
    if (typeof member === 'function' || typeof member === 'symbol') return undefined; // as JSON leaves them out
    return this.copy(member, depth + 1);
  }
}

function leaf(value: unknown): unknown {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return String(value);
    case 'function':
    case 'symbol':
      return undefined;
    default:
      return value; // string, boolean, null, undefined
  }
}

function unreadable(err: unknown): string {
  let why: string;
  try {
    why = err instanceof Error ? String(err.message) : String(err);
  } catch {
    why = 'unknown';
  }
  return `[Unreadable: ${why.slice(0, 200)}]`;
}
