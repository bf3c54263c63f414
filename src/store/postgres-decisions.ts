/**
 * Decisions and outcomes on the PostgreSQL store: queued for the group commit in `batched` mode
 * when they may be (batch.ts), otherwise written in one transaction with everything they depend
 * on — the agent's version, the approval they spend, the budgets they draw on, the approval
 * request they open — in as few round trips as the checks allow (a duplicate id shows as a
 * unique violation of the insert). See docs/architecture.md, "Store and durability".
 */
import { NotFoundError } from '../core/errors.js';
import type { ActionRecord, ApprovalRecord, OutcomeRecord } from '../core/types.js';
import { approvalRequested } from './audit-events.js';
import { mayQueue, type WriteQueue } from './batch.js';
import { budgetsSpent } from './budget-spends.js';
import type { PgApprovals } from './postgres-approvals.js';
import type { PgBudgets } from './postgres-budgets.js';
import { isForeignKeyViolation, isUniqueViolation } from './postgres-errors.js';
import type { PgReader } from './postgres-reads.js';
import { PG_CONSTRAINTS, type PgStatements } from './postgres-statements.js';
import type { PgWriteTx } from './postgres-tx.js';
import { appendDecision, appendOutcome, type PgWriter } from './postgres-writer.js';
import { actionJson, approvalInsertParams, isoUtc, outcomeJson } from './records.js';
import { approvalNotSpendable, duplicateAction, duplicateOutcome, refuseStaleAgent } from './refusals.js';
import type { RecordDecisionOptions } from './store.js';

/** What {@link PgDecisions} works with: the store's parts. */
export interface PgDecisionParts {
  sql: PgStatements;
  writer: PgWriter;
  reads: PgReader;
  budgets: PgBudgets;
  approvals: PgApprovals;
}

/** Recording and reading back the decisions and outcomes of one PostgreSQL store. */
export class PgDecisions {
  constructor(private readonly p: PgDecisionParts) {}

  /**
   * Record a decision (`action.evaluated`), and with a pending one its approval request
   * (`approval.requested`) in the same transaction. In `batched` mode an allowed decision
   * without an approval is queued. ConflictError when the action id is already recorded;
   * StaleDecisionError when the agent changed since `agentVersion` or `spendsApproval` cannot be
   * spent (see {@link RecordDecisionOptions}).
   */
  async record(action: ActionRecord, approval: ApprovalRecord | undefined, options: RecordDecisionOptions): Promise<void> {
    const { writer, budgets, sql } = this.p;
    const recordJson = actionJson(action);
    const ts = isoUtc(action.createdAt, 'action.createdAt');
    const actionId = action.actionId;
    const spends = budgetsSpent(action, options);
    const atMs = Date.parse(ts);
    const queue = writer.queue;
    if (queue && mayQueue(action, approval, options)) {
      // Checked again, against the database, when the queue is written.
      if (queue.decision(actionId) || writer.recentAction(actionId)) throw duplicateAction(actionId);
      if (spends === undefined) return writer.enqueue({ kind: 'decision', action, json: recordJson });
      // Counted at once, so the next call in this process sees them.
      budgets.own.add(actionId, spends, atMs);
      try {
        await writer.enqueue({ kind: 'decision', action, json: recordJson, spends });
      } catch (err) {
        budgets.own.settled(new Set([actionId]));
        throw err;
      }
      return;
    }
    const approvalParams = approval ? approvalInsertParams(approval) : undefined;
    await writer.write(async (tx) => {
      try {
        if (spends !== undefined) await budgets.check(tx, spends, atMs);
        await this.writeDecision(tx, action, recordJson, ts, options);
        if (spends !== undefined) budgets.write(tx, [{ actionId, spends, atMs }]);
        if (approval && approvalParams) {
          tx.defer(sql.insertApproval, approvalParams);
          const entry = approvalRequested(approval, approvalParams[7]);
          tx.append(entry.event, entry.data);
        }
        await this.checkVersion(tx, action.agentId, options);
      } catch (err) {
        throw isUniqueViolation(err, PG_CONSTRAINTS.actionsPkey) ? duplicateAction(actionId) : err;
      }
    });
    writer.remember(actionId, action.agentId, false);
  }

