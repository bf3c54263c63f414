/**
 * Opening a PostgreSQL store: its options and their defaults, the connections it makes (a pool,
 * and one client for LISTEN once someone watches), and the migration of its schema. See
 * docs/architecture.md, "Store and durability".
 */
import pg from 'pg';
import type { StoreError } from '../core/errors.js';
import type { FlushReport } from './batch.js';
import { migratePostgres } from './postgres-migrations.js';
import { DEFAULT_PG_SCHEMA, PG_TYPES, type PgSchema } from './postgres-schema.js';
import { checkout } from './postgres-tx.js';
import type { DurabilityOptions } from './store.js';

/** Options of {@link openPostgresStore}. */
export interface PostgresStoreOptions extends Partial<DurabilityOptions> {
  /** The schema holding the store's tables, created when missing. Default `ascend`. */
  schema?: string;
  /** Pooled connections (plus one for LISTEN once someone watches). Default 10. */
  poolSize?: number;
  /** How long a write waits for the audit-chain lock held by another writer; 0: forever. Default 5000. */
  lockTimeoutMs?: number;
  /** How long to wait for a connection (new, or free in the pool). Default 10000. */
  connectTimeoutMs?: number;
  /**
   * `batched` mode: called right after each commit that made queued writes durable, with exactly
   * which ones (their promises resolve when queued). `await store.flush()` also makes everything
   * queued before it durable.
   */
  onFlush?: (report: FlushReport) => void;
  /** `batched` mode: a flush nobody awaits failed, or dropped writes that can never commit. Default: a process warning. */
  onFlushError?: (error: StoreError) => void;
}

/** Defaults of {@link openPostgresStore}. */
export const POSTGRES_DEFAULTS = {
  schema: DEFAULT_PG_SCHEMA,
  durability: 'sync',
  flushIntervalMs: 5,
  maxBatchSize: 256,
  poolSize: 10,
  lockTimeoutMs: 5000,
  connectTimeoutMs: 10_000,
} as const;

/** How every connection of a store on `schema` at `url` is made. */
export function pgClientConfig(url: string, schema: string, connectTimeoutMs: number): pg.ClientConfig {
  return {
    connectionString: url,
    types: PG_TYPES,
    application_name: `ascend-sdk ${schema}`, // which schema a session serves, in pg_stat_activity
    connectionTimeoutMillis: connectTimeoutMs,
  };
}

/** The store's pool of `poolSize` connections; `label` names the store in warnings. */
export function openPgPool(config: pg.ClientConfig, poolSize: number, label: string): pg.Pool {
  // allowExitOnIdle: like the SQLite store, an open store does not keep the process alive.
  const pool = new pg.Pool({ ...config, max: Math.ceil(poolSize), allowExitOnIdle: true });
  // An idle pooled connection that dies emits 'error' on the pool; unheard, it would crash the process.
  pool.on('error', (err) => process.emitWarning(`${label}: idle connection lost: ${err.message}`));
  return pool;
}

/** Create the schema `names` when missing and migrate it, on one pooled connection. */
export async function migrateSchema(pool: pg.Pool, names: PgSchema, label: string): Promise<void> {
  const { client, release } = await checkout(pool);
  try {
    await migratePostgres(client, names, label);
  } finally {
    release();
  }
}
