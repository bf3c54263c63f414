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
 * is matched by {@link WildcardGlob}, which takes time linear in the value's length whatever the
 * pattern and value (no backtracking). Throws `Error` for an invalid pattern (see {@link globProblem}).
 */
export function compileGlob(pattern: string): Glob {
  const problem = globProblem(pattern);
  if (problem) throw new Error(`${problem.message}; ${problem.fix}`);
  if (pattern === '*') return ANY;
  const tokens: GlobToken[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '\\') tokens.push({ kind: 'char', code: pattern.charCodeAt(++i) });
    else if (ch === '*') tokens.push({ kind: 'star' });
    else if (ch === '?') tokens.push({ kind: 'one' });
    else tokens.push({ kind: 'char', code: pattern.charCodeAt(i) });
  }
  const stars = tokens.filter((t) => t.kind === 'star').length;
  const wild = stars > 0 || tokens.some((t) => t.kind === 'one');
  const literalOf = (part: readonly GlobToken[]): string | null =>
    part.every((t) => t.kind === 'char') ? String.fromCharCode(...part.map((t) => (t as { code: number }).code)) : null;
  if (!wild) {
    const literal = literalOf(tokens) as string;
    return { pattern, test: (value) => value === literal };
  }
  if (stars === 1) {
    const at = tokens.findIndex((t) => t.kind === 'star');
    const before = literalOf(tokens.slice(0, at));
    const after = literalOf(tokens.slice(at + 1));
    if (before !== null && after === '') return { pattern, test: (value) => value.startsWith(before) };
    if (before === '' && after !== null) return { pattern, test: (value) => value.endsWith(after) };
  }
  return new WildcardGlob(pattern, tokens);
}

/** One element of a glob: a character, `?` (any one character) or `*` (any run). */
type GlobToken = { kind: 'char'; code: number } | { kind: 'one' } | { kind: 'star' };

const WORD_BITS = 32;

/**
 * A glob with wildcards, matched as a bit-parallel automaton: state `j` means "the first `j`
 * non-star elements are matched", one bit per state. Each character of the value shifts the
 * state set once (a few machine words per character), so matching costs
 * O(value length × pattern length / 32) whatever the input: no backtracking, so no input makes it
 * slow. (A backtracking RegExp took seconds for `s3://*\/*\/*.csv` against 2,000 slashes.)
 * Characters are UTF-16 code units, and `*` and `?` match newlines too, so a resource cannot
 * dodge a glob with one.
 */
class WildcardGlob implements Glob {
  /** Number of non-star elements: the accepting state. */
  private readonly length: number;
  private readonly words: number;
  /** Per state bit: the elements that are `?` (they accept any character). */
  private readonly anyOne: Int32Array;
  /** Bits of the states a `*` follows: they may stay where they are on any character. */
  private readonly loops: Int32Array;
  /** Per ASCII character, `words` words: bit `j` is set when the character may be element `j` (1-based). */
  private readonly ascii: Int32Array;
  /** The same for the other characters the pattern names; any other character matches only `?`. */
  private readonly others = new Map<number, Int32Array>();
  /** Literal text before the first and after the last wildcard: a cheap first test. */
  private readonly head: string;
  private readonly tail: string;
  private readonly hasStar: boolean;
  /** Scratch state sets, reused: matching is synchronous, so calls never interleave. */
  private readonly state: Int32Array;
  private readonly next: Int32Array;

  constructor(
    readonly pattern: string,
    tokens: readonly GlobToken[],
  ) {
    const elements = tokens.filter((t) => t.kind !== 'star');
    this.length = elements.length;
    this.words = Math.floor(this.length / WORD_BITS) + 1;
    this.anyOne = new Int32Array(this.words);
    this.loops = new Int32Array(this.words);
    this.ascii = new Int32Array(128 * this.words);
    this.state = new Int32Array(this.words);
    this.next = new Int32Array(this.words);
    this.hasStar = elements.length < tokens.length;
    let j = 0;
    for (const t of tokens) {
      if (t.kind === 'star') {
        setBit(this.loops, 0, j);
        continue;
      }
      j++; // consuming this element leads to state j
      if (t.kind === 'one') {
        setBit(this.anyOne, 0, j);
      } else if (t.code < 128) {
        setBit(this.ascii, t.code * this.words, j);
      } else {
        let mask = this.others.get(t.code);
        if (mask === undefined) this.others.set(t.code, (mask = new Int32Array(this.words)));
        setBit(mask, 0, j);
      }
    }
    // A `?` accepts every character: fold it into every mask.
    for (let i = 0; i < this.ascii.length; i++) this.ascii[i] = (this.ascii[i] as number) | (this.anyOne[i % this.words] as number);
    for (const mask of this.others.values()) for (let w = 0; w < this.words; w++) mask[w] = (mask[w] as number) | (this.anyOne[w] as number);
    this.head = literalRun(tokens, 0, 1);
    this.tail = this.hasStar ? literalRun(tokens, tokens.length - 1, -1) : '';
  }

  test(value: string): boolean {
    const n = value.length;
    if (this.hasStar ? n < this.length : n !== this.length) return false;
    if (!value.startsWith(this.head) || !value.endsWith(this.tail)) return false;
    return this.words === 1 ? this.runOneWord(value) : this.runWords(value);
  }

  /** Patterns of up to 31 non-star elements: the state set fits one 32-bit word. */
  private runOneWord(value: string): boolean {
    const ascii = this.ascii;
    const anyOne = this.anyOne[0] as number;
    const loops = this.loops[0] as number;
    let state = 1;
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      const mask = c < 128 ? (ascii[c] as number) : ((this.others.get(c)?.[0] ?? anyOne) as number);
      state = ((state << 1) & mask) | (state & loops);
      if (state === 0) return false;
    }
    return (state & (1 << this.length)) !== 0;
  }

  private runWords(value: string): boolean {
    const words = this.words;
    const ascii = this.ascii;
    let state = this.state;
    let next = this.next;
    state.fill(0);
    state[0] = 1;
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      const other = c < 128 ? undefined : this.others.get(c);
      const base = c * words;
      let carry = 0;
      let any = 0;
      for (let w = 0; w < words; w++) {
        const s = state[w] as number;
        const mask = c < 128 ? (ascii[base + w] as number) : other !== undefined ? (other[w] as number) : (this.anyOne[w] as number);
        const bits = (((s << 1) | carry) & mask) | (s & (this.loops[w] as number));
        carry = s >>> 31;
        next[w] = bits;
        any |= bits;
      }
      if (any === 0) return false;
      const swap = state;
      state = next;
      next = swap;
    }
    return ((state[Math.floor(this.length / WORD_BITS)] as number) & (1 << this.length % WORD_BITS)) !== 0;
  }
}

function setBit(mask: Int32Array, offset: number, bit: number): void {
  const w = offset + Math.floor(bit / WORD_BITS);
  mask[w] = (mask[w] as number) | (1 << bit % WORD_BITS);
}

/** The literal characters from `start` walking by `step` until the first wildcard, in reading order. */
function literalRun(tokens: readonly GlobToken[], start: number, step: 1 | -1): string {
  const codes: number[] = [];
  for (let i = start; i >= 0 && i < tokens.length; i += step) {
    const t = tokens[i] as GlobToken;
    if (t.kind !== 'char') break;
    codes.push(t.code);
  }
  if (step === -1) codes.reverse();
  return String.fromCharCode(...codes);
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
