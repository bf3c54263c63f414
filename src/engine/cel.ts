/**
 * CEL conditions: one shared environment, compile once at load (parse + type-check), evaluate many.
 *
 * `matches` is CEL's RE2 regex test. JavaScript RegExp does not understand RE2's leading inline
 * flags (`(?i)` for case-insensitive) on Node 20, and cel-js builds a new RegExp on every call. The
 * built-in cannot be overridden, so every `.matches(` call in a condition is rewritten (outside
 * string literals and comments) to `.ascendMatches(`, which translates the flags and caches the
 * compiled RegExp. Errors are reported against the expression as written: it is parsed and
 * type-checked as written first, and only then rewritten.
 */
import { Environment } from '@marcbachmann/cel-js';

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

const REGEX_CACHE_MAX = 512;
const regexCache = new Map<string, RegExp>();

/**
 * The JavaScript RegExp for an RE2-style pattern: a leading `(?flags)` group of `i`, `m`, `s`
 * becomes RegExp flags, and `(?P<name>` becomes `(?<name>`. Cached (bounded). Throws
 * `SyntaxError` for an invalid pattern.
 */
export function celRegExp(pattern: string): RegExp {
  let re = regexCache.get(pattern);
  if (re !== undefined) return re;
  let body = pattern;
  let flags = '';
  const lead = /^\(\?([ims]+)\)/.exec(body);
  if (lead) {
    flags = [...new Set(lead[1])].join('');
    body = body.slice(lead[0].length);
  }
  body = body.replace(/\(\?P</g, '(?<');
  re = new RegExp(body, flags);
  if (regexCache.size >= REGEX_CACHE_MAX) regexCache.clear();
  regexCache.set(pattern, re);
  return re;
}

const MATCHES_FN = 'ascendMatches';

const env = new Environment({ homogeneousAggregateLiterals: false })
  .registerVariable('parameters', 'map')
  .registerVariable('resource', 'string')
  .registerVariable('action', 'string')
  .registerVariable('agent', 'map')
  .registerVariable('context', 'map')
  .registerFunction(`string.${MATCHES_FN}(string): bool`, (text: string, pattern: string) => celRegExp(pattern).test(text));

/** Something with a CEL source range (the parts of cel-js errors and AST nodes we read). */
interface Ranged {
  range?: { start: number; end: number } | undefined;
  start?: number;
}

/**
 * Compile a condition: parse, type-check (unknown variables, impossible operators, a result that
 * is not a bool), check literal regexes, then rewrite `matches`. Throws {@link ConditionCompileError}.
 */
export function compileCondition(source: string): CompiledCondition {
  let parsed: ReturnType<typeof env.parse>;
  try {
    parsed = env.parse(source);
  } catch (error) {
    throw compileErrorFrom(error, source, 'syntax error');
  }
  const checked = parsed.check();
  if (!checked.valid) throw compileErrorFrom(checked.error, source, 'type error');
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    throw new ConditionCompileError(
      `condition is a ${checked.type}, not a bool: ${source}`,
      `a condition must be true or false, e.g. compare it: (${source}) > 0, or (${source}) != ""`,
    );
  }
  checkLiteralRegexes(parsed.ast, source);

  const rewritten = rewriteMatches(source);
  const run = rewritten === source ? parsed : env.parse(rewritten);
  if (run !== parsed) run.check(); // type-checked once here, so evaluation skips the check
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

/** Reject `x.matches("literal")` whose literal is not a valid regex, at load rather than per call. */
function checkLiteralRegexes(ast: unknown, source: string): void {
  const stack: unknown[] = [ast];
  let visited = 0;
  while (stack.length > 0 && visited++ < 10_000) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      for (const child of node) stack.push(child);
      continue;
    }
    if (node === null || typeof node !== 'object' || !('op' in node) || !('args' in node)) continue;
    const { op, args } = node as { op: unknown; args: unknown };
    if (op === 'rcall' && Array.isArray(args) && args[0] === 'matches' && Array.isArray(args[2])) {
      const arg = args[2][0] as ({ op?: unknown; args?: unknown } & Ranged) | undefined;
      if (arg?.op === 'value' && typeof arg.args === 'string') {
        try {
          celRegExp(arg.args);
        } catch (error) {
          throw new ConditionCompileError(
            `invalid regular expression ${JSON.stringify(arg.args)} in ${JSON.stringify(source)}: ${(error as Error).message}`,
            'fix the pattern; RE2 syntax, with (?i) for case-insensitive. In YAML, prefer single quotes around the condition so backslashes stay as written',
            arg.range?.start ?? arg.start,
          );
        }
      }
    }
    stack.push(args);
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
