/**
 * Versioned, forward-only schema migrations for the SQLite store.
 *
 * Each step runs once, in order, inside one `BEGIN IMMEDIATE` transaction together with the
 * check of what is already applied, so several processes opening the same new file at the same
 * moment are safe: the first applies the steps, the others wait for its lock and find nothing to do.
 * Never edit a released step; add a new one.
 */
import type Database from 'better-sqlite3';
import { StoreError } from '../core/errors.js';

/** One schema step. */
export interface Migration {
  /** 1, 2, 3, … with no gaps. */
  version: number;
  /** Short description, stored in `schema_migrations`. */
  name: string;
  /** SQL run with `exec` (several statements allowed). */
  sql: string;
}

/**
 * SQL condition "not a hot event type" (`HOT_AUDIT_TYPES` in chain-view.ts). The audit indexes leave hot
 * events out: every b-tree a commit touches is one more WAL frame, and frames are what a commit
 * costs; hot events are found through `action_index` and the connection's tail (chain-view.ts). Spelled as `<>`
 * terms, not `NOT IN (…)`: SQLite builds an ephemeral table for an IN list on every insert,
 * which cost 2 µs per row here. Part of migration 1's text: never change it.
 */
export const NOT_HOT = "type <> 'action.evaluated' AND type <> 'action.completed' AND type <> 'action.failed'";

/** Migration 9's partial index condition (replaced by {@link CHAIN_NOTE_EVENTS} in migration 12). */
const CHECKPOINT_EVENTS = "type IN ('audit.checkpoint', 'audit.checkpoint_key')";

/** The event types found through {@link CHAIN_NOTE_EVENTS}' index. */
export const CHAIN_NOTE_TYPES: ReadonlySet<string> = new Set(['audit.checkpoint', 'audit.checkpoint_key', 'audit.archived']);

/**
 * SQL condition "a checkpoint, a checkpoint key or an archive": the events verification looks up
 * among millions, through a partial index that hot commits never touch (migration 12; both
 * stores). `readAudit` spells it out so the planner may use the index.
 */
export const CHAIN_NOTE_EVENTS = "type IN ('audit.checkpoint', 'audit.checkpoint_key', 'audit.archived')";

