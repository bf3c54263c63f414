/**
 * Where the nonces of signed requests are remembered for the skew window, so a captured request
 * cannot be sent again: in the server's database (SQLite or the cluster's PostgreSQL), so a
 * replay is refused after a restart and by every server sharing the database; in memory only
 * where the app is built without one (tests, embedding).
 */
import type Database from 'better-sqlite3';
import pg from 'pg';
import { StoreError } from '../core/errors.js';
import { migrate } from '../store/migrations.js';
import { toPgStoreError } from '../store/postgres-errors.js';
import { describeTarget, pgSchema } from '../store/postgres-schema.js';
import { BACKGROUND_WAL_PAGES } from '../store/sqlite-checkpointer.js';
import { openDatabase } from '../store/sqlite-driver.js';
import { toStoreError } from '../store/sqlite-errors.js';

/** Remembers nonces until they expire. */
export interface NonceStore {
  /** False when the nonce was already used (a replay). */
  remember(nonce: string, expiresAtMs: number): Promise<boolean>;
  /** Whether the nonce is remembered and not yet expired (ended dashboard sessions are kept here too). */
  isRemembered(nonce: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Live nonces one process keeps (about 150 B each); beyond it signed requests are refused (503). */
const MAX_IN_MEMORY = 500_000;

/** One process's memory. */
export class MemoryNonceStore implements NonceStore {
  private readonly seen = new Map<string, number>();

  async remember(nonce: string, expiresAtMs: number): Promise<boolean> {
    if (this.seen.has(nonce)) return false;
    if (this.seen.size >= MAX_IN_MEMORY) {
      const now = Date.now();
      for (const [known, until] of this.seen) if (until < now) this.seen.delete(known);
      // Forgetting a live nonce would let its request be replayed: refuse instead (fail closed).
      if (this.seen.size >= MAX_IN_MEMORY) {
        throw new StoreError(`More than ${MAX_IN_MEMORY} signed requests within the signature window: refusing more until some expire`);
      }
    }
    this.seen.set(nonce, expiresAtMs);
    return true;
  }

  async isRemembered(nonce: string): Promise<boolean> {
    const until = this.seen.get(nonce);
    return until !== undefined && until > Date.now();
  }

  async close(): Promise<void> {}
}

/** Expired nonces are deleted after this many inserts … */
const PURGE_EVERY_INSERTS = 1000;
/** … or on the first insert this long after the last purge, whichever comes first. */
const PURGE_EVERY_MS = 60_000;

/**
 * The server's SQLite file, through a connection of its own: one small commit per signed request
 * (a row of `request_nonces`), so a nonce outlives the process and every process on the file
 * refuses a replay; the primary key refuses it, in one statement, under SQLite's write lock. No
 * fsync, as for the store's commits (`synchronous = NORMAL`): the WAL keeps commits in order, so a
 * decision that survives a power cut keeps the nonce of the request that made it.
 */
export class SqliteNonceStore implements NonceStore {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement<[string, number]>;
  private readonly lookup: Database.Statement<[string, number]>;
  private readonly purge: Database.Statement<[number]>;
  private readonly busyTimeoutMs: number;
  private insertsSincePurge = 0;
  private lastPurgeMs = 0;

  constructor(
    private readonly path: string,
    options: { busyTimeoutMs?: number; backgroundCheckpoints?: boolean } = {},
  ) {
    this.busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    let db: Database.Database | undefined;
    try {
      db = openDatabase(path, { timeout: this.busyTimeoutMs });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      // Beside a store that checkpoints from a worker: this connection must not do it in its commits either.
      if (options.backgroundCheckpoints) db.pragma(`wal_autocheckpoint = ${BACKGROUND_WAL_PAGES}`);
      migrate(db, path);
      this.insert = db.prepare('INSERT INTO request_nonces (nonce, expires_at) VALUES (?, ?) ON CONFLICT (nonce) DO NOTHING');
      this.lookup = db.prepare('SELECT 1 FROM request_nonces WHERE nonce = ? AND expires_at > ?');
      this.purge = db.prepare('DELETE FROM request_nonces WHERE expires_at <= ?');
      this.db = db;
    } catch (err) {
      db?.close();
      throw toStoreError(err, path, 'opening the nonce store', this.busyTimeoutMs);
    }
  }

  async remember(nonce: string, expiresAtMs: number): Promise<boolean> {
    let inserted: boolean;
    try {
      inserted = this.insert.run(nonce, expiresAtMs).changes === 1;
    } catch (err) {
      throw toStoreError(err, this.path, 'remembering a request nonce', this.busyTimeoutMs);
    }
    const now = Date.now();
    if (++this.insertsSincePurge >= PURGE_EVERY_INSERTS || now - this.lastPurgeMs >= PURGE_EVERY_MS) {
      this.insertsSincePurge = 0;
      this.lastPurgeMs = now;
      try {
        this.purge.run(now);
      } catch {
        // The nonce is already kept: a purge that failed (the file busy) is retried later, not this request's failure.
      }
    }
    return inserted;
  }

  async isRemembered(nonce: string): Promise<boolean> {
    try {
      return this.lookup.get(nonce, Date.now()) !== undefined;
    } catch (err) {
      throw toStoreError(err, this.path, 'reading a remembered nonce', this.busyTimeoutMs);
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

/** The cluster's database: one insert per signed request; the primary key refuses a replay. */
export class PostgresNonceStore implements NonceStore {
  private readonly pool: pg.Pool;
  private readonly table: string;
  private readonly label: string;
  private inserts = 0;

  constructor(url: string, schema: string) {
    this.table = `${pgSchema(schema).quoted}.request_nonces`;
    this.label = describeTarget(url, schema);
    this.pool = new pg.Pool({ connectionString: url, max: 4, allowExitOnIdle: true, application_name: `ascend-sdk ${schema} nonces` });
    this.pool.on('error', (err) => process.emitWarning(`${this.label}: idle nonce connection lost: ${err.message}`));
  }

  async remember(nonce: string, expiresAtMs: number): Promise<boolean> {
    try {
      const result = await this.pool.query(`INSERT INTO ${this.table} (nonce, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [nonce, expiresAtMs]);
      if (++this.inserts % 1000 === 0) void this.pool.query(`DELETE FROM ${this.table} WHERE expires_at < $1`, [Date.now()]).catch(() => undefined);
      return result.rowCount === 1;
    } catch (err) {
      throw toPgStoreError(err, this.label, 'remembering a request nonce', 0);
    }
  }

  async isRemembered(nonce: string): Promise<boolean> {
    try {
      const result = await this.pool.query(`SELECT 1 FROM ${this.table} WHERE nonce = $1 AND expires_at > $2`, [nonce, Date.now()]);
      return result.rowCount === 1;
    } catch (err) {
      throw toPgStoreError(err, this.label, 'reading a remembered nonce', 0);
    }
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
