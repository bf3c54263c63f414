/**
 * The audit chain as one SQLite connection writes and finds it: appending events inside a write
 * transaction (after the head read under the write lock, never trusted from memory, so several
 * processes writing one file keep one valid chain), and finding an action's hot events — its
 * decision and outcome — in the view's unindexed tail or in `action_index` (chain-view.ts says
 * why they are kept that way). See docs/architecture.md, "Store and durability".
 */
import { performance } from 'node:perf_hooks';
import { NotFoundError } from '../core/errors.js';
import type { ActionRecord, OutcomeRecord } from '../core/types.js';
import { AuditAppender } from './audit-chain.js';
import { actionEvaluated, actionOutcome, type AuditEntry } from './audit-events.js';
import type { ChainSource, ChainView } from './chain-view.js';
import { isoUtc } from './records.js';
import { duplicateOutcome } from './refusals.js';
import { INDEX_AFTER_ACTIONS } from './sqlite-options.js';
import type { Statements } from './sqlite-statements.js';

/** Where an action's hot events are. */
export interface ActionLocation {
  agentId: string;
  decisionSeq: number;
  outcomeSeq: number | undefined;
}

/** One connection's appends to the chain, and its lookups of actions. */
export class SqliteChain {
  private readonly appender: AuditAppender;
  private readonly source: ChainSource;

  /** `view`: the connection's view of the chain (its tail, and the agents it caches). */
  constructor(
    private readonly stmt: Statements,
    private readonly view: ChainView,
  ) {
    const { auditHead, auditRowsAfter, indexedThrough, insertAudit } = stmt;
    this.source = {
      head: () => auditHead.get(),
      rowsAfter: (afterSeq) => auditRowsAfter.iterate(afterSeq),
      indexedThrough: () => indexedThrough.get() ?? 0,
    };
    this.appender = new AuditAppender(
      (seq, e, data, prevHash, hash) => {
        insertAudit.run(seq, e.ts, e.type, e.agentId, e.actionId, e.approvalId, e.actor, data, prevHash, hash);
      },
      (seq, hash, e) => view.appended(seq, hash, e.type, e.agentId, e.actionId),
    );
  }

  /** Bring the view up to the file's head (inside a transaction: tail + index are then complete). */
  catchUp(): void {
    this.view.catchUp(this.source, performance.now());
  }

  /** Start a write transaction's appends: catch up, then append after the head. Inside the write lock. */
  begin(): void {
    this.catchUp();
    this.appender.start(this.view.headSeq, this.view.headHash);
  }

  /** Append one event; returns its `seq`. */
  append(entry: AuditEntry): number {
    return this.appender.append(entry.event, entry.data);
  }

  /** `action.evaluated`, whose data is the record; returns its seq. */
  appendDecision(action: ActionRecord, recordJson: string, ts: string): number {
    return this.append(actionEvaluated(action, recordJson, ts));
  }

  /**
   * `action.completed` / `action.failed` (data = the record), for a decided action without an
   * outcome; returns its seq. NotFoundError / ConflictError otherwise.
   */
  appendOutcome(outcome: OutcomeRecord, recordJson: string): number {
    const actionId = outcome.actionId;
    const found = this.locate(actionId);
    if (found === undefined) throw new NotFoundError('action', actionId);
    if (found.outcomeSeq !== undefined) throw duplicateOutcome(actionId);
    return this.append(actionOutcome(outcome, recordJson, isoUtc(outcome.recordedAt, 'outcome.recordedAt'), found.agentId));
  }

  /** Whether this connection's tail holds the action's decision (no read). */
  decidedInTail(actionId: string): boolean {
    return this.view.tail.get(actionId)?.decisionSeq !== undefined;
  }

  /** Where an action's hot events are; complete once the view has caught up in this transaction. */
  locate(actionId: string): ActionLocation | undefined {
    const entry = this.view.tail.get(actionId);
    if (entry?.decisionSeq !== undefined) {
      return { agentId: entry.agentId, decisionSeq: entry.decisionSeq, outcomeSeq: entry.outcomeSeq };
    }
    const row = this.stmt.indexLookup.get(actionId);
    if (row === undefined) return undefined;
    return { agentId: row[0], decisionSeq: row[1], outcomeSeq: entry?.outcomeSeq ?? row[2] ?? undefined };
  }

  /** Before a write transaction commits: write the tail to the index once it has grown past {@link INDEX_AFTER_ACTIONS}. */
  indexIfDue(): void {
    if (this.appender.count > 0 && this.view.tail.size >= INDEX_AFTER_ACTIONS) this.indexTail();
  }

  /** Whether there is a tail to index. */
  get unindexed(): boolean {
    return this.view.tail.size > 0;
  }

  /** Write the view's tail to `action_index` (inside a write transaction). */
  indexTail(): void {
    const { indexDecision, indexOutcome, setIndexedThrough } = this.stmt;
    this.view.pruneTo(this.source.indexedThrough()); // what another connection already indexed
    for (const [actionId, entry] of this.view.tail) {
      if (entry.decisionSeq !== undefined) indexDecision.run(actionId, entry.agentId, entry.decisionSeq, entry.outcomeSeq ?? null);
      else if (entry.outcomeSeq !== undefined) indexOutcome.run(entry.outcomeSeq, actionId);
    }
    setIndexedThrough.run(this.view.headSeq);
    this.view.indexed(this.view.headSeq);
  }

  /** A write transaction rolled back: rows it appended are in the view but not in the file, so forget the view (rebuilt next time). */
  rolledBack(): void {
    if (this.appender.count > 0) this.view.forget();
  }
}