/**
 * Schema notes (why it looks like this):
 * - A hot commit (a decision, an outcome) writes one row: its `audit_events` row, whose `data`
 *   is the record (canonical JSON, written once). A commit costs the pages it writes, and this
 *   is as few as a one-row commit can write.
 * - Actions are found by id through `action_index` (action id → the `seq` of its decision and
 *   outcome events), which is derived from the chain and written in bulk, not per commit:
 *   `store_meta.indexed_through` says how far it goes, and each connection keeps the hot events
 *   after that point in memory (chain-view.ts). Rebuilding it from the chain is always possible.
 * - `agents.version` is the `seq` of the agent's latest `agent.*` event: a decision made on an
 *   older version of the registration is refused and re-made (the kill switch is exact).
 * - Audit lookups by agent or action use partial indexes that skip the hot event types; reading
 *   an agent's whole trail scans `audit_events` (newest-first with a limit stops early), and a
 *   time range (`since`/`until`) scans too: both are operator reads, not the hot path.
 * - `audit_events` is append-only: triggers refuse UPDATE and DELETE (tampering needs to drop
 *   them first, which `verifyAudit` then catches through the hash chain, and rows deleted from its
 *   end through the tables that name them: audit-cross-check.ts).
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE agents (
  agent_id          TEXT PRIMARY KEY,
  agent_name        TEXT NOT NULL,
  agent_type        TEXT NOT NULL,
  capabilities      TEXT NOT NULL,
  allowed_resources TEXT NOT NULL,
  metadata          TEXT NOT NULL,
  blocked           INTEGER NOT NULL DEFAULT 0,
  blocked_reason    TEXT,
  registered_at     TEXT NOT NULL,
  updated_at        TEXT NOT NULL,
  version           INTEGER NOT NULL
);

CREATE TABLE action_index (
  action_id     TEXT PRIMARY KEY,
  agent_id      TEXT NOT NULL,
  decision_seq  INTEGER NOT NULL,
  outcome_seq   INTEGER
) WITHOUT ROWID;

CREATE TABLE store_meta (
  key    TEXT PRIMARY KEY,
  value  INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO store_meta (key, value) VALUES ('indexed_through', 0);

CREATE TABLE approvals (
  approval_id   TEXT PRIMARY KEY,
  action_id     TEXT NOT NULL,
  agent_id      TEXT NOT NULL,
  action_type   TEXT NOT NULL,
  resource      TEXT NOT NULL,
  digest        TEXT NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
  requested_at  TEXT NOT NULL,
  expires_at    TEXT NOT NULL,
  decided_at    TEXT,
  decided_by    TEXT,
  channel       TEXT,
  comment       TEXT,
  consumed_at   TEXT,
  grant_id      TEXT,
  request       TEXT NOT NULL
);
CREATE INDEX approvals_by_status ON approvals(status, requested_at);
CREATE INDEX approvals_by_agent_digest ON approvals(agent_id, digest);

CREATE TABLE grants (
  grant_id     TEXT PRIMARY KEY,
  agent_id     TEXT NOT NULL,
  action_type  TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  expires_at   TEXT NOT NULL,
  created_by   TEXT NOT NULL,
  channel      TEXT NOT NULL,
  approval_id  TEXT REFERENCES approvals(approval_id),
  revoked_at   TEXT,
  revoked_by   TEXT
);
CREATE INDEX grants_by_agent_action ON grants(agent_id, action_type, expires_at);

CREATE TABLE audit_events (
  seq          INTEGER PRIMARY KEY,
  ts           TEXT NOT NULL,
  type         TEXT NOT NULL,
  agent_id     TEXT,
  action_id    TEXT,
  approval_id  TEXT,
  actor        TEXT NOT NULL,
  data         TEXT NOT NULL,
  prev_hash    TEXT NOT NULL,
  hash         TEXT NOT NULL
);
CREATE INDEX audit_by_agent ON audit_events(agent_id, seq) WHERE ${NOT_HOT};
CREATE INDEX audit_by_action ON audit_events(action_id, seq) WHERE ${NOT_HOT};

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
`,
  },
  {
    version: 2,
    name: 'api keys',
    sql: `
CREATE TABLE api_keys (
  key_id           TEXT PRIMARY KEY,
  name             TEXT NOT NULL,
  role             TEXT NOT NULL CHECK (role IN ('agent', 'approver', 'admin')),
  org              TEXT NOT NULL,
  secret_hash      TEXT NOT NULL,
  signing_secret   TEXT,
  require_signing  INTEGER NOT NULL DEFAULT 0,
  created_at       TEXT NOT NULL,
  created_by       TEXT NOT NULL,
  revoked_at       TEXT,
  revoked_by       TEXT
);
`,
  },
  {
    version: 3,
    name: 'webhooks and their delivery outbox',
    sql: `
CREATE TABLE webhooks (
  webhook_id   TEXT PRIMARY KEY,
  org          TEXT NOT NULL,
  url          TEXT NOT NULL,
  events       TEXT NOT NULL,
  secret       TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  created_by   TEXT NOT NULL,
  cursor_seq   INTEGER NOT NULL,
  disabled_at  TEXT
);

CREATE TABLE webhook_deliveries (
  delivery_id      TEXT PRIMARY KEY,
  webhook_id       TEXT NOT NULL REFERENCES webhooks(webhook_id),
  event            TEXT NOT NULL,
  audit_seq        INTEGER NOT NULL,
  payload          TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  TEXT NOT NULL,
  locked_until     TEXT,
  last_error       TEXT,
  last_status      INTEGER,
  created_at       TEXT NOT NULL,
  delivered_at     TEXT,
  UNIQUE (webhook_id, audit_seq, event)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
`,
  },
  {
    version: 4,
    name: 'a server-only secret per webhook that signs its one-click approval links',
    sql: `ALTER TABLE webhooks ADD COLUMN link_secret TEXT;`,
  },
  {
    version: 5,
    name: 'the agent ids an agent key may act as (JSON array of globs; NULL: any)',
    sql: `ALTER TABLE api_keys ADD COLUMN agent_ids TEXT;`,
  },
  {
    version: 6,
    name: 'nonces of signed requests and ended sessions, kept across restarts',
    sql: `
CREATE TABLE request_nonces (
  nonce       TEXT PRIMARY KEY,
  expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX request_nonces_expiry ON request_nonces(expires_at);
`,
  },
  {
    version: 7,
    // Ids grow in commit order (the newest row is never pruned, so an id is never reused): a
    // connection brings its copy up to date by reading the rows after the last id it saw.
    name: 'budget spends: one row per allowed call per budget it draws on, shared by every process',
    sql: `
CREATE TABLE budget_spends (
  id          INTEGER PRIMARY KEY,
  budget      TEXT NOT NULL,
  at_ms       INTEGER NOT NULL,
  expires_ms  INTEGER NOT NULL,
  action_id   TEXT NOT NULL
);
CREATE INDEX budget_spends_by_budget ON budget_spends(budget, at_ms);
`,
  },
  {
    version: 8,
    name: 'policies pushed with `ascend policy push`: every server on the database decides with the latest',
    sql: `
CREATE TABLE policies (
  id              INTEGER PRIMARY KEY,
  policy_version  TEXT NOT NULL,
  text            TEXT NOT NULL,
  name            TEXT,
  revision        TEXT,
  pushed_by       TEXT NOT NULL,
  pushed_at       TEXT NOT NULL
);
`,
  },
  {
    version: 9,
    name: 'audit checkpoints and checkpoint keys, found without a scan',
    sql: `CREATE INDEX audit_checkpoints ON audit_events(seq) WHERE ${CHECKPOINT_EVENTS};`,
  },
  {
    version: 10,
    name: 'audit archives: where the live chain starts, and removing only archived events',
    sql: `
CREATE TABLE audit_base (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  seq          INTEGER NOT NULL,
  hash         TEXT NOT NULL,
  counts       TEXT NOT NULL,
  retained     TEXT NOT NULL,
  archived_at  TEXT
);
INSERT INTO audit_base (id, seq, hash, counts, retained) VALUES (1, 0, '${'0'.repeat(64)}', '{}', '{}');
DROP TRIGGER audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN OLD.seq > (SELECT seq FROM audit_base WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: only archived events (seq <= audit_base.seq) may be removed'); END;
`,
  },
  {
    version: 11,
    name: 'the action index by seq: verifying from a checkpoint compares only its part past the checkpoint',
    sql: `
CREATE INDEX action_index_by_decision ON action_index(decision_seq);
CREATE INDEX action_index_by_outcome ON action_index(outcome_seq) WHERE outcome_seq IS NOT NULL;
`,
  },
  {
    version: 12,
    name: 'archive records found without a scan, like checkpoints',
    sql: `DROP INDEX audit_checkpoints; CREATE INDEX audit_chain_notes ON audit_events(seq) WHERE ${CHAIN_NOTE_EVENTS};`,
  },
  {
    version: 13,
    name: 'webhook message formats (json, slack, teams), Slack buttons that decide in Slack',
    sql: `ALTER TABLE webhooks ADD COLUMN format TEXT NOT NULL DEFAULT 'json'; ALTER TABLE webhooks ADD COLUMN slack_interactive INTEGER NOT NULL DEFAULT 0;`,
  },
  {
    version: 14,
    name: 'edit and approve: the changes an approver made to a call (JSON), spent only by the edited call',
    sql: `ALTER TABLE approvals ADD COLUMN edits TEXT;`,
  },
];

/** The newest schema version this code knows. */
export const SCHEMA_VERSION: number = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);

/**
 * Bring the database at `db` up to {@link SCHEMA_VERSION}. Safe to call from several processes
 * at once. Throws StoreError when the file was written by a newer version of Ascend.
 * @returns the versions applied by this call (empty when the schema was current).
 */
export function migrate(db: Database.Database, path: string, migrations: readonly Migration[] = MIGRATIONS): number[] {
  const latest = migrations.reduce((max, m) => Math.max(max, m.version), 0);
  const run = db.transaction((): number[] => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version     INTEGER PRIMARY KEY,
      name        TEXT NOT NULL,
      applied_at  TEXT NOT NULL
    )`);
    const current = (db.prepare('SELECT MAX(version) FROM schema_migrations').pluck().get() as number | null) ?? 0;
    if (current > latest) {
      throw new StoreError(
        `SQLite store ${path}: schema version ${current} is newer than this ascend-sdk supports (${latest}); upgrade ascend-sdk`,
      );
    }
    const applied: number[] = [];
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const step of [...migrations].sort((a, b) => a.version - b.version)) {
      if (step.version <= current) continue;
      db.exec(step.sql);
      record.run(step.version, step.name, new Date().toISOString());
      applied.push(step.version);
    }
    return applied;
  });
  return run.immediate();
}
