/**
 * Dashboard sessions: a person signs in once (with an approver or admin API key, or with the
 * one-time link `ascend ui` prints) and the browser holds a signed, HttpOnly, SameSite=Strict
 * cookie. Nothing is kept on the server, so every replica of a cluster that shares the session
 * secret accepts it; the key behind a session is re-read (cached ~1 s) on each request, so a
 * revoked key ends its sessions. Mutations also need the session's CSRF token in a header. A
 * signed-out session is remembered (with the nonces of signed requests, so in the server's
 * database, shared by a cluster) until it would have expired.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthenticationError, AuthorizationError, ValidationError } from '../../core/errors.js';
import type { ApiKeyRecord, ApiKeyRole } from '../../core/types.js';

/** The cookie's name. */
export const SESSION_COOKIE = 'ascend_session';
/** The header a mutation carries its CSRF token in. */
export const CSRF_HEADER = 'x-ascend-csrf';

/** Shortest session secret accepted: a cookie must not be brute-forceable offline. */
export const MIN_SECRET_BYTES = 32;

/** Who a session belongs to. */
export interface SessionPrincipal {
  /** The API key signed in with; absent for a local sign-in through `ascend ui`. */
  keyId?: string;
  name: string;
  role: ApiKeyRole;
  org: string;
}

/** A verified session. */
export interface Session extends SessionPrincipal {
  sessionId: string;
  expiresAtMs: number;
}

/** Options of {@link SessionCodec}. */
export interface SessionOptions {
  /** Signs cookies. Replicas that share it share sessions; default: random (sessions end with the process). */
  secret?: string;
  /** How long a session lasts. Default 8 hours. */
  ttlMs?: number;
}

interface Payload {
  v: 1;
  sid: string;
  kid?: string;
  name: string;
  role: ApiKeyRole;
  org: string;
  exp: number;
}

/** Makes and checks session cookies and their CSRF tokens. */
export class SessionCodec {
  private readonly key: Buffer;
  readonly ttlMs: number;

  constructor(options: SessionOptions = {}) {
    if (options.secret !== undefined && Buffer.byteLength(options.secret) < MIN_SECRET_BYTES) {
      throw new ValidationError(`The session secret must be at least ${MIN_SECRET_BYTES} bytes (e.g. \`openssl rand -base64 32\`)`, [
        { path: 'ASCEND_SESSION_SECRET', message: `shorter than ${MIN_SECRET_BYTES} bytes` },
      ]);
    }
    this.key = options.secret ? Buffer.from(options.secret, 'utf8') : randomBytes(32);
    this.ttlMs = options.ttlMs ?? 8 * 60 * 60 * 1000;
  }

  /** A new session's cookie value. */
  issue(principal: SessionPrincipal, nowMs = Date.now()): { value: string; session: Session } {
    const payload: Payload = { v: 1, sid: randomBytes(16).toString('base64url'), name: principal.name, role: principal.role, org: principal.org, exp: nowMs + this.ttlMs };
    if (principal.keyId !== undefined) payload.kid = principal.keyId;
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return { value: `${body}.${this.mac(`session\n${body}`)}`, session: sessionOf(payload) };
  }

  /** The session a cookie value stands for, or AuthenticationError. */
  verify(value: string, nowMs = Date.now()): Session {
    const dot = value.indexOf('.');
    if (dot <= 0 || !safeEqual(value.slice(dot + 1), this.mac(`session\n${value.slice(0, dot)}`))) {
      throw new AuthenticationError('Not signed in: the session cookie is not valid');
    }
    let payload: Payload;
    try {
      payload = JSON.parse(Buffer.from(value.slice(0, dot), 'base64url').toString('utf8')) as Payload;
    } catch {
      throw new AuthenticationError('Not signed in: the session cookie is not valid');
    }
    if (payload.v !== 1 || typeof payload.exp !== 'number' || payload.exp <= nowMs) throw new AuthenticationError('The session has expired: sign in again');
    return sessionOf(payload);
  }

  /** The CSRF token of a session (derived, so it needs no storage). */
  csrfToken(session: Session): string {
    return this.mac(`csrf\n${session.sessionId}`);
  }

  /** AuthorizationError unless `given` is the session's CSRF token. */
  checkCsrf(session: Session, given: string | undefined): void {
    if (!given || !safeEqual(given, this.csrfToken(session))) {
      throw new AuthorizationError(`Missing or wrong CSRF token: dashboard changes must carry the session's token in ${CSRF_HEADER}`, {});
    }
  }

  private mac(text: string): string {
    return createHmac('sha256', this.key).update(text).digest('base64url');
  }
}

function sessionOf(p: Payload): Session {
  const session: Session = { sessionId: p.sid, name: p.name, role: p.role, org: p.org, expiresAtMs: p.exp };
  if (p.kid !== undefined) session.keyId = p.kid;
  return session;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A cookie's value from a `Cookie` header. */
export function readCookie(header: string | string[] | undefined, name: string): string | undefined {
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (!text) return undefined;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The `Set-Cookie` value for a session (or, with `value` empty, one that clears it). */
export function sessionCookie(value: string, maxAgeMs: number, secure: boolean): string {
  const parts = [`${SESSION_COOKIE}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${Math.max(0, Math.floor(maxAgeMs / 1000))}`];
  if (secure) parts.push('Secure');
  return parts.join('; ');
}

/** The API-key-shaped record of a local (`ascend ui`) session: handlers record `key.name` as who acted. */
export function localKeyRecord(session: Session): ApiKeyRecord {
  return { keyId: 'local', name: session.name, role: session.role, org: session.org, secretHash: '', requireSigning: false, createdAt: new Date(0).toISOString(), createdBy: 'ascend ui' };
}
