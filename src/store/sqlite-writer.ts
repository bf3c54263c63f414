/**
 * How the SQLite store writes: one `BEGIN IMMEDIATE` transaction per write, which first commits
 * what is queued; the group commit of `batched` mode (queue, timer, back-pressure, callers waiting
 * for durability); what happens while group commits fail (queued records kept and retried, new
 * writes committed at once or refused); and the last flush when the process exits. See
 * docs/architecture.md, "Store and durability".
 */
import type Database from 'better-sqlite3';
import { ConflictError, NotFoundError, StoreError, UnwrittenRecordsError } from '../core/errors.js';
import {
  asStoreError,
  droppedWrites,
  type FlushReport,
  flushOnProcessExit,
  type QueuedWrite,
  queuedActionId,
  QueuedWriteRejected,
  reportFlush,
  WriteQueue,
} from './batch.js';
import { isoUtc } from './records.js';
import { duplicateAction } from './refusals.js';
import type { BudgetMark, SqliteBudgets } from './sqlite-budgets.js';
import type { SqliteChain } from './sqlite-chain.js';
import { isConstraintError, sqliteCode, toStoreError } from './sqlite-errors.js';
import type { Statements } from './sqlite-statements.js';

/** What {@link SqliteWriter} needs from its store. */
export interface SqliteWriterOptions {
  db: Database.Database;
  stmt: Statements;
  chain: SqliteChain;
  /** Queued decisions' budget spends are written with them; a rolled-back write puts the copy back. */
  budgets: SqliteBudgets;
  path: string;
  busyTimeoutMs: number;
  /** `batched` mode: the queue's timing. */
  batch: { flushIntervalMs: number; maxBatchSize: number } | undefined;
  /** Called after every commit. */
  committed: () => void;
  onFlush: ((report: FlushReport) => void) | undefined;
  onFlushError: (error: StoreError) => void;
}

/** The write side of one SQLite store. */
export class SqliteWriter {
  /** Queued writes (`batched` mode). */
  readonly queue: WriteQueue | undefined;
  private readonly flushIntervalMs: number;
  private unregisterExit: (() => void) | undefined;
  private stopped = false;
  private committedOnce = false;
  /** Callers of {@link whenDurable} waiting for the next group commit. */
  private durableWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  /**
   * Set while group commits fail (a full disk, an I/O error). Queued writes are kept and retried;
   * meanwhile every new write commits at once or fails, so nothing more is acknowledged that is
   * not durable (and, through the client's fail mode, no further tool runs on an unwritten record).
   */
  private commitFailure: StoreError | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = 0;

  constructor(private readonly o: SqliteWriterOptions) {
    this.flushIntervalMs = o.batch?.flushIntervalMs ?? 0;
    if (o.batch) {
      this.queue = new WriteQueue(o.batch.flushIntervalMs, o.batch.maxBatchSize, () => this.backgroundFlush());
      this.unregisterExit = flushOnProcessExit(() => this.flushBeforeExit());
    }
  }

  /**
   * One write transaction (`BEGIN IMMEDIATE`): first the queued writes, in order, then `work`.
   * Listeners hear of it after the commit.
   */
  write<T>(work: () => T): T {
    const queued = this.queue?.length ?? 0;
    if (queued > 0) {
      try {
        return this.transact(work, queued);
      } catch (err) {
        // A queued write that can never commit must not block this one: settle the queue
        // write by write (dropping and reporting the bad ones), then do this write alone.
        if (!isRejected(err)) throw err;
        this.flushIsolating();
      }
    }
    return this.transact(work, 0);
  }

  /** Queue a write; commits at once at the queue's hard limit, or while group commits fail. */
  enqueue(item: QueuedWrite): void {
    const queue = this.queue as WriteQueue;
    // While commits fail, a write is acknowledged only once it is committed.
    if (!queue.push(item) && this.commitFailure === undefined) return;
    try {
      this.flush();
    } catch (err) {
      // The caller learns its write failed, so it must not stay queued to commit later.
      queue.popLast(item);
      throw err;
    }
  }

  /** Whether this connection has committed a write. */
  get wrote(): boolean {
    return this.committedOnce;
  }

  /** Commit the queue now (a no-op when empty). */
  flush(): void {
    if (!this.queue || this.queue.length === 0) return;
    try {
      this.transact(() => undefined, this.queue.length);
    } catch (err) {
      if (!isRejected(err)) throw err;
      this.flushIsolating();
    }
  }

  /**
   * Resolves once every write made before the call is committed: at once in `sync` mode or when
   * nothing is queued, else at the group commit on the next turn of the event loop, which every
   * write queued in this turn shares. Rejects if that commit fails.
   */
  whenDurable(): Promise<void> {
    if (!this.queue || this.queue.length === 0) return Promise.resolve();
    this.queue.flushSoon();
    return new Promise((resolve, reject) => this.durableWaiters.push({ resolve, reject }));
  }

  /** What is still queued, for errors that must say what is not written yet. */
  unwritten(cause: unknown): UnwrittenRecordsError {
    const items = this.queue?.snapshot() ?? [];
    const actionIds = items.map(queuedActionId);
    const reason = toStoreError(cause, this.o.path, 'committing queued writes', this.o.busyTimeoutMs).message;
    return new UnwrittenRecordsError(
      `${items.length} acknowledged record(s) are not written yet; they are kept in memory and retried until a commit succeeds: ${reason}`,
      { decisions: items.filter((i) => i.kind === 'decision').length, outcomes: items.filter((i) => i.kind === 'outcome').length, actionIds },
      cause,
    );
  }

  /** The store is closing: stop the timers and the exit hook; nothing is flushed any more. */
  stop(): void {
    this.stopped = true;
    this.queue?.cancelTimer();
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.unregisterExit?.();
  }

