/**
 * Edit and approve: a person changes a pending call's arguments before approving it. An edit is
 * a list of changes at paths, made against the arguments the person saw (redacted) and applied
 * by the agent to the arguments it holds (real): redacted values are never read or written by
 * an edit, so a secret never passes through an approver, and the agent can prove the call it
 * runs is the one the person approved (its redacted arguments equal the edits applied to the
 * recorded ones). See docs/architecture.md#edit-and-approve.
 */
import { isDeepStrictEqual } from 'node:util';
import { ValidationError } from './errors.js';
import { REDACTED, Redactor } from './redact.js';

/**
 * One change to a call's arguments. `path` names object keys and array indexes (as strings)
 * from the root: `["items", "0", "qty"]`. With `remove: true` the member is deleted; otherwise
 * it is set to `value` (created when its parent exists).
 */
export interface ArgumentEdit {
  path: string[];
  value?: unknown;
  remove?: true;
}

/** Most edits in one approval. */
export const MAX_ARGUMENT_EDITS = 100;

/** Why an edit cannot be applied, as a validation issue on `edits.N`. */
function refuse(index: number, message: string): never {
  throw new ValidationError(`edits.${index}: ${message}`, [{ path: `edits.${index}`, message }]);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * `args` with `edits` applied, in order; `args` is not changed. Throws {@link ValidationError}
 * naming the edit that does not fit (its parent is missing or not an object or array, an index
 * is out of range).
 */
export function applyEdits(args: Record<string, unknown>, edits: readonly ArgumentEdit[]): Record<string, unknown> {
  const result = structuredClone(args);
  edits.forEach((edit, index) => {
    if (edit.path.length === 0) refuse(index, 'the path is empty: name the argument to change');
    let parent: unknown = result;
    for (const [depth, key] of edit.path.slice(0, -1).entries()) {
      parent = member(parent, key);
      if (parent === undefined) refuse(index, `${edit.path.slice(0, depth + 1).join('.')} does not exist in the arguments`);
    }
    const last = edit.path[edit.path.length - 1] as string;
    if (Array.isArray(parent)) {
      const i = arrayIndex(last);
      if (i === undefined || i > parent.length || (edit.remove && i >= parent.length)) refuse(index, `${edit.path.join('.')}: no index ${last} in an array of ${parent.length}`);
      if (edit.remove) parent.splice(i, 1);
      else parent[i] = structuredClone(edit.value);
    } else if (isRecord(parent)) {
      if (edit.remove) {
        if (!Object.hasOwn(parent, last)) refuse(index, `${edit.path.join('.')} does not exist in the arguments`);
        delete parent[last];
      } else {
        // Defined, not assigned: a key named "__proto__" is an argument like any other.
        Object.defineProperty(parent, last, { value: structuredClone(edit.value), writable: true, enumerable: true, configurable: true });
      }
    } else {
      refuse(index, `${edit.path.slice(0, -1).join('.')} is not an object or an array`);
    }
  });
  return result;
}

function member(value: unknown, key: string): unknown {
  if (Array.isArray(value)) {
    const i = arrayIndex(key);
    return i === undefined ? undefined : value[i];
  }
  return isRecord(value) && Object.hasOwn(value, key) ? value[key] : undefined;
}

function arrayIndex(key: string): number | undefined {
  return /^(0|[1-9][0-9]{0,8})$/.test(key) ? Number(key) : undefined;
}

/**
 * Refuse edits a person may not make to arguments recorded as `recorded` (redacted): a change
 * at or inside a redacted value (the person never saw it, and the agent's copy is the real one),
 * or a value that the redaction rules every store applies would hide (a secret put into an
 * approval would be stored in the clear). Throws {@link ValidationError}; returns the edited
 * arguments as the person sees them.
 */
export function checkEdits(recorded: Record<string, unknown>, edits: readonly ArgumentEdit[]): Record<string, unknown> {
  if (edits.length === 0) throw new ValidationError('edits: at least one change is needed (approve without edits instead)', [{ path: 'edits', message: 'empty' }]);
  if (edits.length > MAX_ARGUMENT_EDITS) throw new ValidationError(`edits: at most ${MAX_ARGUMENT_EDITS} changes`, [{ path: 'edits', message: 'too many' }]);
  edits.forEach((edit, index) => {
    let at: unknown = recorded;
    for (const key of edit.path) {
      at = member(at, key);
      if (at === REDACTED) refuse(index, `${edit.path.join('.')} is redacted: a redacted argument cannot be edited (the agent keeps the real value)`);
    }
  });
  const edited = applyEdits(recorded, edits);
  edits.forEach((edit, index) => {
    if (edit.remove) return;
    const seen = ALWAYS_REDACTED.redact({ [edit.path[edit.path.length - 1] as string]: edit.value });
    if (!isDeepStrictEqual(seen, { [edit.path[edit.path.length - 1] as string]: edit.value }) || containsMark(edit.value)) {
      refuse(index, `${edit.path.join('.')} would hold a value the redaction rules hide (a secret): set secrets in the agent, never in an approval`);
    }
  });
  return edited;
}

const ALWAYS_REDACTED = new Redactor();

function containsMark(value: unknown): boolean {
  if (value === REDACTED) return true;
  if (Array.isArray(value)) return value.some(containsMark);
  return isRecord(value) && Object.values(value).some(containsMark);
}

/**
 * The edits that turn `from` into `to` (both plain JSON): objects are compared member by
 * member, anything else (arrays included) is set whole when it differs. For a person who wrote
 * the arguments they want (`--args`, the dashboard's editor).
 */
export function argumentEdits(from: Record<string, unknown>, to: Record<string, unknown>): ArgumentEdit[] {
  const edits: ArgumentEdit[] = [];
  const walk = (a: Record<string, unknown>, b: Record<string, unknown>, path: string[]): void => {
    for (const key of Object.keys(a)) if (!Object.hasOwn(b, key)) edits.push({ path: [...path, key], remove: true });
    for (const [key, value] of Object.entries(b)) {
      const before = Object.hasOwn(a, key) ? a[key] : undefined;
      if (isRecord(before) && isRecord(value)) walk(before, value, [...path, key]);
      else if (!Object.hasOwn(a, key) || !isDeepStrictEqual(before, value)) edits.push({ path: [...path, key], value });
    }
  };
  walk(from, to, []);
  return edits;
}

/**
 * Parse one `--set path=value` of the CLI: a dotted path (`items.0.qty`) and a JSON value, or
 * the text as a string when it is not JSON (`--set region=eu-west-1`).
 */
export function parseSetEdit(text: string): ArgumentEdit {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new ValidationError(`--set ${text}: write path=value, e.g. --set amount=100`, [{ path: '--set', message: 'no =' }]);
  const path = text.slice(0, eq).split('.');
  if (path.some((p) => p.length === 0)) throw new ValidationError(`--set ${text}: the path has an empty part`, [{ path: '--set', message: 'empty path part' }]);
  const raw = text.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    // not JSON: the text itself
  }
  return { path, value };
}
