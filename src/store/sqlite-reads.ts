/**
 * The read side of the SQLite store: read transactions that first catch the connection's view of
 * the chain up (so its tail and the action index together find every action), filtered lists,
 * audit queries, and the verification of the chain in one snapshot. See docs/architecture.md,
 * "Store and durability".
 */
import type Database from 'better-sqlite3';
import type {
  ApiKeyRecord,
  ApprovalRecord,
  AuditEvent,
  AuditVerification,
  ChainStart,
  GrantRecord,
  StoredPolicy,
} from '../core/types.js';
import { type FiguresDialect, type FiguresRow, strayAgentSql, tableFigures, tableFiguresSql } from './audit-cross-check.js';
import { HOT_AUDIT_TYPES } from './chain-view.js';
import { ChainWalk, effectiveStart } from './chain-walk.js';
import { CHAIN_NOTE_EVENTS, CHAIN_NOTE_TYPES, NOT_HOT } from './migrations.js';
import {
  apiKeyFromRow,
  type ApiKeyRow,
  approvalFromRow,
  type ApprovalRow,
  auditBaseFromRow,
  type AuditBaseRow,
  auditBaseSql,
  auditEventFromRow,
  grantFromRow,
  type GrantRow,
  isoUtc,
  limitOf,
  type PolicyRow,
  storedPolicyFromRow,
} from './records.js';
import type { SqliteChain } from './sqlite-chain.js';
import { AUDIT_COLUMNS, type AuditRow, type PreparedCache, type Statements } from './sqlite-statements.js';
import type { ApprovalFilter, AuditBase, AuditQuery } from './store.js';
import { SQLITE_WHERE, Where } from './where.js';

/** The store's tables, for the cross-checks of `verify`. */
const SQLITE_FIGURES: FiguresDialect = { kind: 'sqlite', table: (name) => name };

/** Reads of one SQLite connection. */
export class SqliteReader {
  private readonly readTransaction: Database.Transaction<(fn: () => unknown) => unknown>;

  constructor(
    private readonly db: Database.Database,
    private readonly stmt: Statements,
    private readonly chain: SqliteChain,
    private readonly prepared: PreparedCache,
  ) {
    this.readTransaction = db.transaction((fn: () => unknown): unknown => {
      chain.catchUp();
      return fn();
    });
  }

  /** A read transaction that first catches the view up (so tail + index are complete). */
  read<T>(fn: () => T): T {
    return this.db.inTransaction ? fn() : (this.readTransaction.deferred(fn) as T);
  }

  /** The single value of `sql`, written with `@name` parameters (null when no row or a NULL). */
  scalar(sql: string, params: Record<string, string | number>): string | number | null {
    const row = this.prepared.get(sql).raw().get(params) as Array<string | number | null> | undefined;
    return row?.[0] ?? null;
  }

  /** Where the live chain starts (audit-archives.ts). */
  base(): AuditBase {
    return auditBaseFromRow(this.prepared.get(auditBaseSql('audit_base')).get() as AuditBaseRow);
  }

  /** The stored canonical JSON of the action's record (the data of its `action.evaluated`). */
  actionRecord(actionId: string): string | undefined {
    return this.read(() => {
      const found = this.chain.locate(actionId);
      return found === undefined ? undefined : this.stmt.auditData.get(found.decisionSeq);
    });
  }

  /** The stored canonical JSON of the action's outcome (the data of its outcome event). */
  outcomeRecord(actionId: string): string | undefined {
    return this.read(() => {
      const seq = this.chain.locate(actionId)?.outcomeSeq;
      return seq === undefined ? undefined : this.stmt.auditData.get(seq);
    });
  }

  /** The approval request, if any. */
  approval(approvalId: string): ApprovalRecord | undefined {
    const row = this.stmt.getApproval.get(approvalId);
    return row ? approvalFromRow(row) : undefined;
  }

  /** An approved, unconsumed, unexpired request for exactly this call (latest decided), if any. */
  usableApproval(agentId: string, digest: string, now: string): ApprovalRecord | undefined {
    const row = this.stmt.findUsableApproval.get(agentId, digest, isoUtc(now, 'now'));
    return row ? approvalFromRow(row) : undefined;
  }

  /** Approval requests, newest first. */
  approvals(filter: ApprovalFilter): ApprovalRecord[] {
    const where = new Where(SQLITE_WHERE);
    if (filter.status !== undefined) where.add('status = ?', filter.status);
    if (filter.agentId !== undefined) where.add('agent_id = ?', filter.agentId);
    if (filter.agentIdPrefix !== undefined) where.agentIdPrefix(filter.agentIdPrefix);
    let sql = 'SELECT * FROM approvals' + where.sql() + ' ORDER BY requested_at DESC, rowid DESC';
    if (filter.limit !== undefined) sql += ` LIMIT ${where.param(limitOf(filter.limit))}`;
    return (this.prepared.get(sql).all(...where.params) as ApprovalRow[]).map(approvalFromRow);
  }

  /** The latest unrevoked, unexpired grant for this agent and action type, if any. */
  activeGrant(agentId: string, actionType: string, now: string): GrantRecord | undefined {
    const row = this.stmt.findActiveGrant.get(agentId, actionType, isoUtc(now, 'now'));
    return row ? grantFromRow(row) : undefined;
  }

