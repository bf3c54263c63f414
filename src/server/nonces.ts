/**
 * Where the nonces of signed requests are remembered for the skew window, so a captured request
 * cannot be sent again: in memory for one server, in the shared database for a cluster (a replay
 * sent to another replica is refused too).
 */
import pg from 'pg';
import { StoreError } from '../errors.js';
import { toPgStoreError } from '../store/postgres-errors.js';
import { describeTarget, pgSchema } from '../store/postgres-schema.js';

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
