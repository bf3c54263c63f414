/**
 * The decision point: one call + a compiled policy + usage counters → a decision that explains
 * itself. Pure and total: no I/O, no clock (time is `input.now`), and it never throws — anything
 * unexpected becomes a denial.
 *
 * Order: agent registration (blocked, allowedResources, capabilities) → rules (deny beats
 * require_approval beats allow; none → the policy default) → risk thresholds (escalate only) →
 * the caller's `requireHumanApproval` → monitor mode.
 */
import { PolicyError } from '../core/errors.js';
import { riskLevelOf, type Decision, type PolicyDecision, type PolicyViolation } from '../core/types.js';
import type { ConditionVariables } from './cel.js';
import type { CompiledLimit, CompiledPolicy, CompiledRule } from './compile.js';
import { matchesAnyGlob } from './glob.js';
import { isCapabilityName } from './policy.js';
import { conditionVariables, selectorsMatch } from './match.js';
import { assessRisk } from './risk.js';
import type { UsageTracker } from './usage.js';
import type { EvaluationInput } from './evaluation-input.js';

export type { EvaluationInput } from './evaluation-input.js';


/** Approval timeout used when there is no policy to take it from. */
const FALLBACK_APPROVAL_TIMEOUT_SECONDS = 300;
/** Longest error text quoted in a decision. */
const MAX_ERROR_TEXT = 300;

function errorText(error: unknown): string {
  const e = error as { summary?: unknown; message?: unknown } | null | undefined;
  const text = typeof e?.summary === 'string' ? e.summary : typeof e?.message === 'string' ? e.message : String(error);
  const line = text.split('\n')[0] ?? text;
  return line.length > MAX_ERROR_TEXT ? `${line.slice(0, MAX_ERROR_TEXT)}…` : line;
}

function where(policy: CompiledPolicy, line: number | null): string {
  return line === null ? policy.file : `${policy.file}:${line}`;
}

/** A denial with one violation and no risk analysis, for when deciding properly was impossible. */
function failureDecision(code: string, message: string, approvalTimeoutSeconds: number, mode: 'enforce' | 'monitor' = 'enforce'): PolicyDecision {
  return {
    decision: 'denied',
    reason: message,
    riskScore: 0,
    riskLevel: riskLevelOf(0),
    riskFactors: [],
    matchedRules: [],
    policyViolations: [{ code, message }],
    requiredApprovers: [],
    approvalTimeoutSeconds,
    mode,
  };
}

/**
 * The decision when no policy could be loaded: denied, violation `policy_error`, with a reason
 * that names the error (file and line for a {@link PolicyError}).
 */
export function policyErrorDecision(error: unknown): PolicyDecision {
  const text = error instanceof PolicyError ? error.message : errorText(error);
  return failureDecision('policy_error', `No policy could be loaded, so every call is denied: ${text}`, FALLBACK_APPROVAL_TIMEOUT_SECONDS);
}

/**
 * Decide one call. Never throws: a condition that errors at run time denies the call
 * (`condition_error`, naming file, line and rule), and any unexpected error denies it
 * (`policy_error`). Reads `usage` (budgets, velocity) but does not count the call: the caller
 * calls `usage.record(input, decision)` with the same `input` object once the decision is final.
 */
export function evaluatePolicy(policy: CompiledPolicy, input: EvaluationInput, usage: UsageTracker): PolicyDecision {
  let result: PolicyDecision;
  try {
    result = decide(policy, input, usage);
  } catch (error) {
    result = failureDecision(
      'policy_error',
      `Internal error while evaluating ${policy.file}, so the call is denied: ${errorText(error)}`,
      policy.approvalTimeoutSeconds,
    );
    result.policyVersion = policy.policyVersion;
  }
  if (policy.name !== null) result.policyName = policy.name;
  if (policy.revision !== null) result.policyRevision = policy.revision;
  return result;
}

