/**
 * How the PostgreSQL store writes: one write transaction at a time per store (they would wait for
 * the schema's chain lock anyway, and `batched` mode must commit its queue in order), the group
 * commit of `batched` mode, and a bounded memory of recently committed actions.
 */
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { type AscendError, NotFoundError, type StoreError } from '../core/errors.js';
import type { ActionRecord, OutcomeRecord } from '../core/types.js';
import {
  asStoreError,
  droppedWrites,
  type FlushReport,
  flushBeforeExit,
  type QueuedDecision,
  type QueuedWrite,
  queuedActionId,
  QueuedWriteRejected,
  reportFlush,
  WriteQueue,
} from './batch.js';
import type { PgSchema } from './postgres-schema.js';
import type { PgActionStateRow, PgStatements } from './postgres-statements.js';
import { checkout, PgWriteTx } from './postgres-tx.js';
import { isoUtc } from './records.js';
import { duplicateAction, duplicateOutcome } from './refusals.js';
import type { PgBudgets } from './postgres-budgets.js';
import type { ChainLockStats } from './store.js';
import { actionEvaluated, actionOutcome } from './audit-events.js';

/** Action ids remembered after commit (so a hot outcome skips a read). */
const RECENT_ACTIONS = 4096;

/** What {@link PgWriter} needs from its store. */
export interface PgWriterOptions {
  pool: pg.Pool;
  names: PgSchema;
  sql: PgStatements;
  label: string;
  lockTimeoutMs: number;
  /** `batched` mode: the queue's timing. */
  batch?: { flushIntervalMs: number; maxBatchSize: number } | undefined;
  /** Called after every commit that appended events. */
  committed: () => void;
  onFlush?: ((report: FlushReport) => void) | undefined;
  onFlushError: (error: StoreError) => void;
  /** Wraps a failure of a flush nobody awaits. */
  storeError: (err: unknown, operation: string) => AscendError;
  /** Where queued decisions' budget spends are written and counted. */
  budgets: PgBudgets;
}

/** A committed action, as remembered. */
export interface RecentAction {
  agentId: string;
  outcome: boolean;
}

