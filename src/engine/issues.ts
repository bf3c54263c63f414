/**
 * Turning schema issues into problems a person can fix: where (line), what, and how to fix it,
 * including "did you mean" for misspelt keys and values.
 */
import type * as z from 'zod/mini';
import { EFFECTS, policyKnownKeys } from './policy.js';
import type { PolicySource, SourcePosition } from './source.js';
import { closest } from '../core/did-you-mean.js';

/** One problem in a policy document. */
export interface PolicyProblem extends SourcePosition {
  message: string;
  fix: string;
  ruleId?: string;
  /** Lower is reported first: a misspelt key (0) explains the "missing key" (2) it causes. */
  rank?: number;
}

type Path = ReadonlyArray<string | number>;

/** `rules[2].limit.per` */
export function pathText(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out || '(document)';
}

/** Keys allowed in the object at `path`. */
function knownKeysAt(path: Path): readonly string[] {
  const known = policyKnownKeys();
  if (path.length === 0) return known.policy;
  const last = path[path.length - 1];
  if (last === 'risk') return known.risk;
  if (last === 'approvals') return known.approvals;
  if (last === 'limit') return known.limit;
  if (path[0] === 'rules' && path.length === 2) return known.rule;
  return [];
}

const EXAMPLES: Record<string, string> = {
  version: 'version: 1',
  id: 'id: my-rule',
  actions: 'actions: ["database.query"]',
  effect: `effect: ${EFFECTS.join(' | ')}`,
  count: 'limit: { count: 100, per: 1h }',
  per: 'per: 1h',
};

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function valueAt(data: unknown, path: Path): unknown {
  let v = data;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

/** The id of the rule a path is inside of, if any. */
export function ruleIdAt(data: unknown, path: Path): string | undefined {
  if (path[0] !== 'rules' || typeof path[1] !== 'number') return undefined;
  const id = valueAt(data, ['rules', path[1], 'id']);
  return typeof id === 'string' ? id : undefined;
}

/** Describe one zod issue of the policy schema as a located problem with a fix. */
export function describeIssue(issue: z.core.$ZodIssue, data: unknown, source: PolicySource): PolicyProblem {
  const path = issue.path as Path;
  const where = pathText(path);
  const key = path[path.length - 1];
  const keyName = typeof key === 'string' ? key : undefined;
  const ruleId = ruleIdAt(data, path);
  const at = (pos: SourcePosition, message: string, fix: string, rank = 1): PolicyProblem => ({ ...pos, message, fix, rank, ...(ruleId ? { ruleId } : {}) });

  switch (issue.code) {
    case 'unrecognized_keys': {
      const unknown = issue.keys[0] as string;
      const known = knownKeysAt(path);
      const guess = closest(unknown, known);
      const others = issue.keys.length > 1 ? ` (also ${issue.keys.slice(1).map((k) => `"${k}"`).join(', ')})` : '';
      return at(
        source.keyPositionOf(path, unknown),
        `unknown key "${unknown}" in ${where}${others}`,
        guess ? `did you mean "${guess}"?` : `allowed keys here: ${known.join(', ')}`,
        0,
      );
    }
    case 'invalid_value': {
      const value = valueAt(data, path);
      if (value === undefined) {
        const example = keyName ? EXAMPLES[keyName] : undefined;
        return at(source.positionOf(path), `missing required key "${keyName ?? where}"`, `add ${example ?? `${keyName}: …`}`, 2);
      }
      const allowed = issue.values.map((v) => String(v));
      const guess = typeof value === 'string' ? closest(value, allowed) : undefined;
      return at(
        source.positionOf(path),
        `${where}: ${JSON.stringify(value)} is not allowed`,
        `${guess ? `did you mean "${guess}"? ` : ''}allowed: ${allowed.join(', ')}`,
      );
    }
    case 'invalid_type': {
      const value = valueAt(data, path);
      if (value === undefined) {
        const example = keyName ? EXAMPLES[keyName] : undefined;
        return at(source.positionOf(path), `missing required key "${keyName ?? where}"`, `add ${example ?? `${keyName}: …`}`, 2);
      }
      let fix = `write ${issue.expected === 'array' ? 'a list' : issue.expected === 'object' ? 'a map' : `a ${issue.expected}`}`;
      if (issue.expected === 'array' && typeof value === 'string') fix = `write a list: ${keyName ?? 'key'}: ["${value}"]`;
      else if (keyName === 'when') fix = `quote the condition so it stays a string: when: "${String(value)}"`;
      else if (keyName === 'per' && typeof value === 'number') fix = `write a duration with a unit: per: ${value}s`;
      else if (issue.expected === 'number' && typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) {
        fix = `write the number without quotes: ${keyName}: ${value}`;
      }
      return at(source.positionOf(path), `${where} must be ${issue.expected === 'array' ? 'a list' : issue.expected === 'object' ? 'a map' : `a ${issue.expected}`}, not ${typeName(value)}`, fix);
    }
    case 'too_small': {
      if (issue.origin === 'array') {
        return at(source.positionOf(path), `${where} must not be empty`, keyName === 'actions' ? 'list at least one glob, e.g. ["database.*"], or ["*"] for every action' : 'list at least one value, or remove the key');
      }
      if (issue.origin === 'string') return at(source.positionOf(path), `${where} must not be empty`, 'write a value or remove the key');
      return at(source.positionOf(path), `${where} is too small (minimum ${String(issue.minimum)})`, `use a value of at least ${String(issue.minimum)}`);
    }
    case 'too_big': {
      return at(source.positionOf(path), `${where} is too big (maximum ${String(issue.maximum)})`, `use a value of at most ${String(issue.maximum)}`);
    }
    case 'invalid_format': {
      const value = valueAt(data, path);
      return at(source.positionOf(path), `${where}: ${JSON.stringify(value)} — ${issue.message}`, keyName === 'id' ? 'e.g. id: block-drop-table' : issue.message);
    }
    case 'custom': {
      const fix = (issue.params as { fix?: unknown } | undefined)?.fix;
      return at(source.positionOf(path), `${where}: ${issue.message}`, typeof fix === 'string' ? fix : 'see the policy reference');
    }
    default:
      return at(source.positionOf(path), `${where}: ${issue.message}`, 'see the policy reference (policyJsonSchema)');
  }
}
