/**
 * What deciding an approval request means, the same in both stores: what a decision may not be
 * ({@link checkApprovalDecision}, before anything is read) and what deciding a stored request
 * comes to ({@link planDecision}: refused, expired, or decided with its events and perhaps a
 * grant). Each store only runs the statements, inside its own transaction.
 */
import { randomUUID } from 'node:crypto';
import { checkEdits } from '../core/argument-edits.js';
import type { ConflictError } from '../core/errors.js';
import type { ApprovalChannel, GrantRecord } from '../core/types.js';
import { approvalDecided, type AuditEntry, grantCreated } from './audit-events.js';
import { type ApprovalRequestPart, type ApprovalRow, invalid } from './records.js';
import { approvalAlreadyDecided, approvalPastExpiry } from './refusals.js';
import type { ApprovalDecision } from './store.js';

/** What every store refuses in a decision before reading anything: a status that is not a verdict, a grant without an approval or of no positive length. */
export function checkApprovalDecision(decision: ApprovalDecision): void {
  const { status } = decision;
  if (status !== 'approved' && status !== 'rejected') throw invalid('status', "must be 'approved' or 'rejected'");
  if (decision.edits !== undefined && status !== 'approved') throw invalid('edits', 'only an approval can edit the call');
  if (decision.grantMinutes !== undefined) {
    if (status !== 'approved') throw invalid('grantMinutes', 'a grant can only come with an approval');
    if (decision.edits !== undefined) throw invalid('grantMinutes', 'a grant lets later calls run unedited: approve an edited call without one');
    if (!(decision.grantMinutes > 0) || !Number.isFinite(decision.grantMinutes)) {
      throw invalid('grantMinutes', 'must be a positive number of minutes');
    }
  }
}

/** A decided request: what to write, in this order. */
export interface DecidedRequest {
  refused?: undefined;
  /** The `edits` column (JSON of the approver's edits), or null. */
  edits: string | null;
  /** `approval.approved` / `approval.rejected`. */
  decided: AuditEntry;
  /** With `grantMinutes`: the grant to insert and its `grant.created`. */
  grant: { record: GrantRecord; created: AuditEntry } | undefined;
}

/** A refused decision; `expire`: the request has expired, and is marked so first. */
export interface RefusedDecision {
  refused: ConflictError;
  expire: boolean;
}

/**
 * What deciding `row` (read inside the decision's transaction) as `decision` at `now` comes to:
 * refused when it is no longer pending or has expired, otherwise its events and grant.
 * ValidationError for edits that do not fit the request's recorded (redacted) arguments.
 */
export function planDecision(row: ApprovalRow, decision: ApprovalDecision, now: string): DecidedRequest | RefusedDecision {
  const { approvalId, status, decidedBy, channel } = decision;
  if (row.status !== 'pending') return { refused: approvalAlreadyDecided(approvalId, row.status), expire: false };
  if (row.expires_at <= now) return { refused: approvalPastExpiry(approvalId, row.expires_at), expire: true };
  if (decision.edits !== undefined) checkEdits((JSON.parse(row.request) as ApprovalRequestPart).parameters, decision.edits);
  const grantId = decision.grantMinutes !== undefined ? randomUUID() : undefined;
  const ref = { approvalId, agentId: row.agent_id, actionId: row.action_id };
  const verdict = { status, decidedBy, channel, claimedChannel: decision.claimedChannel, comment: decision.comment, grantId, edits: decision.edits };
  let grant: DecidedRequest['grant'];
  if (grantId !== undefined && decision.grantMinutes !== undefined) {
    const record = grantForApproval({ approvalId, agentId: row.agent_id, actionType: row.action_type }, grantId, decision.grantMinutes, decidedBy, channel, now);
    grant = { record, created: grantCreated(ref, record, decidedBy, now) };
  }
  const edits = decision.edits === undefined ? null : JSON.stringify(decision.edits);
  return { edits, decided: approvalDecided(ref, verdict, now), grant };
}

/** The grant an approval with `grantMinutes` creates. */
function grantForApproval(
  approval: { approvalId: string; agentId: string; actionType: string },
  grantId: string,
  grantMinutes: number,
  decidedBy: string,
  channel: ApprovalChannel,
  now: string,
): GrantRecord {
  return {
    grantId,
    agentId: approval.agentId,
    actionType: approval.actionType,
    createdAt: now,
    expiresAt: new Date(Date.parse(now) + grantMinutes * 60_000).toISOString(),
    createdBy: decidedBy,
    channel,
    approvalId: approval.approvalId,
  };
}
