/**
 * Who is calling, and may they: the API key (roles, organisation) and, when the key signs or
 * the server insists, the HMAC signature over the exact bytes received — refused when stale or
 * replayed.
 */
import { AuthenticationError, AuthorizationError } from '../errors.js';
import { DEFAULT_MAX_SKEW_MS, verifyRequestSignature } from '../signing.js';
import type { ApiKeyRecord, ApiKeyRole } from '../types.js';
import type { ApiKeyAuthenticator } from './api-keys.js';

/** What a handler knows about its caller. */
export interface Caller {
  key: ApiKeyRecord;
  org: string;
  /** Whether the request carried a valid signature. */
  signed: boolean;
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
}

/**
 * Remembers the nonces of signed requests for the skew window (both directions), so a captured
 * request cannot be sent again. Per process: in a cluster a replay to another replica inside the
 * window is caught only by the idempotency of the routes that change state.
 */
class NonceCache {
  private readonly seen = new Map<string, number>();
  constructor(private readonly windowMs: number) {}

  /** False when the nonce was already used. */
  remember(nonce: string, nowMs: number): boolean {
    if (this.seen.has(nonce)) return false;
    if (this.seen.size >= 100_000) this.evict(nowMs);
    this.seen.set(nonce, nowMs + 2 * this.windowMs);
    return true;
  }

  private evict(nowMs: number): void {
    for (const [nonce, until] of this.seen) if (until < nowMs) this.seen.delete(nonce);
    // Still full of live nonces: refuse nothing wrongly, drop the oldest half.
    if (this.seen.size >= 100_000) {
      let drop = this.seen.size / 2;
      for (const nonce of this.seen.keys()) {
        if (drop-- <= 0) break;
        this.seen.delete(nonce);
      }
    }
  }
}

/** Authenticates requests and checks roles. */
export class RequestAuthenticator {
  private readonly nonces: NonceCache;
  private readonly maxSkewMs: number;

  constructor(
    private readonly keys: ApiKeyAuthenticator,
    private readonly options: RequestAuthOptions,
  ) {
    this.maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
    this.nonces = new NonceCache(this.maxSkewMs);
  }

  /** The caller, or AuthenticationError (bad key, bad or missing signature). */
  async authenticate(request: AuthRequest): Promise<Caller> {
    const authorization = request.headers.authorization;
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
    if (!this.nonces.remember(`${key.keyId}:${check.nonce}`, nowMs)) {
      throw new AuthenticationError('Replayed request: this signature was already used', { keyId: key.keyId });
    }
    return { key, org: key.org, signed: true };
  }
}

/** AuthorizationError unless the caller's role is one of `roles`. */
export function requireRole(caller: Caller, roles: readonly ApiKeyRole[], what: string): void {
  if (!roles.includes(caller.key.role)) {
    throw new AuthorizationError(`An ${caller.key.role} key may not ${what} (needs ${roles.join(' or ')})`, {});
  }
}