  /**
   * Record how the action ended (`action.completed` / `action.failed`); queued in `batched`
   * mode. NotFoundError for an unknown action; ConflictError when it already has an outcome.
   */
  async recordOutcome(outcome: OutcomeRecord): Promise<void> {
    const { writer, sql } = this.p;
    const actionId = outcome.actionId;
    const recordJson = outcomeJson(outcome);
    const ts = isoUtc(outcome.recordedAt, 'outcome.recordedAt');
    const recent = writer.recentAction(actionId);
    if (recent?.outcome) throw duplicateOutcome(actionId);
    if (writer.queue) {
      await this.enqueueOutcome(writer.queue, outcome, recordJson);
      return;
    }
    const known = recent?.agentId;
    const agentId = await writer.write(async (tx) => {
      try {
        const agent = known ?? (await this.actionAgent(tx, actionId));
        const seq = appendOutcome(tx, outcome, recordJson, ts, agent);
        tx.defer(sql.insertOutcome, [actionId, outcome.status, ts, seq]);
        await tx.flush(); // here, so a duplicate or unknown action is caught below
        return agent;
      } catch (err) {
        if (isUniqueViolation(err, PG_CONSTRAINTS.outcomesPkey)) throw duplicateOutcome(actionId);
        if (isForeignKeyViolation(err, PG_CONSTRAINTS.outcomesAction)) throw new NotFoundError('action', actionId);
        throw err;
      }
    });
    writer.remember(actionId, agentId, true);
  }

  /** The action and its decision; includes actions still queued in a batch. */
  async action(actionId: string): Promise<ActionRecord | undefined> {
    const text = this.p.writer.queue?.decision(actionId)?.json ?? (await this.p.reads.actionRecord(actionId));
    return text === undefined ? undefined : (JSON.parse(text) as ActionRecord);
  }

  /** How the action ended, if recorded; includes outcomes still queued in a batch. */
  async outcome(actionId: string): Promise<OutcomeRecord | undefined> {
    const text = this.p.writer.queue?.outcome(actionId)?.json ?? (await this.p.reads.outcomeRecord(actionId));
    return text === undefined ? undefined : (JSON.parse(text) as OutcomeRecord);
  }

  /**
   * The decision's checks and rows. With `spendsApproval` the checks are read first (the spend
   * appends before the decision); otherwise the duplicate shows as a unique violation and the
   * version is read back with the insert ({@link checkVersion}), saving a round trip.
   */
  private async writeDecision(tx: PgWriteTx, action: ActionRecord, recordJson: string, ts: string, options: RecordDecisionOptions): Promise<void> {
    const edited = options.spendsEditedApproval;
    const spends = options.spendsApproval ?? edited?.approvalId;
    if (spends !== undefined) {
      const [check] = await tx.read<{ version: number | null; taken: boolean }>(this.p.sql.decisionCheck, [action.agentId, action.actionId]);
      if (check?.taken) throw duplicateAction(action.actionId);
      refuseStaleAgent(action.agentId, options.agentVersion, check?.version ?? null);
      if (!(await this.p.approvals.spend(tx, spends, edited?.digest ?? action.digest, ts, edited !== undefined))) {
        throw approvalNotSpendable(spends);
      }
    }
    const seq = appendDecision(tx, action, recordJson, ts);
    tx.defer(this.p.sql.insertAction, [action.actionId, action.agentId, action.decision, action.approvalId ?? null, ts, seq]);
  }

  /**
   * Send the pending rows (so a duplicate id fails here, inside the caller's catch), with a read
   * of the agent's version when it is to be checked; refuse a stale decision.
   */
  private async checkVersion(tx: PgWriteTx, agentId: string, options: RecordDecisionOptions): Promise<void> {
    if (options.agentVersion === undefined || options.spendsApproval !== undefined || options.spendsEditedApproval !== undefined) return tx.flush();
    const [row] = await tx.write<{ version: number | null }>(this.p.sql.agentVersion, [agentId]);
    refuseStaleAgent(agentId, options.agentVersion, row?.version ?? null);
  }

  private async enqueueOutcome(queue: WriteQueue, outcome: OutcomeRecord, recordJson: string): Promise<void> {
    const actionId = outcome.actionId;
    if (queue.outcome(actionId)) throw duplicateOutcome(actionId);
    let agentId = queue.decision(actionId)?.action.agentId ?? this.p.writer.recentAction(actionId)?.agentId;
    if (agentId === undefined) {
      const state = await this.p.reads.actionState(actionId);
      if (state === undefined) throw new NotFoundError('action', actionId);
      if (state.has_outcome) throw duplicateOutcome(actionId);
      agentId = state.agent_id;
      if (queue.outcome(actionId)) throw duplicateOutcome(actionId); // queued while we read
    }
    await this.p.writer.enqueue({ kind: 'outcome', outcome, json: recordJson, agentId });
  }

  /** The agent of a recorded action without an outcome (inside the write transaction). */
  private async actionAgent(tx: PgWriteTx, actionId: string): Promise<string> {
    const [state] = await tx.read<{ agent_id: string; has_outcome: boolean }>(this.p.sql.actionStates, [[actionId]]);
    if (state === undefined) throw new NotFoundError('action', actionId);
    if (state.has_outcome) throw duplicateOutcome(actionId);
    return state.agent_id;
  }
}
