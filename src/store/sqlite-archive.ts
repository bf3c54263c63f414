/**
 * Archives on the SQLite store: where one may cut the chain (archive-plan.ts, within the action
 * index's reach), and removing the archived events in one write transaction that moves the
 * chain's base and appends `audit.archived`. See docs/architecture.md.
 */
import type { ArchivePlan, AuditBase } from './store.js';
import { auditArchived } from './audit-events.js';
import { archiveStatements, checkPlan, planArchive, type ScalarQuery } from './archive-plan.js';
import { isoUtc, json } from './records.js';
import type { SqliteChain } from './sqlite-chain.js';
import type { SqliteReader } from './sqlite-reads.js';
import type { PreparedCache, Statements } from './sqlite-statements.js';
import type { SqliteWriter } from './sqlite-writer.js';

/** SQLite's tables are named as they are. */
const table = (name: string): string => name;

/** The archive operations of one SQLite store. */
export class SqliteArchive {
  constructor(
    private readonly stmt: Statements,
    private readonly chain: SqliteChain,
    private readonly writer: SqliteWriter,
    private readonly reads: SqliteReader,
    private readonly prepared: PreparedCache,
  ) {}

  /** See {@link Store.planArchive}. Every decision and outcome is indexed first: archives cut at the index's reach. */
  async plan(before: string): Promise<ArchivePlan | undefined> {
    const beforeIso = isoUtc(before, 'before');
    this.writer.write(() => this.chain.indexTail());
    const query: ScalarQuery = (sql, params) => Promise.resolve(this.reads.scalar(sql, params));
    return planArchive(query, table, this.reads.base(), beforeIso, this.stmt.indexedThrough.get() ?? 0);
  }

  /** See {@link Store.removeArchived}. */
  remove(plan: ArchivePlan, counts: Record<string, number>, actor: string, at: string): AuditBase {
    const ts = isoUtc(at, 'at');
    const sql = archiveStatements(table);
    return this.writer.write(() => {
      const base = this.reads.base();
      const throughHash = this.reads.scalar(sql.hashAt, { seq: plan.throughSeq });
      const held = this.reads.scalar(sql.firstHeldEvent, { after: plan.afterSeq, through: plan.throughSeq, since: plan.headSeq });
      checkPlan(base, plan, throughHash, held);
      const next: AuditBase = { seq: plan.throughSeq, hash: plan.throughHash, counts, retained: base.retained, archivedAt: ts };
      this.prepared.get('UPDATE audit_base SET seq = ?, hash = ?, counts = ?, retained = ?, archived_at = ? WHERE id = 1').run(
        next.seq, next.hash, json(next.counts), json(next.retained), ts,
      );
      // The archive cut below the index's reach: every archived decision is in it, and no outcome after it.
      this.prepared.get('DELETE FROM action_index WHERE decision_seq <= ?').run(plan.throughSeq);
      const removed = this.prepared.get('DELETE FROM audit_events WHERE seq <= ?').run(plan.throughSeq).changes;
      this.chain.append(auditArchived({ ...plan, events: removed }, actor, ts));
      return next;
    });
  }
}
