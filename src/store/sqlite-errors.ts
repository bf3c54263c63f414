/**
 * Turning SQLite failures into {@link StoreError}s that say which file, what we were doing and
 * what SQLite reported, keeping the original error as `cause`.
 */
import { AscendError, StoreError } from '../core/errors.js';
import { refusedValue } from './records.js';

/** The shape of better-sqlite3's `SqliteError` (and Node's system errors): a string `code`. */
interface CodedError extends Error {
  code: string;
}

function isCoded(err: unknown): err is CodedError {
  return err instanceof Error && typeof (err as Partial<CodedError>).code === 'string';
}

/** The SQLite result code of `err` (e.g. `SQLITE_CONSTRAINT_PRIMARYKEY`), if it has one. */
export function sqliteCode(err: unknown): string | undefined {
  return isCoded(err) && err.code.startsWith('SQLITE_') ? err.code : undefined;
}

/** True for a constraint violation (unique, primary key, foreign key, check, not null). */
export function isConstraintError(err: unknown): boolean {
  return sqliteCode(err)?.startsWith('SQLITE_CONSTRAINT') ?? false;
}

/** Result codes that mean "this value cannot be stored", whatever the state of the store. */
const REFUSED_VALUE_CODES = new Set(['SQLITE_TOOBIG', 'SQLITE_MISMATCH', 'SQLITE_RANGE']);

/** A plain-words explanation of a SQLite primary result code. */
function explain(code: string, busyTimeoutMs: number): string {
  const primary = code.replace(/^(SQLITE_[A-Z]+).*$/, '$1');
  switch (primary) {
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return `the database stayed locked by another connection for longer than busyTimeoutMs (${busyTimeoutMs} ms)`;
    case 'SQLITE_CORRUPT':
      return 'the database file is corrupt (restore it from a backup; `ascend audit verify` checks the trail)';
    case 'SQLITE_NOTADB':
      return 'the file is not a SQLite database';
    case 'SQLITE_FULL':
      return 'the disk is full';
    case 'SQLITE_CANTOPEN':
      return 'the file cannot be opened (check that the directory exists and is writable)';
    case 'SQLITE_READONLY':
      return 'the database is read-only (check file permissions)';
    case 'SQLITE_PERM':
    case 'SQLITE_AUTH':
      return 'permission denied';
    case 'SQLITE_IOERR':
      return 'an I/O error occurred';
    case 'SQLITE_CONSTRAINT':
      return 'a constraint was violated';
    case 'SQLITE_TOOBIG':
      return 'a value is larger than the database accepts';
    case 'SQLITE_MISMATCH':
    case 'SQLITE_RANGE':
      return 'a value does not fit its column';
    default:
      return 'SQLite reported an error';
  }
}

/**
 * Wrap `err` (thrown while doing `operation` on the database at `path`) in a StoreError.
 * Ascend errors (NotFound, Conflict, …) pass through unchanged.
 */
export function toStoreError(err: unknown, path: string, operation: string, busyTimeoutMs: number): AscendError {
  if (err instanceof AscendError) return err;
  const code = sqliteCode(err) ?? (isCoded(err) ? err.code : undefined);
  if (code !== undefined && REFUSED_VALUE_CODES.has(code)) {
    // The request's data, not the store, is at fault: an answer, never an outage that opens a
    // breaker or lets fail-open allow.
    return refusedValue(operation, `${explain(code, busyTimeoutMs)} [${code}]`);
  }
  const reason = code ? `${explain(code, busyTimeoutMs)} [${code}]` : 'unexpected error';
  const detail = err instanceof Error ? err.message : String(err);
  return new StoreError(`SQLite store ${path}: ${operation} failed: ${reason}: ${detail}`, { cause: err });
}
