/**
 * `--db` for `ascend serve` and `ascend keys`: `sqlite:PATH` (or a bare path) for one server,
 * `postgres://user@host:port/db[?schema=NAME]` for replicas sharing one database.
 */
import { resolve } from 'node:path';
import { ValidationError } from '../core/errors.js';
import type { WebhookOutbox } from '../store/outbox.js';
import { PostgresNonceStore, SqliteNonceStore, type NonceStore } from './nonces.js';
import { openPostgresOutbox } from '../store/postgres-outbox.js';
import { openPostgresStore } from '../store/postgres.js';
import { openSqliteOutbox } from '../store/sqlite-outbox.js';
import { openSqliteStore } from '../store/sqlite.js';
import type { DurabilityOptions, Store } from '../store/store.js';

/** Where the server's state lives. */
export type DatabaseTarget = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string; schema: string };

/** Read a `--db` value (relative paths against `cwd`). */
export function parseDatabaseTarget(value: string, cwd: string): DatabaseTarget {
  if (/^postgres(ql)?:\/\//.test(value)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new ValidationError(`--db is not a valid postgres:// URL`, [{ path: 'db', message: 'not a URL' }]);
    }
    const schema = url.searchParams.get('schema') ?? 'ascend';
    url.searchParams.delete('schema'); // ours, not a libpq parameter
    return { kind: 'postgres', url: url.toString(), schema };
  }
  const path = value.startsWith('sqlite:') ? value.slice('sqlite:'.length) : value;
  if (path === '' || /^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    throw new ValidationError(`--db must be sqlite:PATH or postgres://…, got "${value}"`, [{ path: 'db', message: 'expected sqlite:PATH or postgres://…' }]);
  }
  return { kind: 'sqlite', path: resolve(cwd, path) };
}

/** Open (and migrate) the store at `target`. */
export async function openDatabase(
  target: DatabaseTarget,
  durability: Partial<DurabilityOptions> = {},
  /** SQLite: checkpoint the WAL from a worker thread (a long-running server), not inside commits. */
  sqlite: { backgroundCheckpoints?: boolean } = {},
): Promise<Store> {
  if (target.kind === 'postgres') return openPostgresStore(target.url, { schema: target.schema, ...durability });
  return openSqliteStore(target.path, { ...durability, ...sqlite });
}

/** Open the webhook outbox beside the store at `target` (after the store: it made the tables). */
export function openOutbox(target: DatabaseTarget, sqlite: { backgroundCheckpoints?: boolean } = {}): WebhookOutbox {
  return target.kind === 'postgres' ? openPostgresOutbox(target.url, { schema: target.schema }) : openSqliteOutbox(target.path, 5000, sqlite);
}

/**
 * Where a server at `target` keeps nonces of signed requests (and ended dashboard sessions): in
 * its database, so they outlive a restart and every server on the database shares them.
 */
export function openNonceStore(target: DatabaseTarget, sqlite: { backgroundCheckpoints?: boolean } = {}): NonceStore {
  return target.kind === 'postgres' ? new PostgresNonceStore(target.url, target.schema) : new SqliteNonceStore(target.path, sqlite);
}