  /** Grants, newest first; `activeAt`: only those in force then (created, unexpired, unrevoked). */
  grants(filter: { activeAt?: string; agentId?: string }): GrantRecord[] {
    const where = new Where(SQLITE_WHERE);
    if (filter.agentId !== undefined) where.add('agent_id = ?', filter.agentId);
    if (filter.activeAt !== undefined) {
      const at = isoUtc(filter.activeAt, 'activeAt');
      where.add('created_at <= ? AND expires_at > ? AND (revoked_at IS NULL OR revoked_at > ?)', at, at, at);
    }
    const sql = 'SELECT * FROM grants' + where.sql() + ' ORDER BY created_at DESC, rowid DESC';
    return (this.prepared.get(sql).all(...where.params) as GrantRow[]).map(grantFromRow);
  }

  /** The key, if any. */
  apiKey(keyId: string): ApiKeyRecord | undefined {
    const row = this.prepared.get('SELECT * FROM api_keys WHERE key_id = ?').get(keyId) as ApiKeyRow | undefined;
    return row ? apiKeyFromRow(row) : undefined;
  }

  /** Every key, newest first. */
  apiKeys(): ApiKeyRecord[] {
    return (this.prepared.get('SELECT * FROM api_keys ORDER BY created_at DESC, rowid DESC').all() as ApiKeyRow[]).map(apiKeyFromRow);
  }

  /** The latest pushed policy. */
  latestPolicy(): StoredPolicy | undefined {
    const row = this.prepared.get('SELECT * FROM policies ORDER BY id DESC LIMIT 1').get() as PolicyRow | undefined;
    return row === undefined ? undefined : storedPolicyFromRow(row);
  }

  /** Committed audit events matching `query`. */
  audit(query: AuditQuery): AuditEvent[] {
    return this.read(() => this.auditIn(query));
  }

  /**
   * Recompute the chain from row 1 — or from `from`, a verified point such as a checkpoint —
   * streaming (constant memory), and name the first row that does not verify: a changed row
   * (hash mismatch), a broken link (prevHash mismatch) or a missing row (seq gap). Then
   * cross-check the tables against it (audit-cross-check.ts): rows deleted from its end
   * (truncated), and an index or counter that disagrees with it.
   */
  verify(from: ChainStart): AuditVerification {
    // One read transaction: the head and the rows come from the same snapshot.
    return this.db.transaction((): AuditVerification => {
      const head = this.stmt.auditHead.get();
      // Read before the walk: a connection runs nothing else while a statement iterates.
      const figures = tableFigures(
        SQLITE_FIGURES,
        this.prepared.get(tableFiguresSql(SQLITE_FIGURES)).get({ from: Math.max(from.seq, this.base().seq) }) as FiguresRow,
        this.prepared.get(strayAgentSql(SQLITE_FIGURES)).get() as FiguresRow | undefined,
      );
      const base = this.base();
      const start = effectiveStart(from, base);
      const walk = new ChainWalk(start, figures, base);
      walk.checkStart(start.seq > base.seq ? this.stmt.auditRowAt.get(start.seq) : undefined, head ? head[0] : 0);
      if (walk.going) {
        for (const row of this.stmt.verifyRows.iterate(start.seq)) if (!walk.add(row)) break;
      }
      return walk.finish(head);
    }).deferred();
  }

  /** {@link audit} inside the read transaction. */
  private auditIn(query: AuditQuery): AuditEvent[] {
    const where = new Where(SQLITE_WHERE);
    if (query.afterSeq !== undefined) where.add('seq > ?', query.afterSeq);
    if (query.beforeSeq !== undefined) where.add('seq < ?', query.beforeSeq);
    if (query.agentId !== undefined) where.add('agent_id = ?', query.agentId);
    if (query.agentIdPrefix !== undefined) where.agentIdPrefix(query.agentIdPrefix);
    if (query.actionId !== undefined) {
      // Hot events are found through the index and the tail, the rest through the partial index.
      const found = this.chain.locate(query.actionId);
      where.add(`(seq IN (?, ?) OR (action_id = ? AND ${NOT_HOT}))`, found?.decisionSeq ?? -1, found?.outcomeSeq ?? -1, query.actionId);
    }
    if (query.types !== undefined) {
      if (query.types.length === 0) return [];
      where.add(`type IN (${query.types.map(() => '?').join(', ')})`, ...query.types);
      // Spelled out so the planner may use the partial indexes (it cannot infer them from IN).
      if (query.types.every((t) => !HOT_AUDIT_TYPES.has(t))) where.add(NOT_HOT);
      if (query.types.every((t) => CHAIN_NOTE_TYPES.has(t))) where.add(CHAIN_NOTE_EVENTS);
    }
    if (query.actionType !== undefined) where.add("json_extract(data, '$.actionType') = ?", query.actionType);
    if (query.decision !== undefined) where.add("type = 'action.evaluated' AND json_extract(data, '$.decision') = ?", query.decision);
    if (query.since !== undefined) where.add('ts >= ?', isoUtc(query.since, 'since'));
    if (query.until !== undefined) where.add('ts <= ?', isoUtc(query.until, 'until'));
    let sql = `SELECT ${AUDIT_COLUMNS} FROM audit_events` + where.sql() + (query.newestFirst ? ' ORDER BY seq DESC' : ' ORDER BY seq');
    if (query.limit !== undefined) sql += ` LIMIT ${where.param(limitOf(query.limit))}`;
    return (this.prepared.get(sql).all(...where.params) as AuditRow[]).map(auditEventFromRow);
  }
}