function decide(policy: CompiledPolicy, input: EvaluationInput, usage: UsageTracker): PolicyDecision {
  const { request, agent, now } = input;
  const violations: PolicyViolation[] = [];
  const matchedRules: string[] = [];

  // 1. Registration. A block is an operator's kill switch: it holds even in monitor mode.
  let blocked = false;
  let registrationReason: string | null = null;
  if (agent !== undefined) {
    if (agent.blocked) {
      blocked = true;
      const message = `Agent "${request.agentId}" is blocked${agent.blockedReason ? `: ${agent.blockedReason}` : ''}.`;
      violations.push({ code: 'agent_blocked', message });
      registrationReason = message;
    }
    if (agent.allowedResources.length > 0 && !matchesAnyGlob(agent.allowedResources, request.resource)) {
      const message =
        request.resource === ''
          ? `This call names no resource, and agent "${request.agentId}" may only touch its allowed resources (${agent.allowedResources.join(', ')}): pass the resource the call touches.`
          : `Resource "${request.resource}" is outside agent "${request.agentId}"'s allowed resources (${agent.allowedResources.join(', ')}).`;
      violations.push({ code: 'resource_not_allowed', message });
      registrationReason ??= message;
    }
    if (agent.capabilities.length > 0 && !hasCapability(policy, agent.capabilities, request.actionType)) {
      const needs = claimingCapabilities(policy, request.actionType);
      const message =
        `Action "${request.actionType}" is not among agent "${request.agentId}"'s capabilities (${describeCapabilities(policy, agent.capabilities)})` +
        (needs.length > 0 ? `: it needs ${needs.map((n) => `"${n}"`).join(' or ')}.` : '.');
      violations.push({ code: 'capability_missing', message });
      registrationReason ??= message;
    }
  }

  // 2. Rules whose action glob matches (cached per action type), in file order.
  const candidates = policy.candidatesFor(request.actionType);
  let vars: ConditionVariables | undefined;
  let denyRule: CompiledRule | null = null;
  let denyLimited = false;
  let approvalRule: CompiledRule | null = null;
  let allowRule: CompiledRule | null = null;
  let conditionErrorReason: string | null = null;
  let approvers: string[] | null = null;
  let ruleRisk = -1;
  let ruleRiskId = '';
  let limitHits: CompiledLimit[] | null = null;
  // A call the registration refuses is not the rules' to decide: none is listed as matched.
  for (let i = 0; registrationReason === null && i < candidates.length; i++) {
    const rule = candidates[i] as CompiledRule;
    if (!selectorsMatch(rule, request)) continue;
    if (rule.condition !== null) {
      vars ??= conditionVariables(request, agent, input.conditionParameters);
      let holds: boolean;
      try {
        holds = rule.condition.test(vars);
      } catch (error) {
        const message =
          `Rule "${rule.id}" (${where(policy, rule.conditionLine)}) could not evaluate its condition: ${errorText(error)}; ` +
          'the call is denied (guard optional keys with has(), e.g. has(parameters.amount) && …).';
        violations.push({ code: 'condition_error', message, ruleId: rule.id });
        conditionErrorReason ??= message;
        continue;
      }
      if (!holds) continue;
    }
    let limited = false;
    if (rule.limit !== null) {
      (limitHits ??= []).push(rule.limit);
      const used = input.budgetUsage ? (input.budgetUsage.get(rule.limit) ?? 0) : usage.limitCount(rule.limit, request.agentId, now);
      if (used < rule.limit.count) continue; // under budget: the rule does not apply yet
      limited = true;
      if (rule.effect !== 'allow') {
        const scope = rule.limit.scope === 'global' ? 'across all agents' : `for agent "${request.agentId}"`;
        violations.push({
          code: 'rate_limited',
          message: `Rule "${rule.id}": ${used} calls in the last ${rule.limit.per} ${scope} reached its limit of ${rule.limit.count}.`,
          ruleId: rule.id,
        });
      }
    }
    matchedRules.push(rule.id);
    if (rule.risk !== null && rule.risk > ruleRisk) {
      ruleRisk = rule.risk;
      ruleRiskId = rule.id;
    }
    if (rule.effect === 'deny') {
      if (denyRule === null) {
        denyRule = rule;
        denyLimited = limited;
      }
      if (!limited) violations.push({ code: 'rule_denied', message: rule.reason ?? `Denied by rule "${rule.id}".`, ruleId: rule.id });
    } else if (rule.effect === 'require_approval') {
      approvalRule ??= rule;
      for (const a of rule.approvers) {
        approvers ??= [];
        if (!approvers.includes(a)) approvers.push(a);
      }
    } else {
      allowRule ??= rule;
    }
  }

  usage.noteEvaluation(policy, input, limitHits);

  // 3. The rules' answer, or the default.
  let decision: Decision;
  let reason: string;
  if (conditionErrorReason !== null) {
    decision = 'denied';
    reason = conditionErrorReason;
  } else if (registrationReason !== null) {
    decision = 'denied';
    reason = registrationReason;
  } else if (denyRule !== null) {
    decision = 'denied';
    reason =
      denyRule.reason ??
      (denyLimited && denyRule.limit !== null
        ? `Rule "${denyRule.id}" allows at most ${denyRule.limit.count} such calls per ${denyRule.limit.per}, and that limit is reached.`
        : `Denied by rule "${denyRule.id}".`);
  } else if (approvalRule !== null) {
    decision = 'pending';
    reason = approvalRule.reason ?? `Rule "${approvalRule.id}" requires a person to approve this call.`;
  } else if (allowRule !== null) {
    decision = 'allowed';
    reason = allowRule.reason ?? `Allowed by rule "${allowRule.id}".`;
  } else if (policy.defaultEffect === 'deny') {
    decision = 'denied';
    reason = `No rule of ${policy.file} matches "${request.actionType}" on "${request.resource}", and the default is deny.`;
    violations.push({ code: 'default_deny', message: reason });
  } else if (policy.defaultEffect === 'require_approval') {
    decision = 'pending';
    reason = `No rule matches "${request.actionType}" on "${request.resource}", and the default is to ask a person.`;
  } else {
    decision = 'allowed';
    reason = `No rule matches "${request.actionType}" on "${request.resource}", and the default is allow.`;
  }

  // 4. Risk. Thresholds only escalate; a rule's deny or require_approval always stands.
  const risk = assessRisk(request, usage.velocity(request.agentId, now), ruleRisk >= 0 ? { points: ruleRisk, ruleId: ruleRiskId } : undefined);
  const score = risk.score;
  const { requireApprovalAt, denyAt } = policy.riskThresholds;
  if (decision !== 'denied' && denyAt !== null && score >= denyAt) {
    decision = 'denied';
    reason = `Risk score ${score} (${riskLevelOf(score)}) reaches the policy's denyAt threshold of ${denyAt}${topFactors(risk.factors)}.`;
    violations.push({ code: 'risk_too_high', message: reason });
  } else if (decision === 'allowed' && requireApprovalAt !== null && score >= requireApprovalAt) {
    decision = 'pending';
    reason = `Risk score ${score} (${riskLevelOf(score)}) reaches the policy's requireApprovalAt threshold of ${requireApprovalAt}${topFactors(risk.factors)}, so a person must approve.`;
  }
  if (decision === 'allowed' && request.requireHumanApproval) {
    decision = 'pending';
    reason = `The caller asked for a person to approve this call (${reason.replace(/\.$/, '')}).`;
  }

  const result: PolicyDecision = {
    decision,
    reason,
    riskScore: score,
    riskLevel: riskLevelOf(score),
    riskFactors: risk.factors,
    matchedRules,
    policyViolations: violations,
    requiredApprovers: decision === 'pending' && approvers !== null ? approvers : [],
    approvalTimeoutSeconds: policy.approvalTimeoutSeconds,
    mode: policy.mode,
    policyVersion: policy.policyVersion,
  };
  if (decision === 'pending') result.elicitationAllowed = policy.elicitationMaxRisk !== null && score <= policy.elicitationMaxRisk;

  // 5. Monitor mode: report the would-be decision, let the call through (unless blocked).
  if (policy.mode === 'monitor') {
    result.shadowDecision = decision;
    if (!blocked) {
      result.decision = 'allowed';
      if (decision !== 'allowed') result.reason = `Monitor mode, not enforced: it would be ${decision}. ${reason}`;
    }
  }
  return result;
}

