/**
 * Budget spends on PostgreSQL (see budget-spends.ts): counts read from `budget_spends`, this
 * store instance's own spends that a read may not see yet, and the rows a transaction writes.
 * Write transactions hold the schema's chain lock, so a count read inside one is exact.
 */
import { budgetUsedUp, OwnSpends, PRUNE_EVERY_SPENDS } from './budget-spends.js';
import type { PgStatements } from './postgres-statements.js';
import type { PgWriteTx } from './postgres-tx.js';
import type { BudgetSpend, BudgetUse, BudgetWindow } from './store.js';

interface UsageRow {
  used: number;
  mine: number;
  oldest: number | null;
}

/** The budgets of one PostgreSQL store instance. */
export class PgBudgets {
  /** Spends of decisions queued or being written. */
  readonly own = new OwnSpends();
  private spendsSincePrune = 0;

  constructor(private readonly sql: PgStatements) {}

  /**
   * Spends of each budget within its window ending at `nowMs`: the table's, plus this instance's
   * own the read did not see. `query` runs one statement (on the pool, or inside a transaction).
   */
  async usage(query: (sql: string, params: unknown[]) => Promise<UsageRow[]>, windows: readonly BudgetWindow[], nowMs: number): Promise<BudgetUse[]> {
    // The own spends not committed when the read is sent: any committed by the time it runs
    // are found by action id and not counted twice.
    const own = this.own.snapshot();
    const rows = await query(this.sql.budgetUsage, [windows.map((w) => w.key), windows.map((w) => nowMs - w.windowMs), own.actionIds()]);
    return windows.map((w, i) => {
      const row = rows[i] as UsageRow;
      const since = nowMs - w.windowMs;
      const ownOldest = own.oldest(w.key, since);
      const oldestAtMs = row.oldest === null ? ownOldest : ownOldest === null ? row.oldest : Math.min(row.oldest, ownOldest);
      return { used: row.used + own.count(w.key, since) - row.mine, oldestAtMs };
    });
  }

  /** Inside the write transaction of a decision: refuse it when a budget it relied on is used up. */
  async check(tx: PgWriteTx, spends: readonly BudgetSpend[], atMs: number): Promise<void> {
    const mustFit = spends.filter((s) => s.mustFit);
    if (mustFit.length === 0) return;
    const used = await this.usage((sql, params) => tx.read<UsageRow>(sql, params), mustFit, atMs);
    mustFit.forEach((spend, i) => {
      const n = (used[i] as BudgetUse).used;
      if (n >= spend.count) throw budgetUsedUp(spend, n);
    });
  }

  /** Inside a write transaction: the spend rows of these decisions, sent with its next write. */
  write(tx: PgWriteTx, decisions: readonly { actionId: string; spends: readonly BudgetSpend[]; atMs: number }[]): void {
    const columns: [string[], number[], number[], string[]] = [[], [], [], []];
    for (const d of decisions) {
      for (const s of d.spends) {
        columns[0].push(s.key);
        columns[1].push(d.atMs);
        columns[2].push(d.atMs + s.windowMs);
        columns[3].push(d.actionId);
      }
    }
    if (columns[0].length === 0) return;
    tx.defer(this.sql.insertSpends, columns);
    this.spendsSincePrune += columns[0].length;
    if (this.spendsSincePrune >= PRUNE_EVERY_SPENDS) {
      this.spendsSincePrune = 0;
      tx.defer(this.sql.pruneSpends, [Math.min(...columns[1])]);
    }
  }
}