/** The write side of one store. */
export class PgWriter {
  /** Queued writes (`batched` mode). */
  readonly queue: WriteQueue | undefined;
  /** See {@link ChainLockStats}. */
  readonly lockStats: ChainLockStats = { commits: 0, holdSeconds: 0, events: 0 };
  private readonly recent = new Map<string, RecentAction>();
  /** The tail of this store's write transactions. */
  private lane: Promise<unknown> = Promise.resolve();
  private unregisterExit: (() => void) | undefined;
  /** A flush of the queue waiting in the lane, not started yet (it will take everything queued by then). */
  private pendingFlush: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly o: PgWriterOptions) {
    if (o.batch) {
      this.queue = new WriteQueue(o.batch.flushIntervalMs, o.batch.maxBatchSize, () => this.backgroundFlush());
      this.unregisterExit = flushBeforeExit(() => this.backgroundFlush());
    }
  }

  /**
   * One write transaction, in turn: first the queued writes, in order, then `work`. When a
   * queued write can never commit, the queue is settled write by write and `work` runs alone.
   */
  write<T>(work: (tx: PgWriteTx) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      const queued = this.queue?.length ?? 0;
      if (queued > 0) {
        try {
          return await this.transact(work, queued);
        } catch (err) {
          if (!(err instanceof QueuedWriteRejected)) throw err;
          await this.flushIsolating();
        }
      }
      return this.transact(work, 0);
    });
  }

  /** Queue a write; at the queue's hard limit, commit it here (back-pressure). */
  async enqueue(item: QueuedWrite): Promise<void> {
    const queue = this.queue as WriteQueue;
    if (!queue.push(item)) return;
    try {
      await this.flushSoon();
    } catch (err) {
      // The caller learns its write failed, so it must not stay queued to commit later.
      queue.popLast(item);
      throw err;
    }
  }

  /** Commit the queue after the writes ahead of it (`batched` mode; otherwise nothing to do). */
  async flush(): Promise<void> {
    if (this.queue) await this.flushSoon();
  }

  /**
   * A flush in the lane, shared by everyone who asks before it starts: many callers at the
   * queue's limit, a timer and `flush()` then cost one commit, not one each.
   */
  private flushSoon(): Promise<void> {
    this.pendingFlush ??= this.serial(() => {
      this.pendingFlush = undefined;
      return this.flushQueue();
    });
    return this.pendingFlush;
  }

  /** Wait for every write started so far, commit the queue, stop the timers. */
  async stop(): Promise<void> {
    this.stopped = true;
    try {
      await this.serial(() => this.flushQueue());
    } finally {
      this.queue?.cancelTimer();
      this.unregisterExit?.();
    }
  }

  /** What this store remembers committing for `actionId`, if anything. */
  recentAction(actionId: string): RecentAction | undefined {
    return this.recent.get(actionId);
  }

  /** Remember a committed decision (or its outcome), forgetting the oldest beyond a bound. */
  remember(actionId: string, agentId: string, outcome: boolean): void {
    this.recent.delete(actionId);
    this.recent.set(actionId, { agentId, outcome });
    if (this.recent.size > RECENT_ACTIONS) {
      const oldest = this.recent.keys().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
  }

  /** Run `fn` after every write transaction started before it. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lane.then(fn, fn);
    this.lane = run.catch(() => undefined);
    return run;
  }

  /** BEGIN + lock + head, the first `queued` queued writes, `work`, COMMIT; then tell watchers. */
  private async transact<T>(work: (tx: PgWriteTx) => Promise<T>, queued: number): Promise<T> {
    const { client, release } = await checkout(this.o.pool);
    let report: FlushReport | undefined;
    let result: T;
    let wrote: boolean;
    try {
      const tx = await PgWriteTx.begin(client, this.o.names, this.o.lockTimeoutMs);
      const lockedAt = performance.now();
      if (queued > 0 && this.queue) report = await this.writeQueued(tx, this.queue.snapshot(), queued);
      result = await work(tx);
      await tx.commit();
      this.lockStats.commits++;
      this.lockStats.holdSeconds += (performance.now() - lockedAt) / 1000;
      this.lockStats.events += tx.appended;
      wrote = tx.appended > 0;
    } catch (err) {
      release(await rollback(client));
      throw err;
    }
    release();
    if (report && this.queue) this.settleQueued(this.queue, queued, report);
    if (wrote) this.o.committed();
    return result;
  }

  /**
   * Append the first `count` queued writes, after checking them against the database in one
   * read (inside the lock, so the check holds until commit); their rows go with the next write.
   */
  private async writeQueued(tx: PgWriteTx, items: readonly QueuedWrite[], count: number): Promise<FlushReport> {
    const batch = items.slice(0, count);
    const ids = [...new Set(batch.map(queuedActionId))];
    const known = new Map<string, RecentAction>();
    for (const row of await tx.read<PgActionStateRow>(this.o.sql.actionStates, [ids])) {
      known.set(row.action_id, { agentId: row.agent_id, outcome: row.has_outcome });
    }
    const actions: (string | null)[][] = [[], [], [], [], [], []];
    const outcomes: (string | null)[][] = [[], [], [], []];
    const report: FlushReport = { actionIds: [], outcomeActionIds: [], firstSeq: 0, lastSeq: 0 };
    const spending: { actionId: string; spends: NonNullable<QueuedDecision['spends']>; atMs: number }[] = [];
    for (const item of batch) {
      if (item.kind === 'decision') {
        const a = item.action;
        if (known.has(a.actionId)) throw new QueuedWriteRejected(duplicateAction(a.actionId).message);
        known.set(a.actionId, { agentId: a.agentId, outcome: false });
        const ts = isoUtc(a.createdAt, 'action.createdAt');
        const seq = appendDecision(tx, a, item.json, ts);
        pushRow(actions, [a.actionId, a.agentId, a.decision, a.approvalId ?? null, ts, String(seq)]);
        if (item.spends !== undefined) spending.push({ actionId: a.actionId, spends: item.spends, atMs: Date.parse(ts) });
        report.actionIds.push(a.actionId);
      } else {
        const o = item.outcome;
        const state = known.get(o.actionId);
        if (state === undefined) throw new QueuedWriteRejected(new NotFoundError('action', o.actionId).message);
        if (state.outcome) throw new QueuedWriteRejected(duplicateOutcome(o.actionId).message);
        state.outcome = true;
        const ts = isoUtc(o.recordedAt, 'outcome.recordedAt');
        const seq = appendOutcome(tx, o, item.json, ts, state.agentId);
        pushRow(outcomes, [o.actionId, o.status, ts, String(seq)]);
        report.outcomeActionIds.push(o.actionId);
      }
    }
    if (report.actionIds.length > 0) tx.defer(this.o.sql.insertActions, actions);
    if (report.outcomeActionIds.length > 0) tx.defer(this.o.sql.insertOutcomes, outcomes);
    this.o.budgets.write(tx, spending);
    report.firstSeq = tx.seqs[0] ?? 0;
    report.lastSeq = tx.seqs[tx.seqs.length - 1] ?? 0;
    return report;
  }

  /** After the commit of `count` queued writes: forget them, remember them, report them. */
  private settleQueued(queue: WriteQueue, count: number, report: FlushReport): void {
    let spent: Set<string> | undefined;
    for (const item of queue.snapshot().slice(0, count)) {
      if (item.kind === 'decision') {
        this.remember(item.action.actionId, item.action.agentId, false);
        if (item.spends !== undefined) (spent ??= new Set()).add(item.action.actionId);
      } else this.remember(item.outcome.actionId, item.agentId, true);
    }
    if (spent !== undefined) this.o.budgets.own.settled(spent);
    queue.remove(count);
    reportFlush(this.o.onFlush, report);
  }

  /** Commit the queue now (a no-op when empty). Call inside {@link serial}. */
  private async flushQueue(): Promise<void> {
    if (!this.queue || this.queue.length === 0) return;
    try {
      await this.transact(async () => undefined, this.queue.length);
    } catch (err) {
      if (!(err instanceof QueuedWriteRejected)) throw err;
      await this.flushIsolating();
    }
  }

  /** Timer-driven flush: nobody awaits it, so failures go to `onFlushError`. */
  private backgroundFlush(): void {
    if (this.stopped || !this.queue || this.queue.length === 0) return;
    this.flushSoon().catch((err: unknown) => {
      this.o.onFlushError(asStoreError(this.o.storeError(err, 'flushing queued writes')));
    });
  }

  /** Commit queued writes one per transaction, dropping (and reporting) those that can never commit. */
  private async flushIsolating(): Promise<void> {
    const queue = this.queue;
    if (!queue) return;
    const dropped: Array<{ item: QueuedWrite; why: string }> = [];
    while (queue.length > 0) {
      const item = queue.snapshot()[0] as QueuedWrite;
      try {
        await this.transact(async () => undefined, 1);
      } catch (err) {
        if (!(err instanceof QueuedWriteRejected)) throw err;
        queue.remove(1);
        // Its spends never reach the table either: counted as the store holds them.
        if (item.kind === 'decision' && item.spends !== undefined) this.o.budgets.own.settled(new Set([item.action.actionId]));
        dropped.push({ item, why: err.message });
      }
    }
    if (dropped.length > 0) this.o.onFlushError(droppedWrites(this.o.label, dropped));
  }
}

/** `action.evaluated`, whose data is the record; returns its seq. */
export function appendDecision(tx: PgWriteTx, action: ActionRecord, recordJson: string, ts: string): number {
  const entry = actionEvaluated(action, recordJson, ts);
  return tx.append(entry.event, entry.data);
}

/** `action.completed` / `action.failed`, whose data is the record; returns its seq. */
export function appendOutcome(tx: PgWriteTx, outcome: OutcomeRecord, recordJson: string, ts: string, agentId: string): number {
  const entry = actionOutcome(outcome, recordJson, ts, agentId);
  return tx.append(entry.event, entry.data);
}

/** Roll back after a failure; returns the error when the connection is unusable (release destroys it). */
async function rollback(client: pg.PoolClient): Promise<Error | undefined> {
  try {
    await client.query('ROLLBACK');
    return undefined;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

function pushRow(columns: (string | null)[][], values: (string | null)[]): void {
  values.forEach((value, i) => columns[i]?.push(value));
}

