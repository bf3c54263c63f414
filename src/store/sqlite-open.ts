/**
 * Opening a SQLite store's file — the directory, the WAL journal, the connection's settings, the
 * migrations (its options and their defaults are in sqlite-options.ts); and, for a server, WAL checkpoints on a
 * worker thread (sqlite-checkpointer.ts).
 *
 * Durability: `journal_mode=WAL` with `synchronous=NORMAL`. A committed write survives a crash or
 * `kill -9` of the process, which is what Ascend promises. A power loss or OS crash may lose the
 * last few commits (WAL+NORMAL does not fsync each commit); the file stays consistent. See
 * docs/architecture.md, "Store and durability".
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import type Database from 'better-sqlite3';
import { StoreError } from '../core/errors.js';
import { migrate } from './migrations.js';
import { BACKGROUND_WAL_PAGES, BackgroundCheckpointer } from './sqlite-checkpointer.js';
import { openDatabase } from './sqlite-driver.js';
import { sqliteCode, toStoreError } from './sqlite-errors.js';

/**
 * Open (creating the file and its directory when needed), switch to WAL and migrate the database
 * at `path`. Throws StoreError when the file cannot be opened, is not a database, cannot use WAL
 * or is from a newer Ascend.
 */
export function openSqliteDatabase(path: string, busyTimeoutMs: number): Database.Database {
  let db: Database.Database | undefined;
  try {
    if (path !== ':memory:') fs.mkdirSync(nodePath.dirname(nodePath.resolve(path)), { recursive: true });
    db = openDatabase(path, { timeout: busyTimeoutMs });
    const mode = switchToWal(db, busyTimeoutMs);
    if (mode !== 'wal' && path !== ':memory:') {
      throw new StoreError(`SQLite store ${path}: could not switch to WAL journal mode (got ${String(mode)})`);
    }
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db, path);
    return db;
  } catch (err) {
    db?.close();
    throw toStoreError(err, path, 'opening the database', busyTimeoutMs);
  }
}

/**
 * Checkpoint the WAL of `db` (on `path`) from a worker thread; undefined when no worker could
 * start. Should the worker stop, `db`'s commits checkpoint again (unless `closed()` by then).
 */
export function startBackgroundCheckpoints(db: Database.Database, path: string, closed: () => boolean): BackgroundCheckpointer | undefined {
  const takeBack = (reason: string): void => {
    if (closed()) return;
    db.pragma('wal_autocheckpoint = 1000'); // SQLite's default: commits checkpoint again
    process.emitWarning(`SQLite store ${path}: background checkpoints stopped (${reason}); commits checkpoint again`);
  };
  try {
    const checkpointer = new BackgroundCheckpointer({ path, onLost: takeBack });
    // Commits still checkpoint, rarely: then only the frames the worker has not copied yet
    // remain, and the WAL can start over (a passive checkpoint alone never lets it, under load).
    db.pragma(`wal_autocheckpoint = ${BACKGROUND_WAL_PAGES}`);
    db.pragma(`journal_size_limit = ${BACKGROUND_WAL_PAGES * 4096}`);
    return checkpointer;
  } catch (err) {
    takeBack((err as Error).message);
    return undefined;
  }
}

/**
 * `PRAGMA journal_mode = WAL`, waiting out another process that is opening the same new file at
 * the same moment: SQLite may answer SQLITE_BUSY at once, without its busy handler, while the
 * other connection switches the file (two agents started together on a fresh data directory).
 */
function switchToWal(db: Database.Database, busyTimeoutMs: number): unknown {
  const deadline = Date.now() + busyTimeoutMs;
  for (;;) {
    try {
      return db.pragma('journal_mode = WAL', { simple: true });
    } catch (err) {
      if (sqliteCode(err) !== 'SQLITE_BUSY' || Date.now() > deadline) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); // a synchronous 10 ms pause: this is the constructor
    }
  }
}
