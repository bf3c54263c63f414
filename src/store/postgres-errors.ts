/**
 * Turning PostgreSQL and connection failures into {@link StoreError}s that say which database,
 * what we were doing and what went wrong, keeping the original error as `cause` (so a client's
 * fail mode applies). Ascend errors (NotFound, Conflict, …) pass through unchanged.
 */
import { AscendError, StoreError } from '../core/errors.js';
import { refusedValue } from './records.js';

/** pg's `DatabaseError` and Node's system errors both carry a string `code`. */
interface CodedError extends Error {
  code: string;
  constraint?: string;
}

function isCoded(err: unknown): err is CodedError {
  return err instanceof Error && typeof (err as Partial<CodedError>).code === 'string';
}

/** True when `err` is a unique violation, of `constraint` when given. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  return isCoded(err) && err.code === '23505' && (constraint === undefined || err.constraint === constraint);
}

/** True when `err` is a foreign-key violation of `constraint`. */
export function isForeignKeyViolation(err: unknown, constraint: string): boolean {
  return isCoded(err) && err.code === '23503' && err.constraint === constraint;
}

/** A plain-words explanation of a SQLSTATE or Node error code. */
function explain(code: string, lockTimeoutMs: number): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'the server refused the connection (is PostgreSQL running and listening there?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve';
    case 'ETIMEDOUT':
    case 'ECONNRESET':
    case 'EPIPE':
      return 'the connection to the server was lost';
    case '55P03':
      return `another writer held the audit-chain lock for longer than lockTimeoutMs (${lockTimeoutMs} ms)`;
    case '3D000':
      return 'the database does not exist';
    case '53100':
      return 'the disk is full';
    case '57014':
      return 'the statement was cancelled (statement timeout)';
    case '42501':
      return 'permission denied';
    default:
      break;
  }
  switch (code.slice(0, 2)) {
    case '08':
    case '57':
      return 'the connection to the server failed';
    case '28':
      return 'authentication failed';
    case '53':
      return 'the server is out of resources';
    case '23':
      return 'a constraint was violated';
    case '40':
      return 'the transaction was rolled back by the server';
    case 'XX':
      return 'the server reported an internal error (possibly data corruption)';
    default:
      return 'PostgreSQL reported an error';
  }
}

/**
 * Wrap `err` (thrown while doing `operation` on the store labelled `label`) in a StoreError.
 * Ascend errors pass through unchanged.
 */
export function toPgStoreError(err: unknown, label: string, operation: string, lockTimeoutMs: number): AscendError {
  if (err instanceof AscendError) return err;
  const code = isCoded(err) ? err.code : undefined;
  // Data exceptions (22: a NUL character, a bad encoding, a value out of range) and program
  // limits (54: a value too large to index) are the request's fault: an answer, never an outage
  // that would open a client's breaker or let its fail-open mode allow.
  if (code !== undefined && /^(22|54)[0-9A-Z]{3}$/.test(code)) {
    return refusedValue(`${label}: ${operation}`, `${code.startsWith('22') ? 'PostgreSQL refused the data' : 'a value exceeds a PostgreSQL limit'} [${code}]: ${err instanceof Error ? err.message : String(err)}`);
  }
  let reason: string;
  if (code !== undefined) reason = `${explain(code, lockTimeoutMs)} [${code}]`;
  else if (err instanceof Error && /timeout exceeded when trying to connect/i.test(err.message)) {
    reason = 'no connection could be made in time (server unreachable, or every pooled connection busy)';
  } else if (err instanceof Error && /Connection terminated/i.test(err.message)) {
    reason = 'the connection to the server was lost';
  } else reason = 'unexpected error';
  // An AggregateError (every address of the host refused) has an empty message; its parts say more.
  const parts = err instanceof AggregateError ? err.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join('; ') : '';
  const detail = (err instanceof Error && err.message) || parts || String(err);
  return new StoreError(`${label}: ${operation} failed: ${reason}: ${detail}`, { cause: err });
}
