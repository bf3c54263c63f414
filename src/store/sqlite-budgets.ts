/**
 * Budget spends on one SQLite connection (see budget-spends.ts): the connection's exact copy of
 * the budgets it reads, kept up to date by id, and the rows it writes. The store calls it inside
 * its transactions; every method that reads the file expects to run inside one (a lone catch-up
 * is one statement, so it needs none).
 */
import { performance } from 'node:perf_hooks';
import { BudgetMirror, budgetUsedUp, loadSince, PRUNE_EVERY_SPENDS, type SpendTimes } from './budget-spends.js';
import type { Statements } from './sqlite-statements.js';
import type { BudgetSpend, BudgetUse, BudgetWindow } from './store.js';

/**
 * A read of budget use outside a transaction catches up with other connections' commits unless
 * it did less than this long ago: reading the new rows costs about 2 µs, which at tens of
 * thousands of calls a second would be the largest part of what a budget costs a call. Decisions
 * that commit at once are checked in their own transaction anyway (exact); a queued decision may
 * miss what other processes committed within this last millisecond, on top of what they queued.
 */
export const BUDGET_COPY_MAX_AGE_MS = 1;

/** Where a connection's copy stood when a write transaction began. */
export interface BudgetMark {
  cursor: number;
  started: boolean;
}

/** The budgets of one connection. */
export class SqliteBudgets {
  private readonly mirror = new BudgetMirror();
  /** Whether the cursor was set: until the first read, nothing is copied. */
  private started = false;
  private spendsSincePrune = 0;
  /** Highest id of another connection's spend applied. */
  private othersThrough = 0;
  /** `performance.now()` of the last catch-up. */
  private caughtUpAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly stmt: Statements) {}

  /** Whether each budget is copied already (then {@link usage} reads one statement, no transaction). */
  loaded(windows: readonly BudgetWindow[]): boolean {
    for (const w of windows) if (this.mirror.get(w.key, w.windowMs) === undefined) return false;
    return true;
  }

  /** Whether the last catch-up was less than {@link BUDGET_COPY_MAX_AGE_MS} ago. */
  get fresh(): boolean {
    return performance.now() - this.caughtUpAt < BUDGET_COPY_MAX_AGE_MS;
  }

  /** Apply the spends other connections committed since the last catch-up. */
  catchUp(): void {
    this.caughtUpAt = performance.now();
    if (!this.started) {
      // Nothing is copied yet: start from the newest row; budgets load from the table.
      this.mirror.cursor = this.stmt.maxSpendId.get() ?? 0;
      this.started = true;
      return;
    }
    const m = this.mirror;
    for (const [id, key, atMs] of this.stmt.spendsAfter.all(m.cursor)) {
      m.add(key, atMs);
      m.cursor = this.othersThrough = id;
    }
  }

  /** Spends of each budget within its window ending at `nowMs` (after {@link catchUp}). */
  usage(windows: readonly BudgetWindow[], nowMs: number): number[] {
    return windows.map((w) => this.times(w, nowMs).count(nowMs));
  }

  /** {@link usage} with each budget's oldest spend. */
  use(windows: readonly BudgetWindow[], nowMs: number): BudgetUse[] {
    return windows.map((w) => {
      const times = this.times(w, nowMs);
      return { used: times.count(nowMs), oldestAtMs: times.oldest(nowMs) };
    });
  }

  /**
   * Inside the write transaction of a decision written at once: its spend rows, then the check
   * that every budget it relied on still had a unit left (the copy is exact here: see
   * {@link insert}). StaleDecisionError otherwise, and the transaction rolls back.
   */
  spendAndCheck(spends: readonly BudgetSpend[], actionId: string, atMs: number): void {
    if (!this.loaded(spends)) {
      // Caught up, then loaded, before the rows go in: a budget read from the table now holds
      // every other connection's spends once and none of these.
      this.catchUp();
      for (const spend of spends) this.times(spend, atMs);
    }
    this.insert(spends, actionId, atMs);
    for (const spend of spends) {
      if (!spend.mustFit) continue;
      const used = this.times(spend, atMs).count(atMs);
      if (used >= spend.count) throw budgetUsedUp(spend, used);
    }
  }

  /**
   * Inside a write transaction: the spend rows (counted already, or by {@link count} after the
   * commit). Ids are max + 1 and nobody else writes during the transaction, so a first id past
   * the cursor + 1 means other connections committed spends since the last catch-up: those
   * are read and applied here, which makes the copy exact without a read in every transaction.
   */
  insert(spends: readonly BudgetSpend[], actionId: string, atMs: number): void {
    if (!this.started) this.catchUp();
    const m = this.mirror;
    const before = m.cursor;
    let first = 0;
    for (const spend of spends) {
      const id = Number(this.stmt.insertSpend.run(spend.key, atMs, atMs + spend.windowMs, actionId).lastInsertRowid);
      if (first === 0) first = id;
      m.cursor = id;
    }
    if (first > before + 1) {
      for (const [id, key, spentAtMs] of this.stmt.spendsAfter.all(before)) {
        if (id >= first) break;
        m.add(key, spentAtMs);
        this.othersThrough = id;
      }
    }
    this.spendsSincePrune += spends.length;
    if (this.spendsSincePrune >= PRUNE_EVERY_SPENDS) {
      this.spendsSincePrune = 0;
      this.stmt.pruneSpends.run(atMs);
    }
  }

  /** Count a decision's spends in the copy: queued ones at once, others once committed. */
  count(spends: readonly BudgetSpend[], atMs: number): void {
    for (const spend of spends) this.mirror.add(spend.key, atMs);
  }

  /** Where the copy stands, to put back after a rolled-back transaction ({@link restore}). */
  mark(): BudgetMark {
    return { cursor: this.mirror.cursor, started: this.started };
  }

  /** The transaction rolled back: rows it wrote were never committed (others' rows it applied were). */
  restore(mark: BudgetMark): void {
    if (!mark.started) {
      // Started inside the transaction: start again from scratch.
      this.mirror.clear();
      this.mirror.cursor = 0;
      this.othersThrough = 0;
      this.started = false;
      return;
    }
    this.mirror.cursor = Math.max(mark.cursor, this.othersThrough);
  }

  /** Take back spends counted by {@link count} whose decision was not queued after all. */
  uncount(spends: readonly BudgetSpend[], atMs: number): void {
    for (const spend of spends) this.mirror.remove(spend.key, atMs);
  }

  private times(w: BudgetWindow, nowMs: number): SpendTimes {
    return (
      this.mirror.get(w.key, w.windowMs) ??
      this.mirror.load(w.key, w.windowMs, this.stmt.spendTimes.all(w.key, loadSince(nowMs, w.windowMs)), nowMs)
    );
  }
}
