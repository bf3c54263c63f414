/**
 * Approvals and grants on the SQLite store, each change in one write transaction with its audit
 * events: deciding a request (approval-rules.ts says what a decision comes to), expiring it,
 * spending an approved one, revoking a grant. Reads are in sqlite-reads.ts.
 */
import { ConflictError } from '../core/errors.js';
import type { ApprovalRecord, GrantRecord } from '../core/types.js';
import { checkApprovalDecision, planDecision } from './approval-rules.js';
import { approvalConsumed, approvalExpired, grantRevoked } from './audit-events.js';
import { approvalFromRow, type ApprovalRow, grantFromRow, isoUtc } from './records.js';
import { grantAlreadyRevoked, mustExist } from './refusals.js';
import type { SqliteChain } from './sqlite-chain.js';
import type { Statements } from './sqlite-statements.js';
import type { SqliteWriter } from './sqlite-writer.js';
import type { ApprovalDecision } from './store.js';

/** The approval and grant changes of one SQLite store. */
export class SqliteApprovals {
  constructor(
    private readonly stmt: Statements,
    private readonly chain: SqliteChain,
    private readonly writer: SqliteWriter,
  ) {}

  /**
   * Approve or reject a pending, unexpired request atomically; with `grantMinutes` (approve
   * only) also create the grant. NotFoundError; ConflictError when no longer pending or expired
   * (an expired pending request is first marked `expired`, with an `approval.expired` event).
   */
  decide(decision: ApprovalDecision): ApprovalRecord {
    const now = isoUtc(decision.now, 'now');
    const { approvalId, status, decidedBy, channel } = decision;
    checkApprovalDecision(decision);
    const outcome = this.writer.write((): ApprovalRecord | ConflictError => {
      const row = this.row(approvalId);
      const plan = planDecision(row, decision, now);
      if (plan.refused) {
        if (plan.expire) this.markExpired(row, now, 'expired before a decision');
        return plan.refused; // returned, not thrown: the expiry commits
      }
      const grant = plan.grant?.record;
      this.stmt.decideApproval.run(status, now, decidedBy, channel, decision.comment ?? null, grant?.grantId ?? null, plan.edits, approvalId);
      this.chain.append(plan.decided);
      if (grant !== undefined && plan.grant) {
        this.stmt.insertGrant.run(grant.grantId, grant.agentId, grant.actionType, now, grant.expiresAt, decidedBy, channel, approvalId);
        this.chain.append(plan.grant.created);
      }
      return approvalFromRow(this.row(approvalId));
    });
    if (outcome instanceof ConflictError) throw outcome;
    return outcome;
  }

  /** Mark a still-pending request `expired`; returns the record as it now stands. */
  expire(approvalId: string, now: string): ApprovalRecord {
    const ts = isoUtc(now, 'now');
    return this.writer.write(() => {
      const row = this.row(approvalId);
      if (row.status === 'pending') this.markExpired(row, ts, 'timeout');
      return approvalFromRow(this.row(approvalId));
    });
  }

  /**
   * Use an approved request for the call with this digest, once. True only when approved,
   * unconsumed, unexpired and the digest matches; appends `approval.consumed` then.
   */
  consume(approvalId: string, digest: string, now: string): boolean {
    const ts = isoUtc(now, 'now');
    return this.writer.write(() => this.spend(approvalId, digest, ts, false));
  }

  /** {@link consume} inside the current write transaction; `edited`: an approval with edits, for the edited call. */
  spend(approvalId: string, digest: string, ts: string, edited: boolean): boolean {
    if (this.stmt.consumeApproval.run(ts, approvalId, digest, ts, edited ? 1 : 0).changes !== 1) return false;
    const row = this.row(approvalId);
    this.chain.append(approvalConsumed({ approvalId, agentId: row.agent_id, actionId: row.action_id }, digest, ts));
    return true;
  }

  /** Revoke a grant. NotFoundError; ConflictError if already revoked. Appends `grant.revoked`. */
  revokeGrant(grantId: string, actor: string, now: string): GrantRecord {
    const ts = isoUtc(now, 'now');
    return this.writer.write(() => {
      const row = mustExist(this.stmt.getGrant.get(grantId), 'grant', grantId);
      if (row.revoked_at !== null || this.stmt.revokeGrant.run(ts, actor, grantId).changes !== 1) throw grantAlreadyRevoked(grantId, row.revoked_at);
      this.chain.append(grantRevoked({ grantId, agentId: row.agent_id, approvalId: row.approval_id, actionType: row.action_type }, actor, ts));
      return grantFromRow(mustExist(this.stmt.getGrant.get(grantId), 'grant', grantId));
    });
  }

  private row(approvalId: string): ApprovalRow {
    return mustExist(this.stmt.getApproval.get(approvalId), 'approval', approvalId);
  }

  private markExpired(row: ApprovalRow, now: string, why: string): void {
    this.stmt.expireApproval.run(now, row.approval_id);
    this.chain.append(approvalExpired({ approvalId: row.approval_id, agentId: row.agent_id, actionId: row.action_id }, row.expires_at, now, why));
  }
}
