/**
 * Who is calling, and may they: the API key (roles, organisation) and, when the key signs or
 * the server insists, the HMAC signature over the exact bytes received — refused when stale or
 * replayed.
 */
import { AuthenticationError, AuthorizationError } from '../errors.js';
import { DEFAULT_MAX_SKEW_MS, verifyRequestSignature } from '../signing.js';
import type { ApiKeyRecord, ApiKeyRole } from '../types.js';
import type { ApiKeyAuthenticator } from './api-keys.js';
import { MemoryNonceStore, type NonceStore } from './nonces.js';

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
  /** Where used nonces are kept (default: this process's memory). */
  nonces?: NonceStore;
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

  /** Whether a key that authenticated earlier is still good (revocation reaches open streams). */
  async keyStillValid(authorization: string | undefined): Promise<boolean> {
    try {
      await this.keys.authenticate(authorization);
      return true;
    } catch {
      return false;
    }
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
    // Kept until its timestamp leaves the window: after that the request is refused as stale anyway.
    if (!(await this.nonces.remember(`${key.keyId}:${check.nonce}`, check.timestampMs + this.maxSkewMs))) {
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
