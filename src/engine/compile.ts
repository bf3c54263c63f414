/**
 * Loading a policy: text (YAML or JSON) → validated document → compiled policy, with every CEL
 * condition and glob compiled once. Any problem is a {@link PolicyError} with file, line and a fix.
 */
import { createHash } from 'node:crypto';
import { PolicyError } from '../core/errors.js';
import { ConditionCompileError, compileCondition, type CompiledCondition } from './cel.js';
import { GlobSet } from './glob.js';
import { describeIssue, type PolicyProblem } from './issues.js';
import { policySchemas, durationMs, type Effect, type PolicyDocument, type PolicyRule } from './policy.js';
import { PolicySource } from './source.js';

/** A rule's budget, compiled. */
export interface CompiledLimit {
  /** In-memory counter key, stable across reloads of an unchanged rule: id, count, window and scope. */
  readonly key: string;
  /** The rule's id: what a store counts the budget under (see engine/budget.ts). */
  readonly ruleId: string;
  readonly count: number;
  /** The window as written, e.g. `1h`. */
  readonly per: string;
  readonly windowMs: number;
  readonly scope: 'agent' | 'global';
}

/** One rule, compiled. */
export interface CompiledRule {
  readonly id: string;
  /** Position in the file's `rules` list. */
  readonly index: number;
  /** Line of the rule in the file (1-based). */
  readonly line: number;
  readonly description: string | null;
  readonly effect: Effect;
  readonly actions: GlobSet;
  /** `null` = any resource. */
  readonly resources: GlobSet | null;
  /** `null` = any agent. */
  readonly agents: GlobSet | null;
  readonly condition: CompiledCondition | null;
  /** Line of the `when` condition, for run-time errors. */
  readonly conditionLine: number | null;
  readonly approvers: readonly string[];
  /** Minimum risk score when the rule applies, or null. */
  readonly risk: number | null;
  readonly reason: string | null;
  readonly limit: CompiledLimit | null;
}

/** A loaded policy, ready to evaluate. Immutable except for its internal lookup cache. */
export interface CompiledPolicy {
  /** Where it came from (a path, or a name such as `<starter policy>`). */
  readonly file: string;
  readonly version: 1;
  readonly mode: 'enforce' | 'monitor';
  readonly defaultEffect: Effect;
  readonly approvalTimeoutSeconds: number;
  /** `null` turns a threshold off. */
  readonly riskThresholds: { readonly requireApprovalAt: number | null; readonly denyAt: number | null };
  /** Highest risk score an MCP client's answer (elicitation) may approve; `null`: never. */
  readonly elicitationMaxRisk: number | null;
  /** Whether an approver may edit a pending call's arguments (`approvals.allowEdits`, default true). */
  readonly allowEdits: boolean;
  /** Every rule, in file order. */
  readonly rules: readonly CompiledRule[];
  /** The capability names the policy defines, each with its action-type globs. */
  readonly capabilities: ReadonlyMap<string, GlobSet>;
  /** Whether any rule has a `limit` (usage recording can be skipped otherwise). */
  readonly hasLimits: boolean;
  /** A hash of the file's content, `sha256:` + hex: which policy made a decision. */
  readonly policyVersion: string;
  /** The file's text, as parsed. */
  readonly text: string;
  /** The document's `name` label, or null. */
  readonly name: string | null;
  /** The document's `revision` label, or null. */
  readonly revision: string | null;
  /** The validated document, defaults applied. */
  readonly document: PolicyDocument;
  /** Rules whose action globs match `actionType`, in file order (cached, bounded). */
  candidatesFor(actionType: string): readonly CompiledRule[];
}

/** Action types remembered by a policy's candidate cache before it is emptied. */
const CANDIDATE_CACHE_MAX = 1024;

class LoadedPolicy implements CompiledPolicy {
  readonly version = 1 as const;
  readonly mode: 'enforce' | 'monitor';
  readonly defaultEffect: Effect;
  readonly approvalTimeoutSeconds: number;
  readonly riskThresholds: { readonly requireApprovalAt: number | null; readonly denyAt: number | null };
  readonly elicitationMaxRisk: number | null;
  readonly allowEdits: boolean;
  readonly hasLimits: boolean;
  readonly capabilities: ReadonlyMap<string, GlobSet>;
  readonly name: string | null;
  readonly revision: string | null;
  private readonly candidates = new Map<string, readonly CompiledRule[]>();

