/**
 * A pending call as an approver edited it: the approval it claims must hold for exactly this
 * call. See docs/architecture.md#edit-and-approve.
 */
import { isDeepStrictEqual } from 'node:util';
import { applyEdits } from '../core/argument-edits.js';
import type { ApprovalRecord } from '../core/types.js';
import type { CompiledPolicy } from '../engine/index.js';
import type { Store } from '../store/store.js';
import type { EvaluationRequest } from './request.js';

/**
 * The approval an edited call claims, when it holds: approved with edits, unspent, unexpired,
 * for this agent, action and resource and for the original call's digest, edits allowed by the
 * policy in force, and the call's redacted arguments exactly the recorded ones as edited.
 */
export async function editedCall(
  store: Store,
  policy: CompiledPolicy | Error,
  request: EvaluationRequest,
  editOf: { approvalId: string; digest: string },
  nowIso: string,
): Promise<{ approval: ApprovalRecord } | { refusal: string }> {
  const approval = await store.getApproval(editOf.approvalId);
  if (!approval || approval.agentId !== request.agentId) return { refusal: `No approval "${editOf.approvalId}" for this agent` };
  if (approval.status !== 'approved' || approval.edits === undefined) return { refusal: 'The approval was not approved with edits' };
  if (approval.consumedAt !== undefined) return { refusal: 'The approval was already used by another call' };
  if (approval.expiresAt <= nowIso) return { refusal: 'The approval expired before the edited call could use it' };
  if (approval.digest !== editOf.digest || approval.actionType !== request.actionType || approval.resource !== request.resource) {
    return { refusal: 'The approval is for a different call' };
  }
  if (!(policy instanceof Error) && !policy.allowEdits) return { refusal: 'The policy does not allow approvers to edit calls (approvals.allowEdits: false)' };
  let expected: Record<string, unknown>;
  try {
    expected = applyEdits(approval.parameters, approval.edits);
  } catch {
    return { refusal: 'The edits no longer apply to the recorded arguments' };
  }
  if (!isDeepStrictEqual(expected, request.redactedParameters)) return { refusal: 'The arguments are not the ones the approver approved' };
  return { approval };
}
