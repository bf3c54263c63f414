/**
 * The SQL statements of the SQLite store: every fixed one, prepared once per connection
 * (statements read on the hot path use `raw()`/`pluck()` to skip building row objects), and a
 * cache of those prepared on first use ({@link PreparedCache}).
 */
import type Database from 'better-sqlite3';
import type { AgentRow, ApprovalRow, GrantRow } from './records.js';

type Db = Database.Database;
type Stmt<P extends unknown[], R = unknown> = Database.Statement<P, R>;

/** An `audit_events` row as `verifyAudit` and `readAudit` select it. */
import type { AuditRow } from './records.js';

export type { AuditRow };

/** The columns of {@link AuditRow}, in SQL. */
export const AUDIT_COLUMNS =
  'seq, ts, type, agent_id AS agentId, action_id AS actionId, approval_id AS approvalId, actor, data, prev_hash AS prevHash, hash';

/** The prepared statements of one connection. */
export interface Statements {
  begin: Stmt<[]>;
  commit: Stmt<[]>;
  rollback: Stmt<[]>;
  dataVersion: Stmt<[], number>;

  auditHead: Stmt<[], [number, string]>;
  /** The agent's version and whether the action id is indexed, in one statement: what a
   * decision commit checks before it appends. */
  decisionCheck: Stmt<[string, string], [number | null, number | null]>;
  insertAudit: Stmt<[number, string, string, string | null, string | null, string | null, string, string, string, string]>;
  auditRowsAfter: Stmt<[number], [number, string, string | null, string | null]>;
  auditData: Stmt<[number], string>;
  /** Every row after a seq, in order (a verification's walk). */
  verifyRows: Stmt<[number], AuditRow>;
  auditRowAt: Stmt<[number], AuditRow>;

  indexedThrough: Stmt<[], number>;
  setIndexedThrough: Stmt<[number]>;
  indexLookup: Stmt<[string], [string, number, number | null]>;
  indexDecision: Stmt<[string, string, number, number | null]>;
  indexOutcome: Stmt<[number, string]>;

  upsertAgent: Stmt<[string, string, string, string, string, string, string, string, number]>;
  insertBlankAgent: Stmt<[string, string, number, string | null, string, string, number]>;
  setBlocked: Stmt<[number, string | null, string, number, string]>;
  getAgent: Stmt<[string], AgentRow>;
  agentVersion: Stmt<[string], number>;
  listAgents: Stmt<[], AgentRow>;

  insertApproval: Stmt<
    [string, string, string, string, string, string, string, string, string, string]
  >;
  getApproval: Stmt<[string], ApprovalRow>;
  decideApproval: Stmt<[string, string, string, string, string | null, string | null, string | null, string]>;
  expireApproval: Stmt<[string, string]>;
  consumeApproval: Stmt<[string, string, string, string, 0 | 1]>;
  findUsableApproval: Stmt<[string, string, string], ApprovalRow>;

  insertGrant: Stmt<[string, string, string, string, string, string, string, string | null]>;
  getGrant: Stmt<[string], GrantRow>;
  revokeGrant: Stmt<[string, string, string]>;
  findActiveGrant: Stmt<[string, string, string], GrantRow>;

  /** Budget spends committed after an id: `[id, budget, at_ms]`. */
  spendsAfter: Stmt<[number], [number, string, number]>;
  maxSpendId: Stmt<[], number | null>;
  /** One budget's spend times after a time, oldest first. */
  spendTimes: Stmt<[string, number], number>;
  insertSpend: Stmt<[string, number, number, string]>;
  pruneSpends: Stmt<[number]>;
}