  constructor(
    readonly file: string,
    readonly document: PolicyDocument,
    readonly rules: readonly CompiledRule[],
    readonly text: string,
    readonly policyVersion: string,
  ) {
    this.name = document.name ?? null;
    this.revision = document.revision ?? null;
    this.mode = document.mode;
    this.defaultEffect = document.default;
    this.approvalTimeoutSeconds = document.approvalTimeoutSeconds;
    this.riskThresholds = Object.freeze({
      requireApprovalAt: document.risk ? document.risk.requireApprovalAt : 70,
      denyAt: document.risk ? document.risk.denyAt : 90,
    });
    this.elicitationMaxRisk = document.approvals ? document.approvals.elicitationMaxRisk : 69;
    this.allowEdits = document.approvals ? document.approvals.allowEdits !== false : true;
    this.hasLimits = rules.some((r) => r.limit !== null);
    this.capabilities = new Map(Object.entries(document.capabilities).map(([name, globs]) => [name, new GlobSet(globs)]));
    Object.freeze(this.rules);
  }

  candidatesFor(actionType: string): readonly CompiledRule[] {
    let found = this.candidates.get(actionType);
    if (found === undefined) {
      found = Object.freeze(this.rules.filter((r) => r.actions.test(actionType)));
      // Action types come from callers: bound the cache so unique names cannot grow it forever.
      if (this.candidates.size >= CANDIDATE_CACHE_MAX) this.candidates.clear();
      this.candidates.set(actionType, found);
    }
    return found;
  }
}

/** Further problems shown after the first, each with its line (the rest are counted). */
const MORE_PROBLEMS_SHOWN = 3;

function fail(file: string, problem: PolicyProblem, more: readonly PolicyProblem[] = []): never {
  // A misspelt key also makes the key it meant "missing": that one says nothing new.
  const meant = /did you mean "([^"]+)"/.exec(problem.fix ?? '')?.[1];
  const others = meant === undefined ? more : more.filter((p) => !(p.ruleId === problem.ruleId && p.message.includes(`"${meant}"`)));
  const shown = others.slice(0, MORE_PROBLEMS_SHOWN).map((p) => `line ${p.line}${p.ruleId ? ` (rule "${p.ruleId}")` : ''}: ${p.message}${p.fix ? ` (fix: ${p.fix})` : ''}`);
  const hidden = others.length - shown.length;
  if (hidden > 0) shown.push(`${hidden} more problem${hidden > 1 ? 's' : ''}`);
  throw new PolicyError(problem.message, { file, line: problem.line, column: problem.column, ...(problem.ruleId ? { ruleId: problem.ruleId } : {}) }, problem.fix, shown);
}

const YAML_FIXES: Record<string, string> = {
  DUPLICATE_KEY: 'each key may appear once per map: remove or merge the repeated key',
  TAB_AS_INDENT: 'indent with spaces, not tabs',
  BAD_INDENT: 'check the indentation: items of a list or map must line up',
  // The yaml library's code for several slips: an unclosed bracket or quote, but also a list
  // item not lined up with its list ("Sequence item without - indicator").
  MISSING_CHAR: 'a character is missing: check that brackets, braces and quotes are closed, and that this line lines up with its list or map',
  MULTIPLE_DOCS: 'a policy file holds one document: remove the extra "---"',
};

/**
 * Parse, validate and compile a policy from its text (YAML, or JSON, which is YAML).
 * `file` names the source in errors. Throws {@link PolicyError} naming file, line, rule and a fix.
 */
export function parsePolicy(text: string, file: string): CompiledPolicy {
  const source = new PolicySource(text);
  const yamlError = source.firstError();
  if (yamlError) {
    fail(file, {
      line: yamlError.line,
      column: yamlError.column,
      message: `invalid YAML: ${yamlError.message.replace(/ at line \d+, column \d+:?$/, '')}`,
      fix: YAML_FIXES[yamlError.code] ?? 'check the YAML (or JSON) syntax at this line',
    });
  }
  let data: unknown;
  try {
    data = source.toJS();
  } catch (error) {
    // The YAML library refuses to expand aliases past a limit (a "billion laughs" file).
    fail(file, {
      line: 1,
      column: 1,
      message: `the YAML could not be expanded: ${error instanceof Error ? error.message : String(error)}`,
      fix: 'a policy may use at most 100 aliases (*name); write the values out instead',
    });
  }
  if (data === null || data === undefined) {
    fail(file, { line: 1, column: 1, message: 'the policy is empty', fix: 'start with "version: 1" and a "rules:" list (see `ascend init`)' });
  }
  const parsed = policySchemas().PolicySchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => describeIssue(issue, data, source))
      .sort((a, b) => (a.rank ?? 1) - (b.rank ?? 1) || a.line - b.line || a.column - b.column);
    fail(file, problems[0] as PolicyProblem, problems.slice(1));
  }
  const document = parsed.data;

  const firstLineOfId = new Map<string, number>();
  const rules = document.rules.map((rule, index) => {
    const line = source.positionOf(['rules', index]).line;
    const seen = firstLineOfId.get(rule.id);
    if (seen !== undefined) {
      const pos = source.positionOf(['rules', index, 'id']);
      fail(file, { ...pos, ruleId: rule.id, message: `duplicate rule id "${rule.id}"`, fix: `rule ids must be unique; "${rule.id}" is already used at line ${seen}: rename one` });
    }
    firstLineOfId.set(rule.id, line);
    return compileRule(rule, index, line, file, source);
  });
  return new LoadedPolicy(file, document, rules, text, policyVersionOf(text));
}

