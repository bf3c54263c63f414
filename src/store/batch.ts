/**
 * The group-commit queue of `batched` durability: allowed decisions (without an approval) and
 * outcomes wait here, already serialised, until one transaction commits them all in order.
 * The queue only holds and indexes them; the store decides when to flush and does the writing
 * (sqlite-writer.ts, postgres-writer.ts). What both writers share around it is here too: which
 * decisions may queue, how a commit is reported to `onFlush`, how dropped writes are named, and
 * the flush when the process exits.
 */
import { type AscendError, StoreError } from '../core/errors.js';
import type { ActionRecord, ApprovalRecord, OutcomeRecord } from '../core/types.js';
import type { BudgetSpend, RecordDecisionOptions } from './store.js';

/** An allowed decision waiting for the group commit. */
export interface QueuedDecision {
  kind: 'decision';
  action: ActionRecord;
  /** Canonical JSON of `action`. */
  json: string;
  /** Budgets the decision spends, committed with it. */
  spends?: readonly BudgetSpend[];
}

/** An outcome waiting for the group commit. */
export interface QueuedOutcome {
  kind: 'outcome';
  outcome: OutcomeRecord;
  /** Canonical JSON of `outcome`. */
  json: string;
  /** The action's agent (audit `agentId` and `actor`). */
  agentId: string;
}

/** One queued write. */
export type QueuedWrite = QueuedDecision | QueuedOutcome;

/** What a commit made durable; passed to the `onFlush` option. */
export interface FlushReport {
  /** Action ids whose decisions this commit made durable, in commit order. */
  actionIds: string[];
  /** Action ids whose outcomes this commit made durable, in commit order. */
  outcomeActionIds: string[];
  /** Audit `seq` range written for them (inclusive). */
  firstSeq: number;
  lastSeq: number;
}

/**
 * Whether `batched` mode may queue this decision rather than commit it at once: an allowed
 * decision that requests no approval, spends none and was not asked to commit now.
 */
export function mayQueue(action: ActionRecord, approval: ApprovalRecord | undefined, options: RecordDecisionOptions): boolean {
  return (
    approval === undefined &&
    action.decision === 'allowed' &&
    options.spendsApproval === undefined &&
    options.spendsEditedApproval === undefined &&
    options.commitNow !== true
  );
}

/** The action a queued write is about. */
export function queuedActionId(item: QueuedWrite): string {
  return item.kind === 'decision' ? item.action.actionId : item.outcome.actionId;
}

/** A queued write the database can never take (its action is already recorded, or unknown). */
export class QueuedWriteRejected extends Error {}

