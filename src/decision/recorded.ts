/**
 * A decision already recorded, answered again: a retried request under the same idempotency key
 * gets what was recorded the first time (for the same call only), and a recorded action reads as
 * the decision it stands for. See docs/architecture.md#idempotency.
 */
import type { Store } from '../store/store.js';
import type { ActionRecord, ApprovalRecord, DecisionResult } from '../core/types.js';
import { denied } from './denial.js';
import { idempotencyKeyReused, isSameCall } from './same-call.js';
import type { EvaluationRequest } from './request.js';

/**
 * What a request under a used key answers: the recorded decision of the same call, else
 * ConflictError. A replay of an agent blocked since is denied: the kill switch stops every call
 * that has not started running, including one replayed under a recorded id.
 */
export async function answerRecorded(store: Store, recorded: ActionRecord, request: EvaluationRequest, key: string): Promise<DecisionResult> {
  if (!isSameCall(recorded, { ...request, parameters: request.redactedParameters })) throw idempotencyKeyReused(key);
  const approval = recorded.approvalId === undefined ? undefined : await store.getApproval(recorded.approvalId);
  const answer = decisionFromRecord(recorded, approval);
  if (answer.decision === 'denied') return answer;
  // A call that already ran is not run again by replaying its decision (a LangGraph node re-run
  // after an interrupt asks again for every call of the node, including those that finished).
  if (answer.decision === 'allowed' && (await store.getOutcome(recorded.actionId))) {
    return denied(answer, 'already_ran', 'This exact call already ran (its outcome is recorded); replaying its decision does not run it again');
  }
  // Read afresh: the registration a decision uses may be cached, and a replay commits nothing
  // that would notice a block made since.
  const now = await store.getAgent(recorded.agentId);
  if (now?.blocked) {
    return denied(answer, 'agent_blocked', `Agent "${recorded.agentId}" is blocked${now.blockedReason ? `: ${now.blockedReason}` : ''}; the recorded decision no longer lets this call run`);
  }
  return answer;
}

/** The decision a recorded action stands for (what a retried evaluate answers). */
export function decisionFromRecord(action: ActionRecord, approval: ApprovalRecord | undefined): DecisionResult {
  const result: DecisionResult = {
    decision: action.decision,
    reason: action.reason,
    riskScore: action.riskScore,
    riskLevel: action.riskLevel,
    riskFactors: action.riskFactors,
    matchedRules: action.matchedRules,
    policyViolations: action.policyViolations,
    requiredApprovers: approval?.requiredApprovers ?? [],
    approvalTimeoutSeconds: approval ? Math.round((Date.parse(approval.expiresAt) - Date.parse(approval.requestedAt)) / 1000) : 0,
    mode: action.conditions.includes('monitor_mode') ? 'monitor' : 'enforce',
    actionId: action.actionId,
    agentId: action.agentId,
    actionType: action.actionType,
    resource: action.resource,
    conditions: action.conditions,
    decidedAt: action.createdAt,
  };
  if (action.approvalId !== undefined) result.approvalRequestId = action.approvalId;
  if (action.policyVersion !== undefined) result.policyVersion = action.policyVersion;
  if (action.policyName !== undefined) result.policyName = action.policyName;
  if (action.policyRevision !== undefined) result.policyRevision = action.policyRevision;
  if (approval && action.decision === 'allowed' && approval.decidedBy && approval.channel) {
    result.approvedBy = { decidedBy: approval.decidedBy, channel: approval.channel, decidedAt: approval.decidedAt ?? action.createdAt };
  }
  return result;
}
