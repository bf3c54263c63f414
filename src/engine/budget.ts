/**
 * Budgets (`limit` rules) as a store counts them: which budgets a call draws on and the key each
 * one is counted under. Pure.
 *
 * A store-backed decision point (transport/local.ts) asks the store how much of each budget a
 * call draws on is used, evaluates with those figures ({@link EvaluationInput.budgetUsage}), and
 * records an allowed call's spends with its decision, in the same commit.
 */
import type { CompiledLimit, CompiledPolicy } from './compile.js';
import type { EvaluationInput } from './evaluation-input.js';
import { conditionVariables, selectorsMatch } from './match.js';
import type { ConditionVariables } from './cel.js';

/**
 * The key a budget is counted under: `r:` + the rule id, then the scope (the agent for
 * `scope: agent`, nobody for `global`), separated by U+001F, which no rule id contains. A
 * server's organisations are kept apart by the store, which qualifies keys as it does agent ids.
 * The count and the window are not part of it: raising a limit from 50 to 60 leaves the 50
 * already spent counted, and a changed window counts the spends still kept.
 */
export function budgetKey(limit: CompiledLimit, agentId: string): string {
  return limit.scope === 'agent' ? `r:${limit.ruleId}\u001fa:${agentId}` : `r:${limit.ruleId}\u001fg`;
}

/**
 * Limits of the rules whose globs and condition match `input` (the budgets an allowed call would
 * spend), in file order, or null when none. A condition that errors matches nothing: that error
 * denies the call.
 */
export function limitsDrawnOn(policy: CompiledPolicy, input: EvaluationInput): CompiledLimit[] | null {
  if (!policy.hasLimits) return null;
  const { request } = input;
  let vars: ConditionVariables | undefined;
  let hits: CompiledLimit[] | null = null;
  for (const rule of policy.candidatesFor(request.actionType)) {
    if (rule.limit === null || !selectorsMatch(rule, request)) continue;
    if (rule.condition !== null) {
      vars ??= conditionVariables(request, input.agent, input.conditionParameters);
      try {
        if (!rule.condition.test(vars)) continue;
      } catch {
        continue;
      }
    }
    (hits ??= []).push(rule.limit);
  }
  return hits;
}

/**
 * Limits of the rules that may apply to `agentId`: those whose agent globs match it (or that
 * name none). Which of them a call draws on also depends on its action, resource and condition.
 */
export function limitsOfAgent(policy: CompiledPolicy, agentId: string): CompiledLimit[] {
  const limits: CompiledLimit[] = [];
  for (const rule of policy.rules) if (rule.limit !== null && (rule.agents === null || rule.agents.test(agentId))) limits.push(rule.limit);
  return limits;
}