/** Call `onFlush` with what a commit made durable; a callback that throws gets a warning, the commit stands. */
export function reportFlush(onFlush: ((report: FlushReport) => void) | undefined, report: FlushReport): void {
  if (!onFlush) return;
  try {
    onFlush(report);
  } catch (err) {
    process.emitWarning(`ascend store onFlush callback threw: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** What `onFlushError` hears when queued writes that can never commit were dropped (`label`: the store). */
export function droppedWrites(label: string, dropped: ReadonlyArray<{ item: QueuedWrite; why: string }>): StoreError {
  const names = dropped.map(({ item, why }) => `${item.kind} of action ${queuedActionId(item)} (${why})`);
  return new StoreError(`${label}: dropped queued writes that cannot be committed: ${names.join('; ')}`);
}

/** `err` as the StoreError `onFlushError` takes (a flush nobody awaits failed). */
export function asStoreError(err: AscendError): StoreError {
  return err instanceof StoreError ? err : new StoreError(err.message, { cause: err });
}

/**
 * The queue may grow to this many times `maxBatchSize` while its caller never yields to the
 * event loop; at that point {@link WriteQueue.push} asks for a flush right there (back-pressure).
 */
export const HARD_LIMIT_FACTOR = 4;

/** Pending writes in arrival order, with lookups by action id and a flush timer. */
export class WriteQueue {
  private items: QueuedWrite[] = [];
  private readonly decisions = new Map<string, QueuedDecision>();
  private readonly outcomes = new Map<string, QueuedOutcome>();
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;

  /**
   * @param flushIntervalMs how long the first queued write may wait for company.
   * @param maxBatchSize queue length at which the flush is moved up to the next turn of the
   *   event loop (not done inside the call that crossed it: that call would pay for the batch).
   * @param onTimer called when the store should flush (interval elapsed, or batch full).
   */
  constructor(
    private readonly flushIntervalMs: number,
    private readonly maxBatchSize: number,
    private readonly onTimer: () => void,
  ) {}

  /** Number of queued writes. */
  get length(): number {
    return this.items.length;
  }

  /** Queue a write; returns true when the queue has reached its hard limit and must be flushed now. */
  push(item: QueuedWrite): boolean {
    this.items.push(item);
    if (item.kind === 'decision') this.decisions.set(item.action.actionId, item);
    else this.outcomes.set(item.outcome.actionId, item);
    const length = this.items.length;
    if (length >= this.maxBatchSize * HARD_LIMIT_FACTOR) return true;
    if (length >= this.maxBatchSize && this.immediate === undefined) {
      this.immediate = setImmediate(() => {
        this.immediate = undefined;
        this.onTimer();
      });
      this.immediate.unref();
    }
    if (this.timer === undefined) {
      // unref: a pending group commit must not keep the process alive; 'exit' flushes it.
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.onTimer();
      }, this.flushIntervalMs);
      this.timer.unref();
    }
    return false;
  }

  /**
   * Someone waits for the queue to commit: flush on the next turn of the event loop rather than
   * at the interval. Requests that arrived in the same turn of I/O share that commit.
   */
  flushSoon(): void {
    if (this.immediate !== undefined || this.items.length === 0) return;
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      this.onTimer();
    });
  }

  /** Take back the last write pushed (its size-triggered flush failed, so its caller is told). */
  popLast(item: QueuedWrite): void {
    if (this.items[this.items.length - 1] !== item) return;
    this.items.pop();
    if (item.kind === 'decision') this.decisions.delete(item.action.actionId);
    else this.outcomes.delete(item.outcome.actionId);
  }

  /** The queued writes, oldest first (do not mutate). */
  snapshot(): readonly QueuedWrite[] {
    return this.items;
  }

  /** A queued decision for this action, if any. */
  decision(actionId: string): QueuedDecision | undefined {
    return this.decisions.get(actionId);
  }

  /** A queued outcome for this action, if any. */
  outcome(actionId: string): QueuedOutcome | undefined {
    return this.outcomes.get(actionId);
  }

  /** Forget the first `count` writes: they are committed (or were dropped). */
  remove(count: number): void {
    const gone = count >= this.items.length ? this.items : this.items.slice(0, count);
    this.items = count >= this.items.length ? [] : this.items.slice(count);
    for (const item of gone) {
      if (item.kind === 'decision') this.decisions.delete(item.action.actionId);
      else this.outcomes.delete(item.outcome.actionId);
    }
    if (this.items.length === 0) this.cancelTimer();
  }

  /** Stop the flush timers. */
  cancelTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.immediate !== undefined) {
      clearImmediate(this.immediate);
      this.immediate = undefined;
    }
  }
}

/**
 * Flushes to run on one process event, behind a single listener for every store. Returns the
 * registering function (which returns the unregister function).
 */
function flushesOn(event: 'exit' | 'beforeExit', run: (flush: () => void) => void): (flush: () => void) => () => void {
  const flushes = new Set<() => void>();
  let installed = false;
  return (flush) => {
    if (!installed) {
      installed = true;
      process.on(event, () => {
        for (const fn of [...flushes]) run(fn);
      });
    }
    flushes.add(flush);
    return () => {
      flushes.delete(flush);
    };
  };
}

/**
 * Run `flush` when the process exits normally (`process.exit()`, end of the event loop).
 * better-sqlite3 is synchronous, so a commit inside the 'exit' event completes. One process
 * listener serves every store. Signals and `kill -9` do not run it: that is the window
 * `batched` durability accepts. Returns the unregister function.
 */
export const flushOnProcessExit = flushesOn('exit', (flush) => {
  try {
    flush();
  } catch (err) {
    // Nothing can be awaited or retried during 'exit'; say what was lost.
    process.stderr.write(`ascend: flushing the store at exit failed: ${err instanceof Error ? err.message : String(err)}\n`);
  }
});

/**
 * Run `flush` when the event loop empties (`beforeExit`); one process listener serves every
 * store. For stores whose commit is asynchronous (PostgreSQL): it cannot finish inside 'exit', so
 * an explicit `process.exit()` skips it ({@link flushOnProcessExit} serves synchronous ones).
 * Returns the unregister function.
 */
export const flushBeforeExit = flushesOn('beforeExit', (flush) => flush());
