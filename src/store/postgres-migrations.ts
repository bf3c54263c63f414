/**
 * Versioned, forward-only schema migrations for the PostgreSQL store.
 *
 * All steps, and the check of what is already applied, run in one transaction that first takes
 * the schema's advisory lock (the same one every write takes), so replicas starting together are
 * safe: the first creates the schema and applies the steps, the others wait and find nothing to
 * do. Never edit a released step; add a new one.
 */
import type pg from 'pg';
import { StoreError } from '../core/errors.js';
import type { PgSchema } from './postgres-schema.js';
import { CHAIN_NOTE_EVENTS } from './migrations.js';

/** One schema step. */
export interface PgMigration {
  /** 1, 2, 3, … with no gaps. */
  version: number;
  /** Short description, stored in `schema_migrations`. */
  name: string;
  /** The step's SQL for the schema `s` (already quoted); several statements allowed. */
  sql: (s: string) => string;
}

/**
 * Schema notes (why it looks like this):
 * - The meaning mirrors the SQLite schema (migrations.ts), without its lazy action index: here a
 *   decision writes its `actions` row and its audit event in one statement, and an outcome its
 *   `outcomes` row. Such a row names its audit event (`seq`), whose data is the record's
 *   canonical JSON; `record` holds that JSON only for rows from before migration 11 and for rows
 *   an archive kept after removing their events.
 * - Times are ISO strings `YYYY-MM-DDTHH:mm:ss.sssZ` (records.ts `isoUtc`), compared as text; ids
 *   and times use `COLLATE "C"` so order is byte order whatever the database's collation.
 * - `agents.version` is the `seq` of the agent's latest `agent.*` event (exact kill switch).
 * - `ord` identity columns give "newest first" a tie-break in insertion order (SQLite's rowid).
 * - `audit_events` is append-only: triggers refuse UPDATE, DELETE and TRUNCATE (tampering needs
 *   to drop them first, which `verifyAudit` then catches through the hash chain, and rows deleted
 *   from its end through the tables that name them: audit-cross-check.ts).
 */
