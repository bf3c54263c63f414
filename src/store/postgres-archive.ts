/**
 * Archives on the PostgreSQL store: where one may cut the chain (archive-plan.ts), and removing
 * the archived events in one write transaction that moves the chain's base, drops the action and
 * outcome rows that go with them and appends `audit.archived`. See docs/architecture.md.
 */
import { auditArchived } from './audit-events.js';
import { archiveStatements, checkPlan, planArchive } from './archive-plan.js';
import type { PgReader } from './postgres-reads.js';
import type { PgWriter } from './postgres-writer.js';
import { isoUtc, json } from './records.js';
import type { ArchivePlan, AuditBase } from './store.js';

/** The archive operations of one PostgreSQL store. */
export class PgArchive {
  /** `table`: a table's name, schema-qualified. */
  constructor(
    private readonly writer: PgWriter,
    private readonly reads: PgReader,
    private readonly table: (name: string) => string,
  ) {}

  /** See {@link Store.planArchive}. Queued writes are committed first. */
  async plan(before: string): Promise<ArchivePlan | undefined> {
    const beforeIso = isoUtc(before, 'before');
    await this.writer.flush();
    return planArchive((sql, params) => this.reads.scalar(sql, params), this.table, await this.reads.base(), beforeIso);
  }

  /**
   * See {@link Store.removeArchived}. The actions an approval still refers to stay (with their
   * outcomes), counted in the base's `retained`; the others go with their events.
   */
  async remove(plan: ArchivePlan, counts: Record<string, number>, actor: string, at: string): Promise<AuditBase> {
    const ts = isoUtc(at, 'at');
    const sql = archiveStatements(this.table);
    const t = this.table;
    return this.writer.write(async (tx) => {
      const base = await this.reads.base(tx.client);
      const throughHash = await this.reads.scalar(sql.hashAt, { seq: plan.throughSeq }, tx.client);
      const held = await this.reads.scalar(sql.firstHeldEvent, { after: plan.afterSeq, through: plan.throughSeq, since: plan.headSeq }, tx.client);
      checkPlan(base, plan, throughHash, held);
      const range = [plan.afterSeq, plan.throughSeq];
      const archivedActions = `SELECT action_id FROM ${t('audit_events')} WHERE seq > $1 AND seq <= $2 AND type = 'action.evaluated'`;
      const referenced = `EXISTS (SELECT 1 FROM ${t('approvals')} p WHERE p.action_id = x.action_id)`;
      const [kept] = await tx.read<{ actions: string; outcomes: string; failed: string }>(
        `SELECT (SELECT COUNT(*) FROM ${t('actions')} x WHERE x.action_id IN (${archivedActions}) AND ${referenced}) AS actions,
                (SELECT COUNT(*) FROM ${t('outcomes')} x WHERE x.action_id IN (${archivedActions}) AND ${referenced}) AS outcomes,
                (SELECT COUNT(*) FROM ${t('outcomes')} x WHERE x.action_id IN (${archivedActions}) AND ${referenced} AND x.status = 'failed') AS failed`,
        range,
      );
      const add = (key: string, n: string | undefined): number => (base.retained[key] ?? 0) + Number(n ?? 0);
      const retained = { actions: add('actions', kept?.actions), outcomes: add('outcomes', kept?.outcomes), 'outcomes:failed': add('outcomes:failed', kept?.failed) };
      const next: AuditBase = { seq: plan.throughSeq, hash: plan.throughHash, counts, retained, archivedAt: ts };
      await tx.read(`UPDATE ${t('audit_base')} SET seq = $1, hash = $2, counts = $3, retained = $4, archived_at = $5 WHERE id = 1`, [
        next.seq, next.hash, json(next.counts), json(next.retained), ts,
      ]);
      await tx.read(`DELETE FROM ${t('outcomes')} x WHERE x.action_id IN (${archivedActions}) AND NOT ${referenced}`, range);
      await tx.read(`DELETE FROM ${t('actions')} x WHERE x.action_id IN (${archivedActions}) AND NOT ${referenced}`, range);
      // The rows kept lose the events that hold their records: they keep the records themselves.
      for (const table of ['actions', 'outcomes']) {
        await tx.read(
          `UPDATE ${t(table)} x SET record = e.data FROM ${t('audit_events')} e
            WHERE x.action_id IN (${archivedActions}) AND x.record IS NULL AND e.seq = x.seq AND e.seq > $1 AND e.seq <= $2`,
          range,
        );
      }
      const removed = (await tx.client.query(`DELETE FROM ${t('audit_events')} WHERE seq <= $1`, [plan.throughSeq])).rowCount ?? 0;
      const entry = auditArchived({ ...plan, events: removed }, actor, ts);
      tx.append(entry.event, entry.data);
      await tx.flush();
      return next;
    });
  }
}
