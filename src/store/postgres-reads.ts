/**
 * The read side of the PostgreSQL store: plain statements on the pool (one round trip each, no
 * transaction, no lock), and the chain verification in one REPEATABLE READ snapshot.
 */
import type pg from 'pg';
import type {
  AgentRecord,
  ApiKeyRecord,
  ApprovalRecord,
  AuditEvent,
  AuditVerification,
  ChainStart,
  GrantRecord,
  StoredPolicy,
} from '../core/types.js';
import { StoreError } from '../core/errors.js';
import { type FiguresRow, tableFigures } from './audit-cross-check.js';
import { ChainWalk, effectiveStart } from './chain-walk.js';
import { CHAIN_NOTE_EVENTS, CHAIN_NOTE_TYPES } from './migrations.js';
import { checkout } from './postgres-tx.js';
import type { PgActionStateRow, PgAuditRow, PgStatements } from './postgres-statements.js';
import {
  type AgentRow,
  agentFromRow,
  apiKeyFromRow,
  type ApiKeyRow,
  approvalFromRow,
  type ApprovalRow,
  auditBaseFromRow,
  type AuditBaseRow,
  auditEventFromRow,
  grantFromRow,
  type GrantRow,
  isoUtc,
  limitOf,
  type PolicyRow,
  storedPolicyFromRow,
} from './records.js';
import type { ApprovalFilter, AuditBase, AuditQuery } from './store.js';
import { POSTGRES_WHERE, Where } from './where.js';

/** Rows per page while verifying the chain. */
const VERIFY_PAGE = 2000;

/** Reads of one store. */
export class PgReader {
  constructor(
    private readonly pool: pg.Pool,
    private readonly sql: PgStatements,
  ) {}

