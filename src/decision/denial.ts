/**
 * A denial made by the client's side of a transport, for a call the decision point did not allow
 * (an answer it could not read, the platform's kill switch): never "pending", never "allowed".
 */
import type { DecisionResult } from '../core/types.js';
import type { EvaluationRequest } from './request.js';

/** The denial of `request` under `actionId`, with one violation `code` and its `reason`. */
export function denialHere(request: Pick<EvaluationRequest, 'agentId' | 'actionType' | 'resource'>, actionId: string, code: string, reason: string): DecisionResult {
  return {
    decision: 'denied',
    reason,
    riskScore: 100,
    riskLevel: 'critical',
    riskFactors: [],
    matchedRules: [],
    policyViolations: [{ code, message: reason }],
    requiredApprovers: [],
    approvalTimeoutSeconds: 0,
    mode: 'enforce',
    actionId,
    agentId: request.agentId,
    actionType: request.actionType,
    resource: request.resource,
    conditions: [code],
    decidedAt: new Date().toISOString(),
  };
}

/** `base` turned into a denial with one more violation `code` and its `reason` (a wait that ended
 * without a yes, a replayed decision that no longer holds). */
export function denied(base: DecisionResult, code: string, reason: string): DecisionResult {
  return {
    ...base,
    decision: 'denied',
    reason,
    policyViolations: [...base.policyViolations, { code, message: reason }],
    conditions: [...base.conditions, code],
  };
}
