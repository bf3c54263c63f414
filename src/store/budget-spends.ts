/**
 * Budget spends as the stores keep them: one row per allowed call per budget it draws on
 * (`budget_spends`: budget key, time, expiry, action id), written in the transaction of the
 * decision. What both stores share: the stale-decision error, the in-memory structures each
 * store counts with, and when to prune.
 *
 * - SQLite ({@link BudgetMirror}): every connection keeps an exact copy of the spends of the
 *   budgets it reads. Row ids grow in commit order (one writer at a time), so reading the rows
 *   after the last id seen brings the copy up to date in one indexed read.
 * - PostgreSQL ({@link OwnSpends}): counts are read from the table; this instance's spends that
 *   are queued or not known to be committed are added, minus those the read already saw.
 */
import { StaleDecisionError } from '../core/errors.js';
import type { ActionRecord } from '../core/types.js';
import type { BudgetSpend, RecordDecisionOptions } from './store.js';

/** A write transaction deletes expired spends once this many were written since the last time. */
export const PRUNE_EVERY_SPENDS = 4096;

/** The budgets a decision spends: an allowed one's, when it draws on any. */
export function budgetsSpent(action: ActionRecord, options: RecordDecisionOptions): readonly BudgetSpend[] | undefined {
  return action.decision === 'allowed' && options.budgets !== undefined && options.budgets.length > 0 ? options.budgets : undefined;
}

/** The StaleDecisionError of a decision that relied on a budget someone else used up. */
export function budgetUsedUp(spend: BudgetSpend, used: number): StaleDecisionError {
  return new StaleDecisionError(`Budget "${spend.key.replaceAll('\u001f', ' ')}" was used up (${used} of ${spend.count}) while a call was being decided`, {
    budget: spend.key,
    used,
    count: spend.count,
  });
}

