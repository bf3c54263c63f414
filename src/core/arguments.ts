/**
 * A tool call's arguments as they are evaluated, digested, recorded — and handed to the tool.
 *
 * The promise is that what runs is exactly what was decided. Parsers disagree about hostile input
 * (zod's record parsing drops a `__proto__` key that the tool would still see; a `NaN` and a
 * `null` serialise alike), so arguments are copied once into plain JSON data here, refusing what
 * JSON cannot carry, and that one copy is what the policy, the approval digest, the audit trail
 * and (through the integrations) the tool receive. See docs/architecture.md#what-runs-is-what-was-decided.
 */
import { ValidationError } from './errors.js';

/** Deeper nesting than this is refused (it also stops a circular structure). */
export const MAX_ARGUMENT_DEPTH = 128;

/**
 * Marks an `evaluateAction` input whose `parameters` are already a {@link toCallArguments} copy
 * (`governCall` copies once and hands that copy to the tool), so it is not copied twice. A flag
 * on the input rather than a WeakSet of copies: adding to a WeakSet costs about a microsecond
 * per call on this hot path.
 */
export const ARGUMENTS_COPIED: unique symbol = Symbol('ascend.argumentsCopied');

/**
 * Marks a governed call whose arguments an integration tried to copy when it built the call, and
 * the copy was refused: the error is thrown when the call is governed (a refusal the model reads),
 * never an evaluation of the arguments read a second time.
 */
export const ARGUMENTS_REFUSED: unique symbol = Symbol('ascend.argumentsRefused');

/**
 * A fresh copy of `value` as plain JSON data: objects with `Object.prototype` (or none), arrays,
 * strings, finite numbers, booleans and null. Object members that are `undefined` are left out
 * (as JSON does), `-0` becomes `0`. Anything else is refused with a {@link ValidationError}
 * naming its path: a `__proto__` key, functions, symbols, bigints, `NaN`/`Infinity`, holes or
 * `undefined` in arrays, Dates, Maps and other class instances, nesting deeper than
 * {@link MAX_ARGUMENT_DEPTH}.
 */
export function toCallArguments(value: unknown, path = 'parameters', options: ArgumentOptions = {}): Record<string, unknown> {
  if (!isPlainObject(value)) throw refused(path, `must be an object of JSON data, got ${describe(value)}`);
  return copyObject(value as object, path, 0, options.schemaValues === true);
}

/** Options of {@link toCallArguments}. */
export interface ArgumentOptions {
  /**
   * The arguments come out of a tool's own schema (an integration governs them after the
   * framework parsed the model's JSON), so a Date it made (`z.coerce.date()`) is accepted: the
   * tool gets an equal Date, the policy, the digest and the audit its ISO string.
   */
  schemaValues?: boolean;
}

function copyValue(value: unknown, path: string, depth: number, dates: boolean): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw refused(path, `${String(value)} is not a JSON number`);
      return value === 0 ? 0 : value; // -0 → 0: JSON cannot tell them apart
    case 'object':
      if (value === null) return null;
      if (depth >= MAX_ARGUMENT_DEPTH) throw refused(path, `is nested deeper than ${MAX_ARGUMENT_DEPTH} levels (or is circular)`);
      if (Array.isArray(value)) return copyArray(value, path, depth + 1, dates);
      if (isPlainObject(value)) return copyObject(value as object, path, depth + 1, dates);
      if (dates && value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw refused(path, 'is an invalid Date');
        return new Date(value.getTime());
      }
      throw refused(path, `${describe(value)} is not JSON data${value instanceof Date ? ' (pass date.toISOString())' : ''}`);
    default:
      throw refused(path, `${describe(value)} is not JSON data`);
  }
}

function copyObject(value: object, path: string, depth: number, dates: boolean): Record<string, unknown> {
  const source = value as Record<string, unknown>;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(source)) {
    // `__proto__` is how prototype pollution travels, and parsers disagree on it: refused.
    if (key === '__proto__') throw refused(`${path}.__proto__`, 'a key named "__proto__" is not accepted');
    const member = source[key];
    if (member === undefined) continue;
    copy[key] = copyValue(member, `${path}.${key}`, depth, dates);
  }
  return copy;
}

function copyArray(value: readonly unknown[], path: string, depth: number, dates: boolean): unknown[] {
  const copy = new Array<unknown>(value.length);
  for (let i = 0; i < value.length; i++) {
    if (!(i in value) || value[i] === undefined) throw refused(`${path}.${i}`, 'undefined is not JSON data (use null)');
    copy[i] = copyValue(value[i], `${path}.${i}`, depth, dates);
  }
  return copy;
}

function isPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `a ${(value as object).constructor?.name ?? 'non-plain object'}`;
  if (typeof value === 'undefined') return 'undefined';
  return `a ${typeof value}`;
}

function refused(path: string, message: string): ValidationError {
  return new ValidationError(`Invalid tool arguments: ${path}: ${message}`, [{ path, message }]);
}