  private transact<T>(work: () => T, queued: number): T {
    const { begin, commit, rollback } = this.o.stmt;
    const chain = this.o.chain;
    begin.run();
    let result: T;
    let report: FlushReport | undefined;
    let budgetMark: BudgetMark | undefined;
    try {
      // Inside the write lock: nobody can append between this read of the head and our rows.
      chain.begin();
      budgetMark = this.o.budgets.mark();
      if (queued > 0 && this.queue) report = this.writeQueued(this.queue.snapshot(), queued);
      result = work();
      chain.indexIfDue();
      commit.run();
    } catch (err) {
      // Rows only read stay valid; rows appended are forgotten with the view.
      chain.rolledBack();
      if (budgetMark !== undefined) this.o.budgets.restore(budgetMark);
      if (this.o.db.inTransaction) {
        try {
          rollback.run();
        } catch {
          // The original error says more; SQLite already rolled back on some failures.
        }
      }
      if (queued > 0 && !isRejected(err)) this.commitFailed(err);
      throw err;
    }
    this.commitSucceeded();
    this.committedOnce = true;
    if (report && this.queue) {
      this.queue.remove(queued);
      reportFlush(this.o.onFlush, report);
      if (this.queue.length === 0) this.settleDurable();
    }
    this.o.committed();
    return result;
  }

  private writeQueued(items: readonly QueuedWrite[], count: number): FlushReport {
    const chain = this.o.chain;
    const actionIds: string[] = [];
    const outcomeActionIds: string[] = [];
    let firstSeq = 0;
    let lastSeq = 0;
    for (let i = 0; i < count; i++) {
      const item = items[i] as QueuedWrite;
      let seq: number;
      try {
        if (item.kind === 'decision') {
          if (chain.locate(item.action.actionId) !== undefined) throw duplicateAction(item.action.actionId);
          const ts = isoUtc(item.action.createdAt, 'action.createdAt');
          seq = chain.appendDecision(item.action, item.json, ts);
          // Counted when queued; the rows commit with the decision.
          if (item.spends !== undefined) this.o.budgets.insert(item.spends, item.action.actionId, Date.parse(ts));
          actionIds.push(item.action.actionId);
        } else {
          seq = chain.appendOutcome(item.outcome, item.json);
          outcomeActionIds.push(item.outcome.actionId);
        }
      } catch (err) {
        // Only what the file already holds makes a queued write impossible: say which one.
        if (err instanceof ConflictError || err instanceof NotFoundError) throw new QueuedWriteRejected(err.message);
        throw err;
      }
      if (i === 0) firstSeq = seq;
      lastSeq = seq;
    }
    return { actionIds, outcomeActionIds, firstSeq, lastSeq };
  }

  /** Timer-driven flush: nobody awaits it, so failures go to `onFlushError`. */
  private backgroundFlush(): void {
    if (this.stopped) return;
    try {
      this.flush();
      if (this.queue?.length === 0) this.settleDurable();
    } catch (err) {
      const error = asStoreError(toStoreError(err, this.o.path, 'flushing queued writes', this.o.busyTimeoutMs));
      this.settleDurable(error);
      this.o.onFlushError(new StoreError(`${error.message} (${this.queue?.length ?? 0} queued records kept; retrying)`, { cause: error }));
    }
  }

  /** A group commit failed: keep the queue, refuse to queue more, retry with back-off. */
  private commitFailed(err: unknown): void {
    this.commitFailure ??= asStoreError(toStoreError(err, this.o.path, 'committing queued writes', this.o.busyTimeoutMs));
    this.retryDelayMs = Math.min(Math.max(this.retryDelayMs * 2, this.flushIntervalMs, 10), 1000);
    if (this.retryTimer !== undefined || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.backgroundFlush();
    }, this.retryDelayMs);
    this.retryTimer.unref(); // the exit hook still tries once more
  }

  private commitSucceeded(): void {
    if (this.commitFailure === undefined) return;
    this.commitFailure = undefined;
    this.retryDelayMs = 0;
    if (this.retryTimer !== undefined) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
  }

  /** The last chance at exit: what cannot be written now is lost, and the error says which. */
  private flushBeforeExit(): void {
    try {
      this.flush();
    } catch (err) {
      const lost = this.unwritten(err).unwritten;
      throw new StoreError(`${lost.actionIds.length} acknowledged record(s) could not be written before exit and are lost (actions ${lost.actionIds.slice(0, 20).join(', ')}${lost.actionIds.length > 20 ? ', …' : ''})`, { cause: err });
    }
  }

  /** Commit queued writes one per transaction, dropping (and reporting) those that violate a constraint. */
  private flushIsolating(): void {
    const queue = this.queue;
    if (!queue) return;
    const dropped: Array<{ item: QueuedWrite; why: string }> = [];
    while (queue.length > 0) {
      const item = queue.snapshot()[0] as QueuedWrite;
      try {
        this.transact(() => undefined, 1);
      } catch (err) {
        if (!isRejected(err)) throw err;
        queue.remove(1);
        dropped.push({ item, why: err instanceof QueuedWriteRejected ? err.message : (sqliteCode(err) ?? 'constraint') });
      }
    }
    if (dropped.length > 0) this.o.onFlushError(droppedWrites(`SQLite store ${this.o.path}`, dropped));
  }

  private settleDurable(error?: Error): void {
    if (this.durableWaiters.length === 0) return;
    const waiters = this.durableWaiters;
    this.durableWaiters = [];
    for (const w of waiters) {
      if (error) w.reject(error);
      else w.resolve();
    }
  }
}

/** A queued write the file can never take: rejected by our checks, or by a constraint. */
function isRejected(err: unknown): boolean {
  return err instanceof QueuedWriteRejected || isConstraintError(err);
}
