/**
 * The fixed SQL of the PostgreSQL store for one schema, and the rows it returns that records.ts
 * does not describe. Column lists are spelled out so the rows match records.ts's row types
 * (`blocked` as 0/1 for `agentFromRow`) and `ord` tie-break columns stay internal.
 */
import type { StoredAuditRow } from './audit-chain.js';
import { type FiguresDialect, strayAgentSql, tableFiguresSql } from './audit-cross-check.js';
import { auditBaseSql } from './records.js';

/** An `audit_events` row as `readAudit` and `verifyAudit` select it. */
export type PgAuditRow = StoredAuditRow;

/** Where an action stands: its agent, and whether it has an outcome. */
export interface PgActionStateRow {
  action_id: string;
  agent_id: string;
  has_outcome: boolean;
}

/** The audit columns under {@link PgAuditRow}'s names (quoted: PostgreSQL folds case). */
export const PG_AUDIT_COLUMNS =
  'seq, ts, type, agent_id AS "agentId", action_id AS "actionId", approval_id AS "approvalId", actor, data, prev_hash AS "prevHash", hash';

const AGENT =
  'agent_id, agent_name, agent_type, capabilities, allowed_resources, metadata, blocked::int AS blocked, blocked_reason, registered_at, updated_at, version';
const APPROVAL =
  'approval_id, action_id, agent_id, action_type, resource, digest, status, requested_at, expires_at, decided_at, decided_by, channel, comment, consumed_at, grant_id, request, edits';
const GRANT = 'grant_id, agent_id, action_type, created_at, expires_at, created_by, channel, approval_id, revoked_at, revoked_by';
const API_KEY = 'key_id, name, role, org, secret_hash, signing_secret, require_signing, created_at, created_by, revoked_at, revoked_by, agent_ids';

