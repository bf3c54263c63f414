/**
 * Globs for action types, resources and agent ids: `*` matches any run of characters (including
 * none, including `.` and `/`), `?` matches exactly one character, `\` escapes the next character.
 * Every other character matches itself. Brackets and braces are refused rather than taken
 * literally, because people expect `[abc]` or `{a,b}` to mean a set and would be surprised.
 */

/** A compiled glob. */
export interface Glob {
  /** The pattern as written. */
  readonly pattern: string;
  /** Whether `value` matches the whole pattern. */
  test(value: string): boolean;
}

/** Why a pattern is not a valid glob, and how to fix it. */
export interface GlobProblem {
  message: string;
  fix: string;
}

/** Longest pattern accepted; longer ones are almost certainly a mistake (and cost to match). */
export const MAX_GLOB_LENGTH = 1024;

/** The problem with `pattern`, or `null` when it is a valid glob. */
export function globProblem(pattern: string): GlobProblem | null {
  if (pattern.length === 0) {
    return { message: 'empty glob', fix: 'write a pattern such as "database.*", or "*" for anything' };
  }
  if (pattern.length > MAX_GLOB_LENGTH) {
    return { message: `glob longer than ${MAX_GLOB_LENGTH} characters`, fix: 'shorten the pattern, using * for the varying part' };
  }
  if (pattern.trim() !== pattern) {
    return { message: `glob "${pattern}" has leading or trailing spaces`, fix: `write "${pattern.trim()}"` };
  }
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\') {
      if (i === pattern.length - 1) {
        return { message: `glob "${pattern}" ends with a lone backslash`, fix: 'write \\\\ to match a backslash' };
      }
      i++;
      continue;
    }
    if (ch === '[' || ch === ']' || ch === '{' || ch === '}') {
      return {
        message: `glob "${pattern}" uses "${ch}", which is not supported`,
        fix: `only * (any run of characters) and ? (one character) are wildcards; list alternatives as separate globs, or escape it as "\\${ch}" to match it literally`,
      };
    }
    if (ch !== undefined && ch.charCodeAt(0) < 0x20) {
      return { message: `glob "${pattern}" contains a control character`, fix: 'remove it' };
    }
  }
  return null;
}

const ANY: Glob = { pattern: '*', test: () => true };

/**
 * Compile a glob once. Plain strings, `prefix*`, `*suffix` and `*` get fast paths; anything else
 * becomes one anchored RegExp. Throws `Error` for an invalid pattern (see {@link globProblem}).
 */
export function compileGlob(pattern: string): Glob {
  const problem = globProblem(pattern);
  if (problem) throw new Error(`${problem.message}; ${problem.fix}`);
  if (pattern === '*') return ANY;
  let literal = '';
  let regex = '';
  let stars = 0;
  let questions = 0;
  let escapes = 0;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '\\') {
      const next = pattern[++i] as string;
      literal += next;
      regex += escapeRegExp(next);
      escapes++;
    } else if (ch === '*') {
      regex += '.*';
      stars++;
    } else if (ch === '?') {
      regex += '.';
      questions++;
    } else {
      literal += ch;
      regex += escapeRegExp(ch);
    }
  }
  if (stars === 0 && questions === 0) {
    return { pattern, test: (value) => value === literal };
  }
  if (questions === 0 && escapes === 0 && stars === 1) {
    if (pattern.endsWith('*')) {
      const prefix = pattern.slice(0, -1);
      return { pattern, test: (value) => value.startsWith(prefix) };
    }
    if (pattern.startsWith('*')) {
      const suffix = pattern.slice(1);
      return { pattern, test: (value) => value.endsWith(suffix) };
    }
  }
  // `s`: `*` and `?` also match newlines, so a resource cannot dodge a glob with one.
  const re = new RegExp(`^${regex}$`, 's');
  return { pattern, test: (value) => re.test(value) };
}

function escapeRegExp(ch: string): string {
  return /[.*+?^${}()|[\]\\/-]/.test(ch) ? `\\${ch}` : ch;
}

/** Several globs; a value matches the set when it matches any of them. */
export class GlobSet {
  /** The patterns as written. */
  readonly patterns: readonly string[];
  private readonly globs: readonly Glob[];
  /** True when one of the patterns is `*`: the set matches everything. */
  readonly matchesAll: boolean;

  /** Compiles every pattern; throws like {@link compileGlob}. */
  constructor(patterns: readonly string[]) {
    this.patterns = patterns;
    this.globs = patterns.map(compileGlob);
    this.matchesAll = this.globs.some((g) => g === ANY);
  }

  /** Whether `value` matches any glob of the set. */
  test(value: string): boolean {
    if (this.matchesAll) return true;
    const globs = this.globs;
    for (let i = 0; i < globs.length; i++) if ((globs[i] as Glob).test(value)) return true;
    return false;
  }
}

/** Compiled globs of agent registrations, which arrive as plain strings with every call. */
const agentGlobCache = new Map<string, Glob | null>();
const AGENT_GLOB_CACHE_MAX = 4096;

/**
 * Whether `value` matches any of `patterns`, compiling each pattern once (bounded cache).
 * For globs that come from data (agent registrations) rather than a policy file: an invalid
 * pattern matches nothing, so a bad registration restricts rather than opens.
 */
export function matchesAnyGlob(patterns: readonly string[], value: string): boolean {
  for (let i = 0; i < patterns.length; i++) {
    const pattern = patterns[i] as string;
    let glob = agentGlobCache.get(pattern);
    if (glob === undefined) {
      glob = globProblem(pattern) ? null : compileGlob(pattern);
      if (agentGlobCache.size >= AGENT_GLOB_CACHE_MAX) agentGlobCache.clear();
      agentGlobCache.set(pattern, glob);
    }
    if (glob !== null && glob.test(value)) return true;
  }
  return false;
}