/**
 * Whether the registered capabilities let the agent attempt `actionType`. Each is an action-type
 * glob, a name the policy defines, or a name it does not define (which restricts nothing;
 * registering one warns).
 * - Globs are an allow-list: with any registered, the action must match one of them or a held name.
 * - Names gate what they claim: an action type that some capability of the policy covers needs
 *   one of those; one that no capability covers is left to the rules (as in the original Python
 *   SDK, where registering `data_access` did not stop a payment from going to a person).
 * - Only undefined names (or none): no restriction.
 */
function hasCapability(policy: CompiledPolicy, capabilities: readonly string[], actionType: string): boolean {
  let restricts = false;
  let globs = false;
  for (let i = 0; i < capabilities.length; i++) {
    const capability = capabilities[i] as string;
    if (!isCapabilityName(capability)) {
      restricts = globs = true;
      if (matchesAnyGlob([capability], actionType)) return true;
      continue;
    }
    const covers = policy.capabilities.get(capability);
    if (covers === undefined) continue;
    restricts = true;
    if (covers.test(actionType)) return true;
  }
  if (!restricts) return true;
  if (globs) return false;
  for (const covers of policy.capabilities.values()) if (covers.test(actionType)) return false;
  return true;
}

/** The policy's capability names that cover `actionType`. */
function claimingCapabilities(policy: CompiledPolicy, actionType: string): string[] {
  const names: string[] = [];
  for (const [name, covers] of policy.capabilities) if (covers.test(actionType)) names.push(name);
  return names;
}

/** `data_access = database.query, database.read*; email.*`: what each capability stands for. */
function describeCapabilities(policy: CompiledPolicy, capabilities: readonly string[]): string {
  return capabilities
    .map((c) => {
      const globs = isCapabilityName(c) ? policy.capabilities.get(c) : undefined;
      return globs ? `${c} = ${globs.patterns.join(', ')}` : c;
    })
    .join('; ');
}

/**
 * The capability names in `capabilities` that `policy` does not define: they restrict nothing,
 * which is worth a warning when an agent registers with them.
 */
export function undefinedCapabilityNames(policy: CompiledPolicy, capabilities: readonly string[]): string[] {
  return capabilities.filter((c) => isCapabilityName(c) && !policy.capabilities.has(c));
}

/** ` (mostly x, y)`: the two largest factors, to say why in the same sentence. */
function topFactors(factors: ReadonlyArray<{ name: string; points: number }>): string {
  const top = [...factors].sort((a, b) => b.points - a.points).slice(0, 2);
  return top.length === 0 ? '' : `, mostly ${top.map((f) => `${f.name} +${f.points}`).join(', ')}`;
}