  /** One statement on a pooled connection. */
  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    return (await this.pool.query<R>(sql, params)).rows;
  }

  /** The single value of `sql`, written with `@name` parameters (null when no row or a NULL). */
  async scalar(sql: string, params: Record<string, string | number>, client: pg.ClientBase | pg.Pool = this.pool): Promise<string | number | null> {
    const { text, values } = positional(sql, params);
    const row = (await client.query({ text, values, rowMode: 'array' })).rows[0] as unknown[] | undefined;
    const value = row?.[0];
    return value === undefined || value === null ? null : typeof value === 'number' || typeof value === 'string' ? value : String(value);
  }

  /** Where the live chain starts (audit-archives.ts). */
  async base(client: pg.ClientBase | pg.Pool = this.pool): Promise<AuditBase> {
    return auditBaseFromRow((await client.query<AuditBaseRow>(this.sql.auditBase)).rows[0]!);
  }

  async agent(agentId: string): Promise<AgentRecord | undefined> {
    const row = (await this.query<AgentRow>(this.sql.getAgent, [agentId]))[0];
    return row ? agentFromRow(row) : undefined;
  }

  async agents(): Promise<AgentRecord[]> {
    return (await this.query<AgentRow>(this.sql.listAgents)).map(agentFromRow);
  }

  /** The stored canonical JSON of the action's record (its row's, or its event's data). */
  async actionRecord(actionId: string): Promise<string | undefined> {
    return recordText(await this.query<{ record: string | null }>(this.sql.actionRecord, [actionId]), 'action', actionId);
  }

  /** The stored canonical JSON of the action's outcome (its row's, or its event's data). */
  async outcomeRecord(actionId: string): Promise<string | undefined> {
    return recordText(await this.query<{ record: string | null }>(this.sql.outcomeRecord, [actionId]), 'outcome', actionId);
  }

  /** The action's agent and whether it has an outcome, if it is recorded. */
  async actionState(actionId: string): Promise<PgActionStateRow | undefined> {
    return (await this.query<PgActionStateRow>(this.sql.actionStates, [[actionId]]))[0];
  }

  async approval(approvalId: string): Promise<ApprovalRecord | undefined> {
    const row = (await this.query<ApprovalRow>(this.sql.getApproval, [approvalId]))[0];
    return row ? approvalFromRow(row) : undefined;
  }

  /** Approval requests, newest first. */
  async approvals(filter: ApprovalFilter): Promise<ApprovalRecord[]> {
    const where = new Where(POSTGRES_WHERE);
    if (filter.status !== undefined) where.add('status = ?', filter.status);
    if (filter.agentId !== undefined) where.add('agent_id = ?', filter.agentId);
    if (filter.agentIdPrefix !== undefined) where.agentIdPrefix(filter.agentIdPrefix);
    let sql = this.sql.listApprovals + where.sql() + ' ORDER BY requested_at DESC, ord DESC';
    if (filter.limit !== undefined) sql += ` LIMIT ${where.param(limitOf(filter.limit))}`;
    return (await this.query<ApprovalRow>(sql, where.params)).map(approvalFromRow);
  }

  async usableApproval(agentId: string, digest: string, now: string): Promise<ApprovalRecord | undefined> {
    const row = (await this.query<ApprovalRow>(this.sql.findUsableApproval, [agentId, digest, isoUtc(now, 'now')]))[0];
    return row ? approvalFromRow(row) : undefined;
  }

  async activeGrant(agentId: string, actionType: string, now: string): Promise<GrantRecord | undefined> {
    const row = (await this.query<GrantRow>(this.sql.findActiveGrant, [agentId, actionType, isoUtc(now, 'now')]))[0];
    return row ? grantFromRow(row) : undefined;
  }

  /** Grants, newest first; `activeAt`: only those in force then (created, unexpired, unrevoked). */
  async grants(filter: { activeAt?: string; agentId?: string }): Promise<GrantRecord[]> {
    const where = new Where(POSTGRES_WHERE);
    if (filter.agentId !== undefined) where.add('agent_id = ?', filter.agentId);
    if (filter.activeAt !== undefined) {
      const at = isoUtc(filter.activeAt, 'activeAt');
      where.add('created_at <= ? AND expires_at > ? AND (revoked_at IS NULL OR revoked_at > ?)', at, at, at);
    }
    const sql = this.sql.listGrants + where.sql() + ' ORDER BY created_at DESC, ord DESC';
    return (await this.query<GrantRow>(sql, where.params)).map(grantFromRow);
  }

  async apiKey(keyId: string): Promise<ApiKeyRecord | undefined> {
    const row = (await this.query<ApiKeyRow>(this.sql.getApiKey, [keyId]))[0];
    return row ? apiKeyFromRow(row) : undefined;
  }

  async apiKeys(): Promise<ApiKeyRecord[]> {
    return (await this.query<ApiKeyRow>(this.sql.listApiKeys)).map(apiKeyFromRow);
  }

  /** The latest pushed policy. */
  async latestPolicy(): Promise<StoredPolicy | undefined> {
    const row = (await this.query<PolicyRow>(this.sql.latestPolicy))[0];
    return row === undefined ? undefined : storedPolicyFromRow(row);
  }

  /** Committed audit events matching `query`. */
  async audit(query: AuditQuery): Promise<AuditEvent[]> {
    if (query.types !== undefined && query.types.length === 0) return [];
    const where = new Where(POSTGRES_WHERE);
    if (query.afterSeq !== undefined) where.add('seq > ?', query.afterSeq);
    if (query.beforeSeq !== undefined) where.add('seq < ?', query.beforeSeq);
    if (query.agentId !== undefined) where.add('agent_id = ?', query.agentId);
    if (query.agentIdPrefix !== undefined) where.agentIdPrefix(query.agentIdPrefix);
    if (query.actionId !== undefined) where.add('action_id = ?', query.actionId);
    if (query.types !== undefined) {
      where.add('type = ANY (?::text[])', query.types);
      // Spelled out so the planner may use the partial index (a generic plan cannot infer it).
      if (query.types.every((t) => CHAIN_NOTE_TYPES.has(t))) where.add(CHAIN_NOTE_EVENTS);
    }
    if (query.actionType !== undefined) where.add("(data::jsonb ->> 'actionType') = ?", query.actionType);
    if (query.decision !== undefined) where.add("type = 'action.evaluated' AND (data::jsonb ->> 'decision') = ?", query.decision);
    if (query.since !== undefined) where.add('ts >= ?', isoUtc(query.since, 'since'));
    if (query.until !== undefined) where.add('ts <= ?', isoUtc(query.until, 'until'));
    let sql = this.sql.readAudit + where.sql() + (query.newestFirst ? ' ORDER BY seq DESC' : ' ORDER BY seq');
    if (query.limit !== undefined) sql += ` LIMIT ${where.param(limitOf(query.limit))}`;
    return (await this.query<PgAuditRow>(sql, where.params)).map(auditEventFromRow);
  }

  /**
   * Recompute the chain from row 1 (or from `from`, a verified point such as a checkpoint), page
   * by page (constant memory), in one REPEATABLE READ snapshot so the head, the rows and the
   * tables agree; name the first row that does not verify, or what the tables prove is missing
   * (audit-cross-check.ts).
   */
  async verify(from: ChainStart): Promise<AuditVerification> {
    const { client, release } = await checkout(this.pool);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const result = await this.verifyIn(client, from);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      release(broken); // a failed verification's connection is not reused
    }
  }

  private async verifyIn(client: pg.PoolClient, from: ChainStart): Promise<AuditVerification> {
    const head = (await client.query<{ seq: number; hash: string }>(this.sql.auditHead)).rows[0];
    const figures = tableFigures(
      this.sql.figures,
      (await client.query<FiguresRow>(this.sql.tableFigures)).rows[0] ?? {},
      (await client.query<FiguresRow>(this.sql.strayAgent)).rows[0],
    );
    const base = await this.base(client);
    const start = effectiveStart(from, base);
    const walk = new ChainWalk(start, figures, base);
    if (start.seq > base.seq) {
      const [startRow] = (await client.query<PgAuditRow>(this.sql.auditPage, [start.seq - 1, 1])).rows;
      walk.checkStart(startRow?.seq === start.seq ? startRow : undefined, head?.seq ?? 0);
    } else walk.checkStart(undefined, head?.seq ?? 0);
    let after = start.seq;
    while (walk.going) {
      const rows = (await client.query<PgAuditRow>(this.sql.auditPage, [after, VERIFY_PAGE])).rows;
      for (const row of rows) {
        if (!walk.add(row)) break;
        after = row.seq;
      }
      if (rows.length < VERIFY_PAGE) break;
    }
    return walk.finish(head ? [head.seq, head.hash] : undefined);
  }
}

/** `sql` with its `@name` parameters as `$1…` (one number per name) and their values in order. */
export function positional(sql: string, params: Record<string, string | number>): { text: string; values: unknown[] } {
  const numbers = new Map<string, number>();
  const values: unknown[] = [];
  const text = sql.replace(/@([a-z]+)/g, (_, name: string) => {
    let n = numbers.get(name);
    if (n === undefined) {
      if (!(name in params)) throw new Error(`no value for @${name}`);
      values.push(params[name]);
      n = values.length;
      numbers.set(name, n);
    }
    return `$${n}`;
  });
  return { text, values };
}

/** The record of a row found, or undefined when none was; a row whose event is gone is an error. */
function recordText(rows: ReadonlyArray<{ record: string | null }>, what: string, actionId: string): string | undefined {
  const row = rows[0];
  if (row === undefined) return undefined;
  if (row.record === null) throw new StoreError(`the ${what} of "${actionId}" is recorded but its audit event, which holds the record, is gone`);
  return row.record;
}