/** Prepare all statements on `db` (after migrations). */
export function prepareStatements(db: Db): Statements {
  return {
    begin: db.prepare('BEGIN IMMEDIATE'),
    commit: db.prepare('COMMIT'),
    rollback: db.prepare('ROLLBACK'),
    dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),

    auditHead: db.prepare<[], [number, string]>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1').raw(),
    decisionCheck: db
      .prepare<[string, string], [number | null, number | null]>(
        'SELECT (SELECT version FROM agents WHERE agent_id = ?), (SELECT 1 FROM action_index WHERE action_id = ?)',
      )
      .raw(),
    insertAudit: db.prepare(
      `INSERT INTO audit_events (seq, ts, type, agent_id, action_id, approval_id, actor, data, prev_hash, hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    auditRowsAfter: db
      .prepare<[number], [number, string, string | null, string | null]>(
        'SELECT seq, type, agent_id, action_id FROM audit_events WHERE seq > ? ORDER BY seq',
      )
      .raw(),
    auditData: db.prepare<[number], string>('SELECT data FROM audit_events WHERE seq = ?').pluck(),
    verifyRows: db.prepare<[number], AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE seq > ? ORDER BY seq`),
    auditRowAt: db.prepare<[number], AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE seq = ?`),

    indexedThrough: db.prepare<[], number>("SELECT value FROM store_meta WHERE key = 'indexed_through'").pluck(),
    setIndexedThrough: db.prepare(
      "UPDATE store_meta SET value = max(value, ?) WHERE key = 'indexed_through'",
    ),
    indexLookup: db
      .prepare<[string], [string, number, number | null]>('SELECT agent_id, decision_seq, outcome_seq FROM action_index WHERE action_id = ?')
      .raw(),
    indexDecision: db.prepare(
      `INSERT INTO action_index (action_id, agent_id, decision_seq, outcome_seq) VALUES (?, ?, ?, ?)
       ON CONFLICT (action_id) DO UPDATE SET outcome_seq = coalesce(excluded.outcome_seq, action_index.outcome_seq)`,
    ),
    indexOutcome: db.prepare('UPDATE action_index SET outcome_seq = ? WHERE action_id = ?'),

    upsertAgent: db.prepare(
      `INSERT INTO agents (agent_id, agent_name, agent_type, capabilities, allowed_resources, metadata, blocked,
                           blocked_reason, registered_at, updated_at, version)
       VALUES (?, ?, ?, ?, ?, ?, 0, NULL, ?, ?, ?)
       ON CONFLICT (agent_id) DO UPDATE SET
         agent_name = excluded.agent_name, agent_type = excluded.agent_type,
         capabilities = excluded.capabilities, allowed_resources = excluded.allowed_resources,
         metadata = excluded.metadata, updated_at = excluded.updated_at, version = excluded.version`,
    ),
    insertBlankAgent: db.prepare(
      `INSERT INTO agents (agent_id, agent_name, agent_type, capabilities, allowed_resources, metadata, blocked,
                           blocked_reason, registered_at, updated_at, version)
       VALUES (?, ?, 'generic', '[]', '[]', '{}', ?, ?, ?, ?, ?)`,
    ),
    setBlocked: db.prepare('UPDATE agents SET blocked = ?, blocked_reason = ?, updated_at = ?, version = ? WHERE agent_id = ?'),
    getAgent: db.prepare<[string], AgentRow>('SELECT * FROM agents WHERE agent_id = ?'),
    listAgents: db.prepare<[], AgentRow>('SELECT * FROM agents ORDER BY agent_id'),
    agentVersion: db.prepare<[string], number>('SELECT version FROM agents WHERE agent_id = ?').pluck(),

    insertApproval: db.prepare(
      `INSERT INTO approvals (approval_id, action_id, agent_id, action_type, resource, digest, status,
                              requested_at, expires_at, request)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    getApproval: db.prepare<[string], ApprovalRow>('SELECT * FROM approvals WHERE approval_id = ?'),
    decideApproval: db.prepare(
      `UPDATE approvals SET status = ?, decided_at = ?, decided_by = ?, channel = ?, comment = ?, grant_id = ?, edits = ?
       WHERE approval_id = ? AND status = 'pending'`,
    ),
    expireApproval: db.prepare(
      `UPDATE approvals SET status = 'expired', decided_at = ? WHERE approval_id = ? AND status = 'pending'`,
    ),
    consumeApproval: db.prepare(
      // A blocked agent's approvals cannot be spent: the kill switch stops calls approved or not.
      // An approval with edits is spent only by the edited call, one without only by the call itself.
      `UPDATE approvals SET consumed_at = ?
       WHERE approval_id = ? AND status = 'approved' AND consumed_at IS NULL AND digest = ? AND expires_at > ? AND (edits IS NOT NULL) = ?
         AND NOT EXISTS (SELECT 1 FROM agents WHERE agents.agent_id = approvals.agent_id AND agents.blocked = 1)`,
    ),
    findUsableApproval: db.prepare<[string, string, string], ApprovalRow>(
      `SELECT * FROM approvals
       WHERE agent_id = ? AND digest = ? AND status = 'approved' AND consumed_at IS NULL AND expires_at > ? AND edits IS NULL
       ORDER BY decided_at DESC, rowid DESC LIMIT 1`,
    ),

    insertGrant: db.prepare(
      `INSERT INTO grants (grant_id, agent_id, action_type, created_at, expires_at, created_by, channel, approval_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    getGrant: db.prepare<[string], GrantRow>('SELECT * FROM grants WHERE grant_id = ?'),
    revokeGrant: db.prepare('UPDATE grants SET revoked_at = ?, revoked_by = ? WHERE grant_id = ? AND revoked_at IS NULL'),
    findActiveGrant: db.prepare<[string, string, string], GrantRow>(
      `SELECT * FROM grants
       WHERE agent_id = ? AND action_type = ? AND revoked_at IS NULL AND expires_at > ?
       ORDER BY created_at DESC, rowid DESC LIMIT 1`,
    ),

    spendsAfter: db.prepare<[number], [number, string, number]>('SELECT id, budget, at_ms FROM budget_spends WHERE id > ? ORDER BY id').raw(),
    maxSpendId: db.prepare<[], number | null>('SELECT max(id) FROM budget_spends').pluck(),
    spendTimes: db.prepare<[string, number], number>('SELECT at_ms FROM budget_spends WHERE budget = ? AND at_ms > ? ORDER BY at_ms').pluck(),
    insertSpend: db.prepare('INSERT INTO budget_spends (budget, at_ms, expires_ms, action_id) VALUES (?, ?, ?, ?)'),
    // The newest row stays: ids must never be reused (see migration 7).
    pruneSpends: db.prepare('DELETE FROM budget_spends WHERE expires_ms <= ? AND id < (SELECT max(id) FROM budget_spends)'),
  };
}

/**
 * Statements whose SQL is built at run time (filtered reads: a handful of shapes) or that run
 * rarely (keys, policies, archives): prepared on first use, then kept.
 */
export class PreparedCache {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Db) {}

  /** The prepared statement of `sql`. */
  get(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }
}