export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: (s) => `
CREATE TABLE ${s}.agents (
  agent_id          TEXT COLLATE "C" PRIMARY KEY,
  agent_name        TEXT NOT NULL,
  agent_type        TEXT NOT NULL,
  capabilities      TEXT NOT NULL,
  allowed_resources TEXT NOT NULL,
  metadata          TEXT NOT NULL,
  blocked           BOOLEAN NOT NULL DEFAULT false,
  blocked_reason    TEXT,
  registered_at     TEXT COLLATE "C" NOT NULL,
  updated_at        TEXT COLLATE "C" NOT NULL,
  version           BIGINT NOT NULL
);

CREATE TABLE ${s}.actions (
  action_id    TEXT COLLATE "C" PRIMARY KEY,
  agent_id     TEXT COLLATE "C" NOT NULL,
  decision     TEXT NOT NULL,
  approval_id  TEXT COLLATE "C",
  created_at   TEXT COLLATE "C" NOT NULL,
  record       TEXT NOT NULL
);
CREATE INDEX actions_by_agent ON ${s}.actions (agent_id, created_at);

CREATE TABLE ${s}.outcomes (
  action_id    TEXT COLLATE "C" PRIMARY KEY REFERENCES ${s}.actions (action_id),
  status       TEXT NOT NULL,
  recorded_at  TEXT COLLATE "C" NOT NULL,
  record       TEXT NOT NULL
);

CREATE TABLE ${s}.approvals (
  approval_id   TEXT COLLATE "C" PRIMARY KEY,
  action_id     TEXT COLLATE "C" NOT NULL REFERENCES ${s}.actions (action_id),
  agent_id      TEXT COLLATE "C" NOT NULL,
  action_type   TEXT NOT NULL,
  resource      TEXT NOT NULL,
  digest        TEXT COLLATE "C" NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
  requested_at  TEXT COLLATE "C" NOT NULL,
  expires_at    TEXT COLLATE "C" NOT NULL,
  decided_at    TEXT COLLATE "C",
  decided_by    TEXT,
  channel       TEXT,
  comment       TEXT,
  consumed_at   TEXT COLLATE "C",
  grant_id      TEXT COLLATE "C",
  request       TEXT NOT NULL,
  ord           BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX approvals_by_status ON ${s}.approvals (status, requested_at);
CREATE INDEX approvals_by_agent_digest ON ${s}.approvals (agent_id, digest);

CREATE TABLE ${s}.grants (
  grant_id     TEXT COLLATE "C" PRIMARY KEY,
  agent_id     TEXT COLLATE "C" NOT NULL,
  action_type  TEXT COLLATE "C" NOT NULL,
  created_at   TEXT COLLATE "C" NOT NULL,
  expires_at   TEXT COLLATE "C" NOT NULL,
  created_by   TEXT NOT NULL,
  channel      TEXT NOT NULL,
  approval_id  TEXT COLLATE "C" REFERENCES ${s}.approvals (approval_id),
  revoked_at   TEXT COLLATE "C",
  revoked_by   TEXT,
  ord          BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX grants_by_agent_action ON ${s}.grants (agent_id, action_type, expires_at);

CREATE TABLE ${s}.api_keys (
  key_id           TEXT COLLATE "C" PRIMARY KEY,
  name             TEXT NOT NULL,
  role             TEXT NOT NULL CHECK (role IN ('agent', 'approver', 'admin')),
  org              TEXT NOT NULL,
  secret_hash      TEXT NOT NULL,
  signing_secret   TEXT,
  require_signing  BOOLEAN NOT NULL DEFAULT false,
  created_at       TEXT COLLATE "C" NOT NULL,
  created_by       TEXT NOT NULL,
  revoked_at       TEXT COLLATE "C",
  revoked_by       TEXT,
  ord              BIGINT GENERATED ALWAYS AS IDENTITY
);

CREATE TABLE ${s}.audit_events (
  seq          BIGINT PRIMARY KEY,
  ts           TEXT COLLATE "C" NOT NULL,
  type         TEXT NOT NULL,
  agent_id     TEXT COLLATE "C",
  action_id    TEXT COLLATE "C",
  approval_id  TEXT COLLATE "C",
  actor        TEXT NOT NULL,
  data         TEXT NOT NULL,
  prev_hash    TEXT NOT NULL,
  hash         TEXT NOT NULL
);
CREATE INDEX audit_by_agent ON ${s}.audit_events (agent_id, seq);
CREATE INDEX audit_by_action ON ${s}.audit_events (action_id, seq);

CREATE FUNCTION ${s}.audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON ${s}.audit_events
  FOR EACH ROW EXECUTE FUNCTION ${s}.audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON ${s}.audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION ${s}.audit_events_append_only();
`,
  },
  {
    version: 2,
    name: 'webhooks and their delivery outbox',
    sql: (s) => `
CREATE TABLE ${s}.webhooks (
  webhook_id   TEXT COLLATE "C" PRIMARY KEY,
  org          TEXT NOT NULL,
  url          TEXT NOT NULL,
  events       TEXT NOT NULL,
  secret       TEXT NOT NULL,
  created_at   TEXT COLLATE "C" NOT NULL,
  created_by   TEXT NOT NULL,
  cursor_seq   BIGINT NOT NULL,
  disabled_at  TEXT COLLATE "C",
  ord          BIGINT GENERATED ALWAYS AS IDENTITY
);

CREATE TABLE ${s}.webhook_deliveries (
  delivery_id      TEXT COLLATE "C" PRIMARY KEY,
  webhook_id       TEXT COLLATE "C" NOT NULL REFERENCES ${s}.webhooks (webhook_id),
  event            TEXT NOT NULL,
  audit_seq        BIGINT NOT NULL,
  payload          TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  TEXT COLLATE "C" NOT NULL,
  locked_until     TEXT COLLATE "C",
  last_error       TEXT,
  last_status      INTEGER,
  created_at       TEXT COLLATE "C" NOT NULL,
  delivered_at     TEXT COLLATE "C",
  ord              BIGINT GENERATED ALWAYS AS IDENTITY,
  UNIQUE (webhook_id, audit_seq, event)
);
CREATE INDEX webhook_deliveries_due ON ${s}.webhook_deliveries (status, next_attempt_at);
`,
  },
  {
    version: 3,
    name: 'nonces of signed requests, shared by replicas',
    sql: (s) => `
CREATE TABLE ${s}.request_nonces (
  nonce       TEXT COLLATE "C" PRIMARY KEY,
  expires_at  BIGINT NOT NULL
);
CREATE INDEX request_nonces_expiry ON ${s}.request_nonces (expires_at);
`,
  },
  {
    version: 4,
    name: 'a server-only secret per webhook that signs its one-click approval links',
    sql: (s) => `ALTER TABLE ${s}.webhooks ADD COLUMN link_secret TEXT;`,
  },
  {
    version: 5,
    name: 'the agent ids an agent key may act as (JSON array of globs; NULL: any)',
    sql: (s) => `ALTER TABLE ${s}.api_keys ADD COLUMN agent_ids TEXT;`,
  },
  {
    version: 6,
    name: 'budget spends: one row per allowed call per budget it draws on, shared by every replica',
    sql: (s) => `
CREATE TABLE ${s}.budget_spends (
  id          BIGSERIAL PRIMARY KEY,
  budget      TEXT COLLATE "C" NOT NULL,
  at_ms       BIGINT NOT NULL,
  expires_ms  BIGINT NOT NULL,
  action_id   TEXT COLLATE "C" NOT NULL
);
CREATE INDEX budget_spends_by_budget ON ${s}.budget_spends (budget, at_ms);
CREATE INDEX budget_spends_by_expiry ON ${s}.budget_spends (expires_ms);`,
  },
  {
    version: 7,
    name: 'policies pushed with `ascend policy push`: every replica decides with the latest',
    sql: (s) => `
CREATE TABLE ${s}.policies (
  id              BIGSERIAL PRIMARY KEY,
  policy_version  TEXT NOT NULL,
  text            TEXT NOT NULL,
  name            TEXT,
  revision        TEXT,
  pushed_by       TEXT NOT NULL,
  pushed_at       TEXT NOT NULL
);`,
  },
  {
    version: 8,
    name: 'audit checkpoints and checkpoint keys, found without a scan',
    sql: (s) => `CREATE INDEX audit_checkpoints ON ${s}.audit_events (seq) WHERE type IN ('audit.checkpoint', 'audit.checkpoint_key');`,
  },
  {
    version: 9,
    name: 'audit archives: where the live chain starts, and removing only archived events',
    sql: (s) => `
CREATE TABLE ${s}.audit_base (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  seq          BIGINT NOT NULL,
  hash         TEXT NOT NULL,
  counts       TEXT NOT NULL,
  retained     TEXT NOT NULL,
  archived_at  TEXT
);
INSERT INTO ${s}.audit_base (id, seq, hash, counts, retained) VALUES (1, 0, '${'0'.repeat(64)}', '{}', '{}');
DROP TRIGGER audit_events_no_update ON ${s}.audit_events;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON ${s}.audit_events
  FOR EACH ROW EXECUTE FUNCTION ${s}.audit_events_append_only();
CREATE FUNCTION ${s}.audit_events_keep_unarchived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM gone WHERE seq > (SELECT seq FROM ${s}.audit_base WHERE id = 1)) THEN
    RAISE EXCEPTION 'audit_events is append-only: only archived events (seq <= audit_base.seq) may be removed' USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER audit_events_no_delete AFTER DELETE ON ${s}.audit_events
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION ${s}.audit_events_keep_unarchived();`,
  },
  {
    version: 10,
    name: 'archive records found without a scan, like checkpoints',
    sql: (s) => `DROP INDEX ${s}.audit_checkpoints; CREATE INDEX audit_chain_notes ON ${s}.audit_events (seq) WHERE ${CHAIN_NOTE_EVENTS};`,
  },
  {
    version: 11,
    name: 'a decision or outcome record kept once: rows name their audit event',
    // Rows written from now on carry `seq` and no `record`: the record is the event's data.
    // Older rows keep theirs. An archive copies the record into the rows it keeps before their
    // events go. NOT VALID: the check holds for new rows without scanning the old ones.
    sql: (s) => `
ALTER TABLE ${s}.actions ADD COLUMN seq BIGINT;
ALTER TABLE ${s}.actions ALTER COLUMN record DROP NOT NULL;
ALTER TABLE ${s}.actions ADD CONSTRAINT actions_record_kept CHECK (record IS NOT NULL OR seq IS NOT NULL) NOT VALID;
ALTER TABLE ${s}.outcomes ADD COLUMN seq BIGINT;
ALTER TABLE ${s}.outcomes ALTER COLUMN record DROP NOT NULL;
ALTER TABLE ${s}.outcomes ADD CONSTRAINT outcomes_record_kept CHECK (record IS NOT NULL OR seq IS NOT NULL) NOT VALID;`,
  },
  {
    version: 12,
    name: 'webhook message formats (json, slack, teams), Slack buttons that decide in Slack',
    sql: (s) => `ALTER TABLE ${s}.webhooks ADD COLUMN format TEXT NOT NULL DEFAULT 'json'; ALTER TABLE ${s}.webhooks ADD COLUMN slack_interactive BOOLEAN NOT NULL DEFAULT false;`,
  },
  {
    version: 13,
    name: 'edit and approve: the changes an approver made to a call (JSON), spent only by the edited call',
    sql: (s) => `ALTER TABLE ${s}.approvals ADD COLUMN edits TEXT;`,
  },
];

