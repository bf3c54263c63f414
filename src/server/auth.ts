/**
 * Who is calling, and may they: the API key (roles, organisation) and, when the key signs or
 * the server insists, the HMAC signature over the exact bytes received — refused when stale or
 * replayed.
 */
import { AuthenticationError, AuthorizationError } from '../core/errors.js';
import { DEFAULT_MAX_SKEW_MS, verifyRequestSignature } from '../core/signing.js';
import type { ApiKeyRecord, ApiKeyRole } from '../core/types.js';
import type { ApiKeyAuthenticator } from './api-keys.js';
import { MemoryNonceStore, type NonceStore } from './nonces.js';
import { CSRF_HEADER, SESSION_COOKIE, localKeyRecord, readCookie, type Session, type SessionCodec } from './dashboard/sessions.js';

/** What a handler knows about its caller. */
export interface Caller {
  key: ApiKeyRecord;
  org: string;
  /** Whether the request carried a valid signature. */
  signed: boolean;
  /** Set when the caller is a person signed in to the dashboard (cookie), not a program with a key. */
  session?: Session;
}

/** The parts of a request authentication reads. */
export interface AuthRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawBody: Buffer | undefined;
}

/** Options of {@link RequestAuthenticator}. */
export interface RequestAuthOptions {
  /** Refuse unsigned requests from every key (keys may also require it one by one). */
  requireSigning: boolean;
  maxSkewMs?: number;
  /** Where used nonces are kept (default: this process's memory). */
  nonces?: NonceStore;
  /** Dashboard sessions: a request without `Authorization` may authenticate with the session cookie. */
  sessions?: SessionCodec;
  /** Accept sessions with no API key behind them (`ascend ui`'s local sign-in). Default false. */
  localSessions?: boolean;
  /** The origin people reach the server at (behind a proxy the Host header may differ). */
  publicOrigin?: () => string | undefined;
}

/** Authenticates requests and checks roles. */
export class RequestAuthenticator {
  private readonly nonces: NonceStore;
  private readonly maxSkewMs: number;

  constructor(
    private readonly keys: ApiKeyAuthenticator,
    private readonly options: RequestAuthOptions,
  ) {
    this.maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
    this.nonces = options.nonces ?? new MemoryNonceStore();
  }

  /** Whether the credentials of a request that authenticated earlier are still good (revocation reaches open streams). */
  async stillValid(headers: AuthRequest['headers']): Promise<boolean> {
    try {
      const authorization = headers.authorization;
      if (authorization === undefined && this.options.sessions) await this.fromSession({ method: 'GET', url: '', headers, rawBody: undefined });
      else await this.keys.authenticate(Array.isArray(authorization) ? authorization[0] : authorization);
      return true;
    } catch {
      return false;
    }
  }

  /** The caller, or AuthenticationError (bad key, bad or missing signature, bad session). */
  async authenticate(request: AuthRequest): Promise<Caller> {
    const authorization = request.headers.authorization;
    if (authorization === undefined && this.options.sessions && request.headers.cookie !== undefined) return this.fromSession(request);
    const key = await this.keys.authenticate(Array.isArray(authorization) ? authorization[0] : authorization);
    const hasSignature = request.headers['x-ascend-signature'] !== undefined;
    const mustSign = this.options.requireSigning || key.requireSigning;
    if (!hasSignature) {
      if (mustSign) throw new AuthenticationError('This request must be signed (X-Ascend-Timestamp, X-Ascend-Nonce, X-Ascend-Signature)', { keyId: key.keyId });
      return { key, org: key.org, signed: false };
    }
    if (!key.signingSecret) throw new AuthenticationError('The request is signed, but this API key has no signing secret', { keyId: key.keyId });
    const nowMs = Date.now();
    const check = verifyRequestSignature(
      key.signingSecret,
      { method: request.method, pathWithQuery: request.url, headers: request.headers, ...(request.rawBody ? { body: request.rawBody } : {}) },
      { nowMs, maxSkewMs: this.maxSkewMs },
    );
    if (!check.ok) throw new AuthenticationError(`Bad request signature: ${check.reason}`, { keyId: key.keyId });
    // Kept until its timestamp leaves the window: after that the request is refused as stale anyway.
    if (!(await this.nonces.remember(`${key.keyId}:${check.nonce}`, check.timestampMs + this.maxSkewMs))) {
      throw new AuthenticationError('Replayed request: this signature was already used', { keyId: key.keyId });
    }
    return { key, org: key.org, signed: true };
  }

  /** A dashboard session's caller: a valid cookie, a key still good, and for a change the CSRF token from a same-origin page. */
  private async fromSession(request: AuthRequest): Promise<Caller> {
    const sessions = this.options.sessions!;
    const cookie = readCookie(request.headers.cookie, SESSION_COOKIE);
    if (!cookie) throw new AuthenticationError('Missing API key or session: send "Authorization: Bearer ak_…" or sign in to the dashboard');
    const session = sessions.verify(cookie);
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      this.checkOrigin(request.headers);
      sessions.checkCsrf(session, header(request.headers[CSRF_HEADER]));
    }
    if (await this.nonces.isRemembered(endedSessionKey(session))) throw new AuthenticationError('The session was signed out: sign in again');
    if (session.keyId === undefined) {
      if (!this.options.localSessions) throw new AuthenticationError('Not signed in: this server takes sign-ins with API keys only');
      return { key: localKeyRecord(session), org: session.org, signed: false, session };
    }
    const key = await this.keys.byKeyId(session.keyId);
    this.refuseSessionIfSigningRequired(key);
    return { key, org: session.org, signed: false, session };
  }

  /**
   * A key whose requests must be signed cannot open or use a dashboard session: the session
   * would let the key string alone do what signing is there to prevent.
   */
  refuseSessionIfSigningRequired(key: ApiKeyRecord): void {
    if (this.options.requireSigning || key.requireSigning) {
      throw new AuthorizationError('This key must sign its requests, so it cannot sign in to the dashboard: use an approver key that does not require signing', {});
    }
  }

  /** AuthorizationError when a browser says the request comes from another site. */
  checkOrigin(headers: AuthRequest['headers']): void {
    const origin = header(headers.origin);
    if (origin === undefined) return;
    if (originHost(origin) === header(headers.host)) return;
    const publicOrigin = this.options.publicOrigin?.();
    if (publicOrigin !== undefined && originOf(publicOrigin) === origin) return;
    throw new AuthorizationError('Cross-origin request refused: the Origin is not this server', {});
  }

  /** Sign a session out on every replica sharing this server's nonce store, until it would have expired. */
  async endSession(session: Session): Promise<void> {
    await this.nonces.remember(endedSessionKey(session), session.expiresAtMs);
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function endedSessionKey(session: Session): string {
  return `session-end:${session.sessionId}`;
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

/** AuthorizationError unless the caller's role is one of `roles`. */
export function requireRole(caller: Caller, roles: readonly ApiKeyRole[], what: string): void {
  if (!roles.includes(caller.key.role)) {
    throw new AuthorizationError(`An ${caller.key.role} key may not ${what} (needs ${roles.join(' or ')})`, {});
  }
}
