/**
 * Approvals and grants on the PostgreSQL store, each change in one write transaction with its
 * audit events: deciding a request (approval-rules.ts says what a decision comes to), expiring
 * it, spending an approved one, revoking a grant. Reads are in postgres-reads.ts.
 */
import { ConflictError } from '../core/errors.js';
import type { ApprovalRecord, GrantRecord } from '../core/types.js';
import { checkApprovalDecision, planDecision } from './approval-rules.js';
import { approvalConsumed, approvalExpired, grantRevoked } from './audit-events.js';
import type { PgStatements } from './postgres-statements.js';
import type { PgWriteTx } from './postgres-tx.js';
import type { PgWriter } from './postgres-writer.js';
import { approvalFromRow, type ApprovalRow, grantFromRow, type GrantRow, isoUtc } from './records.js';
import { grantAlreadyRevoked, mustExist } from './refusals.js';
import type { ApprovalDecision } from './store.js';

/** The approval and grant changes of one PostgreSQL store. */
export class PgApprovals {
  constructor(
    private readonly sql: PgStatements,
    private readonly writer: PgWriter,
  ) {}

  /**
   * Approve or reject a pending, unexpired request atomically; with `grantMinutes` (approve
   * only) also create the grant. NotFoundError; ConflictError when no longer pending or expired
   * (an expired pending request is first marked `expired`, with an `approval.expired` event).
   */
  async decide(decision: ApprovalDecision): Promise<ApprovalRecord> {
    const now = isoUtc(decision.now, 'now');
    const { approvalId, status, decidedBy, channel } = decision;
    checkApprovalDecision(decision);
    const outcome = await this.writer.write(async (tx): Promise<ApprovalRecord | ConflictError> => {
      const row = await this.row(tx, approvalId);
      const plan = planDecision(row, decision, now);
      if (plan.refused) {
        if (plan.expire) await this.markExpired(tx, row, now, 'expired before a decision');
        return plan.refused; // returned, not thrown: the expiry commits
      }
      const grant = plan.grant?.record;
      tx.append(plan.decided.event, plan.decided.data);
      if (grant !== undefined && plan.grant) {
        tx.defer(this.sql.insertGrant, [grant.grantId, grant.agentId, grant.actionType, now, grant.expiresAt, decidedBy, channel, approvalId]);
        tx.append(plan.grant.created.event, plan.grant.created.data);
      }
      const params = [status, now, decidedBy, channel, decision.comment ?? null, grant?.grantId ?? null, approvalId, plan.edits];
      return approvalFromRow(await tx.writeOne<ApprovalRow>(this.sql.decideApproval, params));
    });
    if (outcome instanceof ConflictError) throw outcome;
    return outcome;
  }

  /** Mark a still-pending request `expired`; returns the record as it now stands. */
  async expire(approvalId: string, now: string): Promise<ApprovalRecord> {
    const ts = isoUtc(now, 'now');
    return this.writer.write(async (tx) => {
      const row = await this.row(tx, approvalId);
      return approvalFromRow(row.status === 'pending' ? await this.markExpired(tx, row, ts, 'timeout') : row);
    });
  }

  /**
   * Use an approved request for the call with this digest, once. True only when approved,
   * unconsumed, unexpired and the digest matches; appends `approval.consumed` then.
   */
  async consume(approvalId: string, digest: string, now: string): Promise<boolean> {
    const ts = isoUtc(now, 'now');
    return this.writer.write((tx) => this.spend(tx, approvalId, digest, ts, false));
  }

  /** {@link consume} inside the transaction `tx`; `edited`: an approval with edits, for the edited call. */
  async spend(tx: PgWriteTx, approvalId: string, digest: string, ts: string, edited: boolean): Promise<boolean> {
    const [row] = await tx.write<{ agent_id: string; action_id: string }>(this.sql.consumeApproval, [ts, approvalId, digest, edited]);
    if (row === undefined) return false;
    const entry = approvalConsumed({ approvalId, agentId: row.agent_id, actionId: row.action_id }, digest, ts);
    tx.append(entry.event, entry.data);
    return true;
  }

  /** Revoke a grant. NotFoundError; ConflictError if already revoked. Appends `grant.revoked`. */
  async revokeGrant(grantId: string, actor: string, now: string): Promise<GrantRecord> {
    const ts = isoUtc(now, 'now');
    return this.writer.write(async (tx) => {
      const row = mustExist((await tx.read<GrantRow>(this.sql.getGrant, [grantId]))[0], 'grant', grantId);
      if (row.revoked_at !== null) throw grantAlreadyRevoked(grantId, row.revoked_at);
      const entry = grantRevoked({ grantId, agentId: row.agent_id, approvalId: row.approval_id, actionType: row.action_type }, actor, ts);
      tx.append(entry.event, entry.data);
      return grantFromRow(await tx.writeOne<GrantRow>(this.sql.revokeGrant, [ts, actor, grantId]));
    });
  }

  private async row(tx: PgWriteTx, approvalId: string): Promise<ApprovalRow> {
    return mustExist((await tx.read<ApprovalRow>(this.sql.getApproval, [approvalId]))[0], 'approval', approvalId);
  }

  private async markExpired(tx: PgWriteTx, row: ApprovalRow, now: string, why: string): Promise<ApprovalRow> {
    const entry = approvalExpired({ approvalId: row.approval_id, agentId: row.agent_id, actionId: row.action_id }, row.expires_at, now, why);
    tx.append(entry.event, entry.data);
    return tx.writeOne<ApprovalRow>(this.sql.expireApproval, [now, row.approval_id]);
  }
}