/** The statements of the schema `s` (quoted). */
export function pgStatements(s: string) {
  const figures: FiguresDialect = { kind: 'postgres', table: (name) => `${s}.${name}` };
  return {
    // Agents
    getAgent: `SELECT ${AGENT} FROM ${s}.agents WHERE agent_id = $1`,
    listAgents: `SELECT ${AGENT} FROM ${s}.agents ORDER BY agent_id`,
    agentExists: `SELECT 1 FROM ${s}.agents WHERE agent_id = $1`,
    upsertAgent: `INSERT INTO ${s}.agents (agent_id, agent_name, agent_type, capabilities, allowed_resources, metadata, registered_at, updated_at, version)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
      ON CONFLICT (agent_id) DO UPDATE SET
        agent_name = excluded.agent_name, agent_type = excluded.agent_type, capabilities = excluded.capabilities,
        allowed_resources = excluded.allowed_resources, metadata = excluded.metadata, updated_at = excluded.updated_at,
        version = excluded.version
      RETURNING ${AGENT}`,
    /** Block or unblock, creating a blank registration for an unknown agent. */
    setBlocked: `INSERT INTO ${s}.agents (agent_id, agent_name, agent_type, capabilities, allowed_resources, metadata, blocked, blocked_reason,
                                  registered_at, updated_at, version)
      VALUES ($1, $1, 'generic', '[]', '[]', '{}', $2, $3, $4, $4, $5)
      ON CONFLICT (agent_id) DO UPDATE SET
        blocked = excluded.blocked, blocked_reason = excluded.blocked_reason, updated_at = excluded.updated_at, version = excluded.version
      RETURNING ${AGENT}`,
    agentVersion: `SELECT (SELECT version FROM ${s}.agents WHERE agent_id = $1) AS version`,
    /** What a decision checks before it appends: the agent's version and whether the id is taken. */
    decisionCheck: `SELECT (SELECT version FROM ${s}.agents WHERE agent_id = $1) AS version,
      EXISTS (SELECT 1 FROM ${s}.actions WHERE action_id = $2) AS taken`,

    // Actions and outcomes
    // A row names its audit event (`seq`); the record is that event's data, kept once.
    insertAction: `INSERT INTO ${s}.actions (action_id, agent_id, decision, approval_id, created_at, seq) VALUES ($1, $2, $3, $4, $5, $6)`,
    insertActions: `INSERT INTO ${s}.actions (action_id, agent_id, decision, approval_id, created_at, seq)
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])`,
    insertOutcome: `INSERT INTO ${s}.outcomes (action_id, status, recorded_at, seq) VALUES ($1, $2, $3, $4)`,
    insertOutcomes: `INSERT INTO ${s}.outcomes (action_id, status, recorded_at, seq)
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])`,
    actionStates: `SELECT a.action_id, a.agent_id, (o.action_id IS NOT NULL) AS has_outcome
      FROM ${s}.actions a LEFT JOIN ${s}.outcomes o ON o.action_id = a.action_id WHERE a.action_id = ANY ($1::text[])`,
    actionRecord: `SELECT coalesce(x.record, e.data) AS record FROM ${s}.actions x LEFT JOIN ${s}.audit_events e ON e.seq = x.seq WHERE x.action_id = $1`,
    outcomeRecord: `SELECT coalesce(x.record, e.data) AS record FROM ${s}.outcomes x LEFT JOIN ${s}.audit_events e ON e.seq = x.seq WHERE x.action_id = $1`,

    // Budgets (budget-spends.ts)
    /** Per budget (in the order given): its spends after `since`, how many of them are these actions', and the oldest. */
    budgetUsage: `SELECT count(s.id)::int AS used, count(s.id) FILTER (WHERE s.action_id = ANY ($3::text[]))::int AS mine, min(s.at_ms) AS oldest
      FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS b(budget, since, i)
      LEFT JOIN ${s}.budget_spends s ON s.budget = b.budget AND s.at_ms > b.since
      GROUP BY b.i ORDER BY b.i`,
    insertSpends: `INSERT INTO ${s}.budget_spends (budget, at_ms, expires_ms, action_id)
      SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[])`,
    pruneSpends: `DELETE FROM ${s}.budget_spends WHERE expires_ms <= $1`,

    // Approvals
    insertApproval: `INSERT INTO ${s}.approvals (approval_id, action_id, agent_id, action_type, resource, digest, status, requested_at, expires_at, request)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    getApproval: `SELECT ${APPROVAL} FROM ${s}.approvals WHERE approval_id = $1`,
    /** Prefix of a filtered list; the caller appends WHERE / ORDER BY. */
    listApprovals: `SELECT ${APPROVAL} FROM ${s}.approvals`,
    decideApproval: `UPDATE ${s}.approvals SET status = $1, decided_at = $2, decided_by = $3, channel = $4, comment = $5, grant_id = $6, edits = $8
      WHERE approval_id = $7 AND status = 'pending' RETURNING ${APPROVAL}`,
    expireApproval: `UPDATE ${s}.approvals SET status = 'expired', decided_at = $1 WHERE approval_id = $2 AND status = 'pending' RETURNING ${APPROVAL}`,
    // A blocked agent's approvals cannot be spent: the kill switch stops calls approved or not.
    // An approval with edits is spent only by the edited call, one without only by the call itself.
    consumeApproval: `UPDATE ${s}.approvals SET consumed_at = $1
      WHERE approval_id = $2 AND status = 'approved' AND consumed_at IS NULL AND digest = $3 AND expires_at > $1 AND (edits IS NOT NULL) = $4
        AND NOT EXISTS (SELECT 1 FROM ${s}.agents a WHERE a.agent_id = approvals.agent_id AND a.blocked)
      RETURNING agent_id, action_id`,
    findUsableApproval: `SELECT ${APPROVAL} FROM ${s}.approvals
      WHERE agent_id = $1 AND digest = $2 AND status = 'approved' AND consumed_at IS NULL AND expires_at > $3 AND edits IS NULL
      ORDER BY decided_at DESC, ord DESC LIMIT 1`,

    // Grants
    insertGrant: `INSERT INTO ${s}.grants (grant_id, agent_id, action_type, created_at, expires_at, created_by, channel, approval_id)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    getGrant: `SELECT ${GRANT} FROM ${s}.grants WHERE grant_id = $1`,
    listGrants: `SELECT ${GRANT} FROM ${s}.grants`,
    revokeGrant: `UPDATE ${s}.grants SET revoked_at = $1, revoked_by = $2 WHERE grant_id = $3 AND revoked_at IS NULL RETURNING ${GRANT}`,
    findActiveGrant: `SELECT ${GRANT} FROM ${s}.grants
      WHERE agent_id = $1 AND action_type = $2 AND revoked_at IS NULL AND expires_at > $3
      ORDER BY created_at DESC, ord DESC LIMIT 1`,

    // API keys
    insertApiKey: `INSERT INTO ${s}.api_keys (key_id, name, role, org, secret_hash, signing_secret, require_signing, created_at, created_by, agent_ids)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    getApiKey: `SELECT ${API_KEY} FROM ${s}.api_keys WHERE key_id = $1`,
    listApiKeys: `SELECT ${API_KEY} FROM ${s}.api_keys ORDER BY created_at DESC, ord DESC`,
    revokeApiKey: `UPDATE ${s}.api_keys SET revoked_at = $1, revoked_by = $2 WHERE key_id = $3 RETURNING ${API_KEY}`,

    // Policies
    insertPolicy: `INSERT INTO ${s}.policies (policy_version, text, name, revision, pushed_by, pushed_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
    latestPolicy: `SELECT * FROM ${s}.policies ORDER BY id DESC LIMIT 1`,

    // Audit
    auditHead: `SELECT seq, hash FROM ${s}.audit_events ORDER BY seq DESC LIMIT 1`,
    auditBase: auditBaseSql(`${s}.audit_base`),
    auditPage: `SELECT ${PG_AUDIT_COLUMNS} FROM ${s}.audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`,
    /** Prefix of a filtered read; the caller appends WHERE / ORDER BY / LIMIT. */
    readAudit: `SELECT ${PG_AUDIT_COLUMNS} FROM ${s}.audit_events`,
    /** What `verifyAudit` cross-checks against the chain. */
    figures,
    tableFigures: tableFiguresSql(figures),
    strayAgent: strayAgentSql(figures),
  };
}

/** The statements object of one store. */
export type PgStatements = ReturnType<typeof pgStatements>;

/** Constraint names the store maps to its own errors. */
export const PG_CONSTRAINTS = {
  actionsPkey: 'actions_pkey',
  outcomesPkey: 'outcomes_pkey',
  outcomesAction: 'outcomes_action_id_fkey',
  apiKeysPkey: 'api_keys_pkey',
} as const;
