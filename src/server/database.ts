/**
 * `--db` for `ascend serve` and `ascend keys`: `sqlite:PATH` (or a bare path) now,
 * `postgres://…` for a cluster.
 */
import { resolve } from 'node:path';
import { ValidationError } from '../errors.js';
import { openSqliteStore } from '../store/sqlite.js';
import type { DurabilityOptions, Store } from '../store/store.js';
import type { WebhookOutbox } from '../store/outbox.js';
import { openSqliteOutbox } from '../store/sqlite-outbox.js';

/** Where the server's state lives. */
export type DatabaseTarget = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/** Read a `--db` value (relative paths against `cwd`). */
export function parseDatabaseTarget(value: string, cwd: string): DatabaseTarget {
  if (/^postgres(ql)?:\/\//.test(value)) return { kind: 'postgres', url: value };
  const path = value.startsWith('sqlite:') ? value.slice('sqlite:'.length) : value;
  if (path === '' || /^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    throw new ValidationError(`--db must be sqlite:PATH or postgres://…, got "${value}"`, [{ path: 'db', message: 'expected sqlite:PATH or postgres://…' }]);
  }
  return { kind: 'sqlite', path: resolve(cwd, path) };
}

/** Open the store at `target`. */
export function openDatabase(target: DatabaseTarget, durability: Partial<DurabilityOptions> = {}): Store {
  if (target.kind === 'postgres') {
    throw new ValidationError('The PostgreSQL store is not in this release yet: use --db sqlite:PATH', [
      { path: 'db', message: 'postgres:// is not supported yet' },
    ]);
  }
  return openSqliteStore(target.path, durability);
}

/** Open the webhook outbox beside the store at `target`. */
export function openOutbox(target: DatabaseTarget): WebhookOutbox {
  if (target.kind === 'postgres') {
    throw new ValidationError('The PostgreSQL store is not in this release yet: use --db sqlite:PATH', [
      { path: 'db', message: 'postgres:// is not supported yet' },
    ]);
  }
  return openSqliteOutbox(target.path);
}
