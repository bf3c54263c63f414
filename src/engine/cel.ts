/**
 * CEL conditions: one shared environment, compile once at load (parse + type-check), evaluate many.
 *
 * `matches` is CEL's RE2 regex test, and it runs on RE2 (the `re2js` port): matching takes time
 * linear in the text, so no pattern and no argument can stall a decision. cel-js's own `matches`
 * uses JavaScript's backtracking RegExp (`^(\w+\s?)*$` doubles its time per character) and
 * cannot be overridden, so every `.matches(` call in a condition is rewritten (outside string
 * literals and comments) to `.ascendMatches(`, which runs RE2. The rewritten expression is what is
 * parsed, type-checked and run; errors are reported against the expression as written: one that
 * fails is compiled again as written, and that compile's error is the one thrown.
 * Literal patterns are compiled at load, so a pattern RE2 cannot run (lookahead, backreferences)
 * is a load error; patterns computed at run time are compiled on first use and cached (bounded).
 */
import { Environment } from '@marcbachmann/cel-js';
import { RE2JS } from 're2js';

/** The variables a condition sees. */
export interface ConditionVariables {
  parameters: Record<string, unknown>;
  resource: string;
  action: string;
  agent: { id: string; type: string; metadata: Record<string, unknown> };
  context: Record<string, unknown>;
}

/** Names of the variables, for hints. */
export const CONDITION_VARIABLES = ['parameters', 'resource', 'action', 'agent', 'context'] as const;

/** A condition compiled once. */
export interface CompiledCondition {
  /** The expression as written. */
  readonly source: string;
  /** Evaluate: `true`/`false`, or throws when the expression errors or is not a bool. */
  test(vars: ConditionVariables): boolean;
}

/** A condition that does not compile. `offset` is where in `source` the problem is, when known. */
export class ConditionCompileError extends Error {
  readonly offset: number | undefined;
  readonly fix: string;
  constructor(message: string, fix: string, offset?: number) {
    super(message);
    this.name = 'ConditionCompileError';
    this.fix = fix;
    this.offset = offset;
  }
}

/** Longest `matches` pattern accepted: RE2's time is linear in the text times the pattern's size. */
export const MAX_REGEX_LENGTH = 4096;

/** A `matches` pattern that RE2 cannot compile, and how to fix it. */
export class CelRegexError extends Error {
  readonly fix: string;
  constructor(message: string, fix: string) {
    super(message);
    this.name = 'CelRegexError';
    this.fix = fix;
  }
}

/** Literal patterns of loaded conditions, compiled at load; when full, new ones use the run-time cache. */
const literalRegexes = new Map<string, RE2JS>();
const LITERAL_REGEX_MAX = 4096;
/** Patterns computed at run time (bounded: emptied when full). */
const runtimeRegexes = new Map<string, RE2JS>();
const RUNTIME_REGEX_MAX = 512;

/**
 * The RE2 regex of a `matches` pattern, compiled once (cached, bounded). RE2 understands the
 * leading flags `(?i)`, `(?s)`, `(?m)` and named groups `(?P<name>…)` itself. Throws
 * {@link CelRegexError} for a pattern RE2 cannot compile, naming what it does not support.
 */
export function celRegex(pattern: string): RE2JS {
  let re = literalRegexes.get(pattern) ?? runtimeRegexes.get(pattern);
  if (re !== undefined) return re;
  re = compileRe2(pattern);
  if (runtimeRegexes.size >= RUNTIME_REGEX_MAX) runtimeRegexes.clear();
  runtimeRegexes.set(pattern, re);
  return re;
}

/** Compile a literal pattern of a condition being loaded, and keep it for evaluation. */
function pinLiteralRegex(pattern: string): void {
  if (literalRegexes.has(pattern)) return;
  const re = compileRe2(pattern);
  if (literalRegexes.size < LITERAL_REGEX_MAX) literalRegexes.set(pattern, re);
}

function compileRe2(pattern: string): RE2JS {
  if (pattern.length > MAX_REGEX_LENGTH) {
    throw new CelRegexError(
      `regular expression of ${pattern.length} characters is longer than the ${MAX_REGEX_LENGTH} allowed`,
      'shorten the pattern, e.g. test a prefix with startsWith() or split it into several conditions',
    );
  }
  try {
    return RE2JS.compile(pattern);
  } catch (error) {
    const unsupported = unsupportedFeature(pattern);
    if (unsupported !== null) {
      throw new CelRegexError(`regular expression ${JSON.stringify(pattern)} uses ${unsupported.feature}, which RE2 does not support`, unsupported.fix);
    }
    throw new CelRegexError(
      `invalid regular expression ${JSON.stringify(pattern)}: ${(error as Error).message.replace(/^error parsing regexp: /, '')}`,
      'fix the pattern; RE2 syntax, with (?i) for case-insensitive. In YAML, prefer single quotes around the condition so backslashes stay as written',
    );
  }
}

/**
 * The backtracking-engine feature that made RE2 refuse `pattern` (read outside escapes and
 * character classes), with a fix; null when the pattern has none.
 */
