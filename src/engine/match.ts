/**
 * Whether a rule's selectors (resource and agent globs) and condition match a call. Shared by the
 * evaluator and the usage tracker, so both agree on what "a call matching this rule" is.
 */
import type { ActionRequest, AgentRecord } from '../core/types.js';
import type { ConditionVariables } from './cel.js';
import type { CompiledRule } from './compile.js';

const EMPTY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/**
 * The variables a condition sees for this call; `parameters` replaces the request's when given
 * (a replay watches what conditions read: engine/replay.ts).
 */
export function conditionVariables(request: ActionRequest, agent: AgentRecord | undefined, parameters?: Record<string, unknown>): ConditionVariables {
  return {
    parameters: parameters ?? request.parameters ?? EMPTY,
    resource: request.resource,
    action: request.actionType,
    agent: { id: request.agentId, type: agent?.agentType ?? '', metadata: agent?.metadata ?? EMPTY },
    context: request.context ?? EMPTY,
  };
}

/** Resource and agent globs (the action glob was checked when picking candidates). */
export function selectorsMatch(rule: CompiledRule, request: ActionRequest): boolean {
  if (rule.resources !== null && !rule.resources.test(request.resource)) return false;
  if (rule.agents !== null && !rule.agents.test(request.agentId)) return false;
  return true;
}
