/**
 * What an HTTP answer means to the client: every non-success status becomes one of Ascend's
 * error classes, so fail mode and the breaker see the same errors embedded and remote.
 */
import {
  AscendError,
  AuthenticationError,
  AuthorizationError,
  ConflictError,
  ConnectionError,
  NotFoundError,
  ProtocolError,
  RateLimitError,
  ServerError,
  TimeoutError,
  ValidationError,
  type ValidationIssue,
} from '../core/errors.js';
import type { PolicyDecision } from '../core/types.js';
import { withKnownDecision } from '../decision/unreachable.js';

/** Error codes with which a server reports that it cannot decide anything right now. */
const OUTAGE_CODES = new Set(['store_error']);

interface WireError {
  code?: unknown;
  message?: unknown;
  details?: Record<string, unknown>;
}

/** The error for a non-2xx answer. */
export function errorForStatus(status: number, body: unknown, retryAfter: string | null, path: string): AscendError {
  const wire: WireError = (typeof body === 'object' && body !== null && 'error' in body ? (body as { error: WireError }).error : {}) ?? {};
  const message = typeof wire.message === 'string' ? wire.message : `HTTP ${status} from ${path}`;
  const details = typeof wire.details === 'object' && wire.details !== null ? wire.details : {};
  switch (status) {
    case 400:
    case 413:
    case 422:
      return new ValidationError(message, issuesOf(details) ?? [{ path: status === 413 ? 'body' : '(request)', message }]);
    case 401:
      return new AuthenticationError(message, details);
    case 403:
      return new AuthorizationError(message, {});
    case 404:
      return typeof details.kind === 'string' && typeof details.id === 'string' ? new NotFoundError(details.kind, details.id) : new NotFoundError('route', path);
    case 408:
      return new TimeoutError(message, 0);
    case 409:
      return new ConflictError(message, details);
    case 429:
      return new RateLimitError(message, parseRetryAfter(retryAfter));
  }
  if (status >= 500) {
    // An answer in Ascend's shape means the server was reached: only what it reports as an
    // outage of its store is "unreachable". A 5xx in any other shape comes from something in
    // front of it (a proxy, a closing server) and means Ascend itself did not answer.
    const fromAscend = typeof wire.code === 'string';
    if (fromAscend && !OUTAGE_CODES.has(wire.code as string)) {
      return new ServerError(`The decision point failed on this request (HTTP ${status} ${String(wire.code)}): ${message}`, status, { serverCode: wire.code });
    }
    const err = new ConnectionError(`The decision point is unavailable (HTTP ${status}): ${message}`);
    const known = knownDecision(details.knownDecision);
    return known ? withKnownDecision(err, known) : err;
  }
  return new ProtocolError(`Unexpected HTTP ${status} from ${path}: ${message}`, { status });
}

/**
 * `Retry-After` as milliseconds: delta-seconds or an HTTP-date (the original Python SDK crashed on the latter).
 * Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, nowMs: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

function issuesOf(details: Record<string, unknown>): ValidationIssue[] | undefined {
  const issues = details.issues;
  if (!Array.isArray(issues)) return undefined;
  const out = issues.filter((i): i is ValidationIssue => typeof i?.path === 'string' && typeof i?.message === 'string');
  return out.length > 0 ? out : undefined;
}

function knownDecision(value: unknown): PolicyDecision | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const d = value as PolicyDecision;
  return d.decision === 'allowed' || d.decision === 'denied' || d.decision === 'pending' ? d : undefined;
}