function unsupportedFeature(pattern: string): { feature: string; fix: string } | null {
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    const next = pattern[i + 1] ?? '';
    if (ch === '\\') {
      if (!inClass && next >= '1' && next <= '9') return BACKREFERENCE;
      if (!inClass && next === 'k' && pattern[i + 2] === '<') return BACKREFERENCE;
      if (next === 'u') {
        return { feature: 'the escape \\u', fix: 'RE2 does not support \\u escapes; write a code point as \\x{00e9}, or the character itself' };
      }
      i++;
      continue;
    }
    if (inClass) {
      if (ch === ']') inClass = false;
      continue;
    }
    if (ch === '[') {
      inClass = true;
      if (pattern[i + 1] === '^') i++;
      if (pattern[i + 1] === ']') i++; // a leading ] is literal
      continue;
    }
    if (ch === '(' && next === '?') {
      const kind = pattern.slice(i + 2, i + 4);
      if (kind.startsWith('=') || kind.startsWith('!')) {
        return {
          feature: `lookahead "(?${kind[0]}"`,
          fix: 'RE2 does not support lookahead; test what must and must not match separately and combine them in CEL, e.g. s.matches("^a") && !s.matches("^ab")',
        };
      }
      if (kind === '<=' || kind === '<!') {
        return {
          feature: `lookbehind "(?${kind}"`,
          fix: 'RE2 does not support lookbehind; test what must and must not match separately and combine them in CEL, e.g. s.matches("b$") && !s.matches("ab$")',
        };
      }
      if (kind.startsWith('P=')) return BACKREFERENCE;
      if (kind.startsWith('>')) return POSSESSIVE;
    }
    if ((ch === '+' || ch === '*' || ch === '?' || ch === '}') && next === '+') return POSSESSIVE;
  }
  return null;
}

const BACKREFERENCE = {
  feature: 'a backreference',
  fix: 'RE2 does not support backreferences (\\1, \\k<name>, (?P=name)); spell out the alternatives, or compare the parts in CEL',
};
const POSSESSIVE = {
  feature: 'an atomic group or possessive quantifier',
  fix: 'RE2 does not support atomic groups or possessive quantifiers, and does not need them: it never backtracks. Write (?:…) and a plain quantifier',
};

const MATCHES_FN = 'ascendMatches';

const env = new Environment({ homogeneousAggregateLiterals: false })
  .registerVariable('parameters', 'map')
  .registerVariable('resource', 'string')
  .registerVariable('action', 'string')
  .registerVariable('agent', 'map')
  .registerVariable('context', 'map')
  .registerFunction(`string.${MATCHES_FN}(string): bool`, (text: string, pattern: string) => celRegex(pattern).test(text));

/** Something with a CEL source range (the parts of cel-js errors and AST nodes we read). */
interface Ranged {
  range?: { start: number; end: number } | undefined;
  start?: number;
}

/**
 * Compile a condition: rewrite `matches`, then parse, type-check (unknown variables, impossible
 * operators, a result that is not a bool) and compile its literal regexes. Throws
 * {@link ConditionCompileError}, pointing into `source` as written.
 */
export function compileCondition(source: string): CompiledCondition {
  const rewritten = rewriteMatches(source);
  if (rewritten !== source) {
    // The rewritten expression is what runs, so it is compiled first; only one that fails is
    // compiled again as written, for an error that points into what the user wrote (a start
    // parses and checks each condition once, not twice).
    try {
      const run = checkedCondition(rewritten);
      compileLiteralRegexes(run.ast, MATCHES_FN, rewritten);
      return runnable(source, run);
    } catch {
      // reported below
    }
  }
  const parsed = checkedCondition(source);
  compileLiteralRegexes(parsed.ast, 'matches', source);
  const run = rewritten === source ? parsed : env.parse(rewritten);
  if (run !== parsed) run.check(); // type-checked once here, so evaluation skips the check
  return runnable(source, run);
}

type ParsedCondition = ReturnType<typeof env.parse>;

/** `source` parsed and type-checked as a condition; errors point into `source`. */
function checkedCondition(source: string): ParsedCondition {
  let parsed: ParsedCondition;
  try {
    parsed = env.parse(source);
  } catch (error) {
    throw compileErrorFrom(error, source, 'syntax error');
  }
  const checked = parsed.check(); // also spares evaluation the check
  if (!checked.valid) throw compileErrorFrom(checked.error, source, 'type error');
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    throw new ConditionCompileError(
      `condition is a ${checked.type}, not a bool: ${source}`,
      `a condition must be true or false, e.g. compare it: (${source}) > 0, or (${source}) != ""`,
    );
  }
  return parsed;
}

