/**
 * Where an archive of the audit trail may cut the chain, for both stores (the SQL is written
 * once, with `@name` parameters and `{table}` names).
 *
 * The cut is the newest event before the date asked for, held back so that nothing still in
 * use loses its events:
 * - no action and no approval has events on both sides of it (an action's decision is never
 *   archived while its outcome is live, nor an approval's request while its answer is);
 * - no request that may still be answered or used (pending, or approved and unused, and not
 *   expired) is archived;
 * - no webhook's cursor is before it (their deliveries are made from the live events);
 * - on SQLite, every archived decision and outcome is in the action index (so no connection
 *   still finds one in its memory: chain-view.ts).
 * Removing the events re-checks the first rule against what was appended since the plan.
 */
import { ConflictError } from '../core/errors.js';
import type { ArchivePlan, AuditBase } from './store.js';

/** Runs one of the statements below and returns its single value (null: none). */
export type ScalarQuery = (sql: string, params: Record<string, string | number>) => Promise<string | number | null>;

/** The statements, for a store whose tables are named by `table`. */
export function archiveStatements(table: (name: string) => string): {
  newestBefore: string;
  oldestWebhookCursor: string;
  firstHeldEvent: string;
  firstPendingRequest: string;
  hashAt: string;
  head: string;
} {
  const events = table('audit_events');
  return {
    newestBefore: `SELECT MAX(seq) FROM ${events} WHERE seq > @after AND ts < @before`,
    oldestWebhookCursor: `SELECT MIN(cursor_seq) FROM ${table('webhooks')} WHERE disabled_at IS NULL`,
    // The first archived event of an action or approval that also has an event after `since`.
    firstHeldEvent: `SELECT MIN(seq) FROM ${events}
      WHERE seq > @after AND seq <= @through
        AND (action_id IN (SELECT action_id FROM ${events} WHERE seq > @since AND action_id IS NOT NULL)
          OR approval_id IN (SELECT approval_id FROM ${events} WHERE seq > @since AND approval_id IS NOT NULL))`,
    firstPendingRequest: `SELECT MIN(seq) FROM ${events}
      WHERE seq > @after AND seq <= @through AND type = 'approval.requested'
        AND approval_id IN (SELECT approval_id FROM ${table('approvals')}
          WHERE expires_at > @now AND (status = 'pending' OR (status = 'approved' AND consumed_at IS NULL)))`,
    hashAt: `SELECT hash FROM ${events} WHERE seq = @seq`,
    head: `SELECT MAX(seq) FROM ${events}`,
  };
}

/**
 * Plan an archive of the events before `before` (ISO) after `base`, or undefined when no event
 * may be archived. `indexedThrough`: SQLite's action index reach (none on PostgreSQL).
 */
export async function planArchive(query: ScalarQuery, table: (name: string) => string, base: AuditBase, before: string, indexedThrough?: number): Promise<ArchivePlan | undefined> {
  const sql = archiveStatements(table);
  const now = new Date().toISOString();
  const headSeq = Number((await query(sql.head, {})) ?? 0);
  const newest = await query(sql.newestBefore, { after: base.seq, before });
  if (newest === null) return undefined;
  let cut = Number(newest);
  const cursor = await query(sql.oldestWebhookCursor, {});
  if (cursor !== null) cut = Math.min(cut, Number(cursor));
  if (indexedThrough !== undefined) cut = Math.min(cut, indexedThrough);
  for (;;) {
    if (cut <= base.seq) return undefined;
    const held = [await query(sql.firstHeldEvent, { after: base.seq, through: cut, since: cut }), await query(sql.firstPendingRequest, { after: base.seq, through: cut, now })]
      .filter((seq): seq is string | number => seq !== null)
      .map(Number);
    if (held.length === 0) break;
    cut = Math.min(...held) - 1;
  }
  const throughHash = String(await query(sql.hashAt, { seq: cut }));
  return { afterSeq: base.seq, afterHash: base.hash, throughSeq: cut, throughHash, headSeq };
}

/**
 * Refuse `plan` (ConflictError) when it can no longer be carried out. Given what the removing
 * transaction read: the base, the hash of the plan's last event (`throughHash`: null when it is
 * gone) and {@link archiveStatements}' `firstHeldEvent` since the plan's head (`heldSeq`).
 */
export function checkPlan(base: AuditBase, plan: ArchivePlan, throughHash: string | number | null, heldSeq: string | number | null): void {
  const conflict = planConflict(base, plan, throughHash === null ? null : String(throughHash), heldSeq === null ? null : Number(heldSeq));
  if (conflict !== undefined) throw new ConflictError(`the archive cannot be taken as planned: ${conflict}; run it again`);
}

/** Why `plan` can no longer be carried out, or undefined when it can. */
function planConflict(base: AuditBase, plan: ArchivePlan, throughHash: string | null, heldSeq: number | null): string | undefined {
  if (base.seq !== plan.afterSeq) return `the live chain now starts after seq ${base.seq}, not ${plan.afterSeq}: another archive ran`;
  if (throughHash !== plan.throughHash) return `event ${plan.throughSeq} is not the one planned (its hash changed, or it is gone)`;
  if (heldSeq !== null) return `an event appended since the archive was planned belongs to the same action or approval as event ${heldSeq}`;
  return undefined;
}