/** The newest PostgreSQL schema version this code knows. */
export const PG_SCHEMA_VERSION: number = PG_MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);

/**
 * Bring `schema` up to date on `client` (a connection not in a transaction), creating the
 * schema when missing. Safe to run from several processes at once. Throws StoreError (labelled
 * with `label`) when the schema was written by a newer ascend-sdk.
 * @returns the versions applied by this call (empty when the schema was current).
 */
export async function migratePostgres(
  client: pg.ClientBase,
  schema: PgSchema,
  label: string,
  migrations: readonly PgMigration[] = PG_MIGRATIONS,
): Promise<number[]> {
  const latest = migrations.reduce((max, m) => Math.max(max, m.version), 0);
  const s = schema.quoted;
  await client.query(`BEGIN; SELECT pg_advisory_xact_lock(${schema.lockKey})`);
  try {
    // Checked rather than CREATE SCHEMA IF NOT EXISTS: that needs CREATE on the database even
    // when the schema exists, which a least-privilege role may lack.
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema.name]);
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (
      version     INTEGER PRIMARY KEY,
      name        TEXT NOT NULL,
      applied_at  TEXT NOT NULL
    )`);
    const current = await client.query<{ version: number | null }>(`SELECT MAX(version) AS version FROM ${s}.schema_migrations`);
    const version = current.rows[0]?.version ?? 0;
    if (version > latest) {
      throw new StoreError(`${label}: schema version ${version} is newer than this ascend-sdk supports (${latest}); upgrade ascend-sdk`);
    }
    const applied: number[] = [];
    for (const step of [...migrations].sort((a, b) => a.version - b.version)) {
      if (step.version <= version) continue;
      await client.query(step.sql(s));
      await client.query(`INSERT INTO ${s}.schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, [
        step.version,
        step.name,
        new Date().toISOString(),
      ]);
      applied.push(step.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