function compileRule(rule: PolicyRule, index: number, line: number, file: string, source: PolicySource): CompiledRule {
  let condition: CompiledCondition | null = null;
  let conditionLine: number | null = null;
  if (rule.when !== undefined) {
    conditionLine = source.positionOf(['rules', index, 'when']).line;
    try {
      condition = compileCondition(rule.when);
    } catch (error) {
      if (!(error instanceof ConditionCompileError)) throw error;
      const pos = source.positionInString(['rules', index, 'when'], error.offset);
      fail(file, { ...pos, ruleId: rule.id, message: error.message, fix: error.fix });
    }
  }
  return ruleOf(rule, { index, line, conditionLine }, condition);
}

/** Where a rule is: its position in the list, its line and its condition's line. */
interface RulePlace {
  readonly index: number;
  readonly line: number;
  readonly conditionLine: number | null;
}

function ruleOf(rule: PolicyRule, place: RulePlace, condition: CompiledCondition | null): CompiledRule {
  const limit = rule.limit
    ? Object.freeze({
        key: `${rule.id}|${rule.limit.count}/${rule.limit.per}|${rule.limit.scope}`,
        ruleId: rule.id,
        count: rule.limit.count,
        per: rule.limit.per,
        // Validated by the schema, so never null here.
        windowMs: durationMs(rule.limit.per) as number,
        scope: rule.limit.scope,
      })
    : null;
  return Object.freeze({
    id: rule.id,
    index: place.index,
    line: place.line,
    description: rule.description ?? null,
    effect: rule.effect,
    actions: new GlobSet(rule.actions),
    resources: rule.resources ? new GlobSet(rule.resources) : null,
    agents: rule.agents ? new GlobSet(rule.agents) : null,
    condition,
    conditionLine: place.conditionLine,
    approvers: Object.freeze([...(rule.approvers ?? [])]),
    risk: rule.risk ?? null,
    reason: rule.reason ?? null,
    limit,
  });
}

/**
 * What a loaded policy needs besides its text, as plain data: the validated document and where
 * each rule is. {@link policyFromForm} rebuilds the policy from it without the YAML parser or
 * the schema — what the compiled-policy cache (src/policy/cache.ts) keeps.
 */
export interface CompiledPolicyForm {
  /** The text's version: the form belongs to exactly this text. */
  readonly policyVersion: string;
  readonly document: PolicyDocument;
  readonly rules: readonly RulePlace[];
}

/** The plain-data form of a loaded policy. */
export function policyForm(policy: CompiledPolicy): CompiledPolicyForm {
  return {
    policyVersion: policy.policyVersion,
    document: policy.document,
    rules: policy.rules.map((r) => ({ index: r.index, line: r.line, conditionLine: r.conditionLine })),
  };
}

/**
 * The policy that `text` compiled to before, from its form; undefined when the form is not of
 * this text. Its conditions compile on first use: they compiled when the form was made, and a
 * condition that failed now would deny the call (`condition_error`), never allow it.
 */
export function policyFromForm(text: string, file: string, form: CompiledPolicyForm): CompiledPolicy | undefined {
  if (form.policyVersion !== policyVersionOf(text) || form.rules.length !== form.document.rules.length) return undefined;
  const rules = form.document.rules.map((rule, index) => {
    const place = form.rules[index] as RulePlace;
    return ruleOf(rule, { ...place, index }, rule.when === undefined ? null : compiledOnFirstUse(rule.when));
  });
  return new LoadedPolicy(file, form.document, rules, text, form.policyVersion);
}

function compiledOnFirstUse(source: string): CompiledCondition {
  let compiled: CompiledCondition | undefined;
  return {
    source,
    test(vars) {
      compiled ??= compileCondition(source);
      return compiled.test(vars);
    },
  };
}

/** `sha256:` + the hex digest of a policy file's text: the version every decision names. */
export function policyVersionOf(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

