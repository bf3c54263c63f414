/**
 * Decisions and outcomes on the SQLite store, and the budgets decisions draw on. A decision or
 * outcome is queued for the group commit in `batched` mode when it may be (batch.ts), otherwise
 * committed at once in one write transaction with everything it depends on — the duplicate
 * check, the agent's version, the approval it spends, the budgets it draws on, the approval
 * request it opens. See docs/architecture.md, "Store and durability".
 */
import { NotFoundError } from '../core/errors.js';
import type { ActionRecord, ApprovalRecord, OutcomeRecord } from '../core/types.js';
import { approvalRequested } from './audit-events.js';
import { mayQueue } from './batch.js';
import { budgetsSpent } from './budget-spends.js';
import { actionJson, approvalInsertParams, isoUtc, outcomeJson } from './records.js';
import { approvalNotSpendable, duplicateAction, duplicateOutcome, refuseStaleAgent } from './refusals.js';
import type { SqliteApprovals } from './sqlite-approvals.js';
import type { SqliteBudgets } from './sqlite-budgets.js';
import type { SqliteChain } from './sqlite-chain.js';
import type { SqliteReader } from './sqlite-reads.js';
import type { Statements } from './sqlite-statements.js';
import type { SqliteWriter } from './sqlite-writer.js';
import type { BudgetSpend, BudgetUse, BudgetWindow, RecordDecisionOptions } from './store.js';

/** What {@link SqliteDecisions} works with: the store's parts. */
export interface SqliteDecisionParts {
  stmt: Statements;
  chain: SqliteChain;
  writer: SqliteWriter;
  reads: SqliteReader;
  budgets: SqliteBudgets;
  approvals: SqliteApprovals;
}

/** Recording and reading back the decisions and outcomes of one SQLite store; its budget use. */
export class SqliteDecisions {
  constructor(private readonly p: SqliteDecisionParts) {}

  /**
   * Record a decision (`action.evaluated`), and with a pending one its approval request
   * (`approval.requested`) in the same transaction; queued in `batched` mode when it may be.
   * ConflictError when the action id is already recorded; StaleDecisionError when the agent
   * changed since `agentVersion` or the approval it spends cannot be spent.
   */
  record(action: ActionRecord, approval: ApprovalRecord | undefined, options: RecordDecisionOptions): void {
    const { writer, chain, budgets } = this.p;
    const recordJson = actionJson(action);
    const ts = isoUtc(action.createdAt, 'action.createdAt');
    const actionId = action.actionId;
    const spends = budgetsSpent(action, options);
    const atMs = Date.parse(ts);
    if (writer.queue && mayQueue(action, approval, options)) {
      // Checked again, against the whole file, when the queue is written.
      if (writer.queue.decision(actionId) || chain.decidedInTail(actionId)) throw duplicateAction(actionId);
      if (spends === undefined) writer.enqueue({ kind: 'decision', action, json: recordJson });
      else this.enqueueSpending(action, recordJson, spends, atMs);
      return;
    }
    const approvalRow = approval ? approvalInsertParams(approval) : undefined;
    writer.write(() => {
      const [version, indexed] = this.p.stmt.decisionCheck.get(action.agentId, actionId) ?? [null, null];
      if (indexed !== null || chain.decidedInTail(actionId)) throw duplicateAction(actionId);
      refuseStaleAgent(action.agentId, options.agentVersion, version);
      const spent = options.spendsApproval;
      if (spent !== undefined && !this.p.approvals.spend(spent, action.digest, ts, false)) throw approvalNotSpendable(spent);
      const edited = options.spendsEditedApproval;
      if (edited !== undefined && !this.p.approvals.spend(edited.approvalId, edited.digest, ts, true)) throw approvalNotSpendable(edited.approvalId);
      // Refused here (rolled back) when a budget the decision relied on is used up.
      if (spends !== undefined) budgets.spendAndCheck(spends, actionId, atMs);
      chain.appendDecision(action, recordJson, ts);
      if (approval && approvalRow) {
        this.p.stmt.insertApproval.run(...approvalRow);
        chain.append(approvalRequested(approval, approvalRow[7]));
      }
    });
    if (spends !== undefined) budgets.count(spends, atMs);
  }

