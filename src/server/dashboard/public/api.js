// Talking to the server: JSON in and out, the CSRF header on every change, errors as ApiError.

/** Every audit event type, in the order the filter lists them. */
export const AUDIT_TYPES = [
  'action.evaluated', 'action.completed', 'action.failed',
  'approval.requested', 'approval.approved', 'approval.rejected', 'approval.expired', 'approval.consumed',
  'grant.created', 'grant.revoked',
  'agent.registered', 'agent.blocked', 'agent.unblocked',
  'key.created', 'key.revoked', 'policy.changed',
];

/** A refused or failed call, carrying the server's `{ error: { code, message, details } }`. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let csrfToken = '';
let onUnauthorized = () => {};

export function setCsrfToken(token) {
  csrfToken = token ?? '';
}

/** Called whenever the server answers 401: the session is gone. */
export function onSessionLost(handler) {
  onUnauthorized = handler;
}

/** Encode one path segment (agent and grant ids may hold any character). */
export const seg = encodeURIComponent;

/**
 * Call the API. GET unless `method` says otherwise; other methods always send a JSON body
 * (`{}` when there is none) and the CSRF token. `quiet401` leaves a 401 to the caller.
 */
export async function api(path, { method = 'GET', body, quiet401 = false } = {}) {
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (method !== 'GET') {
    init.headers['content-type'] = 'application/json';
    init.headers['x-ascend-csrf'] = csrfToken;
    init.body = JSON.stringify(body ?? {});
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network_error', 'The server cannot be reached. Check the connection and try again.');
  }
  if (res.status === 204) return null;
  const payload = await res.json().catch(() => null);
  if (res.ok) return payload;
  const error = payload?.error ?? {};
  const message = typeof error.message === 'string' && error.message ? error.message : `The server answered ${res.status}.`;
  if (res.status === 401 && !quiet401) onUnauthorized();
  throw new ApiError(res.status, String(error.code ?? 'http_error'), message, error.details);
}