/** First index in sorted `times` whose value is greater than `since`. */
function firstAfter(times: readonly number[], from: number, since: number): number {
  let lo = from;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((times[mid] as number) <= since) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Slack kept behind a window: calls decided at slightly different times read the same copy. */
const SLACK_MS = 60_000;

/** The spend times of one budget over one window, oldest first. */
export class SpendTimes {
  private times: number[] = [];
  private head = 0;

  constructor(readonly windowMs: number) {}

  /** Add one spend (usually the newest: appended). */
  add(atMs: number): void {
    const t = this.times;
    if (t.length === 0 || (t[t.length - 1] as number) <= atMs) t.push(atMs);
    else t.splice(firstAfter(t, this.head, atMs), 0, atMs);
  }

  /** Take back one spend at `atMs`, if held. */
  remove(atMs: number): void {
    const i = firstAfter(this.times, this.head, atMs) - 1;
    if (i >= this.head && this.times[i] === atMs) this.times.splice(i, 1);
  }

  /** Spends after `nowMs - windowMs`. */
  count(nowMs: number): number {
    const since = nowMs - this.windowMs;
    // Forget what even a late caller's window no longer covers.
    const keep = firstAfter(this.times, this.head, since - SLACK_MS);
    if (keep > this.head) {
      this.head = keep;
      if (this.head > 1024 && this.head * 2 > this.times.length) {
        this.times = this.times.slice(this.head);
        this.head = 0;
      }
    }
    return this.times.length - firstAfter(this.times, this.head, since);
  }

  /** The oldest spend within the window ending at `nowMs`, or null. */
  oldest(nowMs: number): number | null {
    const i = firstAfter(this.times, this.head, nowMs - this.windowMs);
    return i < this.times.length ? (this.times[i] as number) : null;
  }

  /** Whether nothing in it can count any more at `nowMs`. */
  idle(nowMs: number): boolean {
    return this.count(nowMs - SLACK_MS) === 0 && this.count(nowMs) === 0;
  }
}

/** How far back a newly read budget is loaded (its window plus the slack). */
export function loadSince(nowMs: number, windowMs: number): number {
  return nowMs - windowMs - SLACK_MS;
}

/** Budgets a mirror keeps before it drops the ones with nothing left in their windows. */
const MIRROR_BUDGETS = 10_000;

/**
 * One SQLite connection's exact copy of the spends of the budgets it has read: every committed
 * spend up to row id {@link cursor}, plus this connection's queued ones.
 */
export class BudgetMirror {
  private readonly budgets = new Map<string, Map<number, SpendTimes>>();
  /** Highest `budget_spends` id applied. */
  cursor = 0;

  /** The copy of `key` over `windowMs`, if loaded. */
  get(key: string, windowMs: number): SpendTimes | undefined {
    return this.budgets.get(key)?.get(windowMs);
  }

  /** Install the copy of `key` over `windowMs` from the committed spend times read at {@link cursor}. */
  load(key: string, windowMs: number, committed: readonly number[], nowMs: number): SpendTimes {
    if (this.budgets.size >= MIRROR_BUDGETS) this.dropIdle(nowMs);
    const times = new SpendTimes(windowMs);
    for (const t of committed) times.add(t);
    let windows = this.budgets.get(key);
    if (windows === undefined) {
      windows = new Map();
      this.budgets.set(key, windows);
    }
    windows.set(windowMs, times);
    return times;
  }

  /** A spend (committed by another connection, or this one's: queued or just committed). */
  add(key: string, atMs: number): void {
    const windows = this.budgets.get(key);
    if (windows !== undefined) for (const times of windows.values()) times.add(atMs);
  }

  /** Forget every budget (they load again from the table). */
  clear(): void {
    this.budgets.clear();
  }

  /** Take back one spend added by {@link add}. */
  remove(key: string, atMs: number): void {
    const windows = this.budgets.get(key);
    if (windows !== undefined) for (const times of windows.values()) times.remove(atMs);
  }

  private dropIdle(nowMs: number): void {
    for (const [key, windows] of this.budgets) {
      for (const [windowMs, times] of windows) if (times.idle(nowMs)) windows.delete(windowMs);
      if (windows.size === 0) this.budgets.delete(key);
    }
  }
}

/** One of this instance's spends, as {@link OwnSpends} keeps it. */
interface OwnSpend {
  key: string;
  atMs: number;
  actionId: string;
}

/**
 * A PostgreSQL store instance's own spends not yet known to be committed (queued, or being
 * written). A read of the table sent after a commit was acknowledged sees that commit, so a
 * count is the table's count plus these, minus those of these the same read found in the table
 * (committed while it was on its way), and none is missed or counted twice.
 */
export class OwnSpends {
  private spends: OwnSpend[] = [];

  /** Note the spends of a decision about to be queued. */
  add(actionId: string, budgets: readonly BudgetSpend[], atMs: number): void {
    for (const b of budgets) this.spends.push({ key: b.key, atMs, actionId });
  }

  /** Forget these actions' spends: they are committed (or their write failed). */
  settled(actionIds: ReadonlySet<string>): void {
    this.spends = this.spends.filter((s) => !actionIds.has(s.actionId));
  }

  /** The spends kept now, for one read of the counts. */
  snapshot(): OwnSpendsView {
    return new OwnSpendsView(this.spends.slice());
  }
}

/** {@link OwnSpends} as they stood when a read was sent. */
export class OwnSpendsView {
  constructor(private readonly spends: readonly OwnSpend[]) {}

  /** Action ids of the spends (for the read that finds those already in the table). */
  actionIds(): string[] {
    return [...new Set(this.spends.map((s) => s.actionId))];
  }

  /** Spends of `key` after `since`. */
  count(key: string, since: number): number {
    let n = 0;
    for (const s of this.spends) if (s.key === key && s.atMs > since) n++;
    return n;
  }

  /** The oldest spend of `key` after `since`, or null. */
  oldest(key: string, since: number): number | null {
    let oldest: number | null = null;
    for (const s of this.spends) if (s.key === key && s.atMs > since && (oldest === null || s.atMs < oldest)) oldest = s.atMs;
    return oldest;
  }
}