  /**
   * Record how the action ended (`action.completed` / `action.failed`); queued in `batched`
   * mode. NotFoundError for an unknown action; ConflictError when it already has an outcome.
   */
  recordOutcome(outcome: OutcomeRecord): void {
    const { writer, chain } = this.p;
    const actionId = outcome.actionId;
    const recordJson = outcomeJson(outcome);
    if (!writer.queue) {
      writer.write(() => chain.appendOutcome(outcome, recordJson));
      return;
    }
    if (writer.queue.outcome(actionId)) throw duplicateOutcome(actionId);
    let agentId = writer.queue.decision(actionId)?.action.agentId;
    if (agentId === undefined) {
      // Usually a decision of ours still in the tail (found without a read); otherwise look in the file.
      const found = chain.decidedInTail(actionId) ? chain.locate(actionId) : this.p.reads.read(() => chain.locate(actionId));
      if (found === undefined) throw new NotFoundError('action', actionId);
      if (found.outcomeSeq !== undefined) throw duplicateOutcome(actionId);
      agentId = found.agentId;
    }
    writer.enqueue({ kind: 'outcome', outcome, json: recordJson, agentId });
  }

  /** The action and its decision; includes actions still queued in a batch. */
  action(actionId: string): ActionRecord | undefined {
    const text = this.p.writer.queue?.decision(actionId)?.json ?? this.p.reads.actionRecord(actionId);
    return text === undefined ? undefined : (JSON.parse(text) as ActionRecord);
  }

  /** How the action ended, if recorded; includes outcomes still queued in a batch. */
  outcome(actionId: string): OutcomeRecord | undefined {
    const text = this.p.writer.queue?.outcome(actionId)?.json ?? this.p.reads.outcomeRecord(actionId);
    return text === undefined ? undefined : (JSON.parse(text) as OutcomeRecord);
  }

  /**
   * Spends of each budget within its window ending at `nowMs`: every connection's committed
   * ones, read through this connection's copy (one indexed read when nothing new was committed;
   * none when it read less than BUDGET_COPY_MAX_AGE_MS ago), plus this store's queued ones.
   */
  budgetUsage(windows: readonly BudgetWindow[], nowMs: number): number[] {
    const { budgets, reads } = this.p;
    if (!budgets.loaded(windows)) {
      // Catching up and loading must see one snapshot.
      return reads.read(() => {
        budgets.catchUp();
        return budgets.usage(windows, nowMs);
      });
    }
    if (!budgets.fresh) budgets.catchUp();
    return budgets.usage(windows, nowMs);
  }

  /** {@link budgetUsage} with each budget's oldest spend. */
  budgetUse(windows: readonly BudgetWindow[], nowMs: number): BudgetUse[] {
    const { budgets } = this.p;
    return this.p.reads.read(() => {
      budgets.catchUp();
      return budgets.use(windows, nowMs);
    });
  }

  /** Queue an allowed decision that spends budgets: counted at once, so the next call in this process sees them. */
  private enqueueSpending(action: ActionRecord, recordJson: string, spends: readonly BudgetSpend[], atMs: number): void {
    const { budgets } = this.p;
    if (!budgets.loaded(spends)) {
      this.p.reads.read(() => {
        budgets.catchUp();
        budgets.usage(spends, atMs);
      });
    }
    budgets.count(spends, atMs);
    try {
      this.p.writer.enqueue({ kind: 'decision', action, json: recordJson, spends });
    } catch (err) {
      budgets.uncount(spends, atMs);
      throw err;
    }
  }
}