/** The compiled condition that runs `run`, refused if any call could reach cel-js's own `matches`. */
function runnable(source: string, run: ParsedCondition): CompiledCondition {
  // Never let a call reach cel-js's own `matches` (a backtracking RegExp).
  if (methodCallArguments(run.ast, 'matches').length > 0) {
    throw new ConditionCompileError(
      `could not route every matches() call to RE2 in ${JSON.stringify(source)}`,
      'write matches as a method call on a string, e.g. parameters.query.matches("^select")',
    );
  }
  return {
    source,
    test(vars: ConditionVariables): boolean {
      const result: unknown = run(vars);
      if (result === true || result === false) return result;
      throw new Error(`condition returned ${describe(result)}, not a bool`);
    },
  };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'bigint') return `the int ${value}`;
  if (typeof value === 'string') return `the string "${value.length > 40 ? value.slice(0, 40) + '…' : value}"`;
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a map' : `the ${typeof value} ${String(value)}`;
}

function compileErrorFrom(error: unknown, source: string, kind: string): ConditionCompileError {
  const e = error as (Error & Ranged & { summary?: string }) | undefined;
  const summary = e?.summary ?? e?.message ?? String(error);
  const offset = e?.range?.start;
  let fix = `check the expression: ${caret(source, offset)}`;
  const unknown = /Unknown variable: (\w+)/.exec(summary);
  if (unknown) {
    fix = `"${unknown[1]}" is not a variable; conditions can use ${CONDITION_VARIABLES.join(', ')} (e.g. parameters.${unknown[1]})`;
  }
  return new ConditionCompileError(`CEL ${kind}: ${summary} in ${JSON.stringify(source)}`, fix, offset);
}

/** `expr` with a `⟨here⟩` marker at `offset`, on one line. */
function caret(source: string, offset: number | undefined): string {
  const flat = source.replace(/\s+/g, ' ');
  if (offset === undefined || offset > source.length || source !== flat) return flat;
  return `${source.slice(0, offset)}⟨here⟩${source.slice(offset)}`;
}

/** Calls of `name` as a method (`x.name(…)`) in a parsed condition: the node of each first argument. */
function methodCallArguments(ast: unknown, name: string): Array<{ op?: unknown; args?: unknown } & Ranged> {
  const found: Array<{ op?: unknown; args?: unknown } & Ranged> = [];
  const stack: unknown[] = [ast];
  const seen = new Set<unknown>();
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node === 'object' && node !== null) {
      if (seen.has(node)) continue; // macros may share nodes
      seen.add(node);
    }
    if (Array.isArray(node)) {
      for (const child of node) stack.push(child);
      continue;
    }
    if (node === null || typeof node !== 'object' || !('op' in node) || !('args' in node)) continue;
    const { op, args } = node as { op: unknown; args: unknown };
    if (op === 'rcall' && Array.isArray(args) && args[0] === name && Array.isArray(args[2])) {
      found.push((args[2][0] ?? {}) as { op?: unknown; args?: unknown } & Ranged);
    }
    stack.push(args);
  }
  return found;
}

/** Compile every literal pattern of `x.<method>("literal")` at load, so one RE2 cannot run is a load error. */
function compileLiteralRegexes(ast: unknown, method: string, source: string): void {
  for (const arg of methodCallArguments(ast, method)) {
    if (arg.op !== 'value' || typeof arg.args !== 'string') continue;
    try {
      pinLiteralRegex(arg.args);
    } catch (error) {
      if (!(error instanceof CelRegexError)) throw error;
      throw new ConditionCompileError(`${error.message} in ${JSON.stringify(source)}`, error.fix, arg.range?.start ?? arg.start);
    }
  }
}

/**
 * Replace the method name of every `.matches(` call outside string literals and comments by
 * {@link MATCHES_FN}. Exported for tests.
 */
export function rewriteMatches(source: string): string {
  if (!source.includes('matches')) return source;
  let out = '';
  let last = 0;
  let i = 0;
  const n = source.length;
  while (i < n) {
    const ch = source[i] as string;
    if (ch === '/' && source[i + 1] === '/') {
      const end = source.indexOf('\n', i);
      i = end < 0 ? n : end;
      continue;
    }
    if (ch === '"' || ch === "'") {
      i = skipString(source, i);
      continue;
    }
    if (ch === '.') {
      let j = i + 1;
      while (j < n && /\s/.test(source[j] as string)) j++;
      if (source.startsWith('matches', j) && !/[\w]/.test(source[j + 7] ?? '')) {
        let k = j + 7;
        while (k < n && /\s/.test(source[k] as string)) k++;
        if (source[k] === '(') {
          out += source.slice(last, j) + MATCHES_FN;
          last = j + 7;
        }
      }
      i = j;
      continue;
    }
    i++;
  }
  return out + source.slice(last);
}

/** Index just past the string literal whose opening quote is at `start`. */
function skipString(source: string, start: number): number {
  const quote = source[start] as string;
  const raw = /(?:^|[^\w])[bB]?[rR][bB]?$/.test(source.slice(Math.max(0, start - 3), start));
  const triple = source.startsWith(quote.repeat(3), start);
  const close = triple ? quote.repeat(3) : quote;
  let i = start + close.length;
  while (i < source.length) {
    const ch = source[i];
    if (ch === '\\' && !raw) {
      i += 2;
      continue;
    }
    if (!triple && ch === '\n') return i;
    if (source.startsWith(close, i)) return i + close.length;
    i++;
  }
  return i;
}
