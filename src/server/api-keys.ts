/**
 * API keys for `ascend serve`: `ak_<keyId>_<secret>`. The key id is public (logs, lists); the
 * secret is stored only as its sha256 and shown once, when the key is made.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthenticationError } from '../core/errors.js';
import { parseAgentBinding } from './agent-binding.js';
import type { Store } from '../store/store.js';
import type { ApiKeyRecord, ApiKeyRole } from '../core/types.js';

const KEY_PATTERN = /^ak_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A freshly made key: `apiKey` (and `signingSecret`) are shown once and never stored in clear. */
export interface NewApiKey {
  apiKey: string;
  signingSecret?: string;
  record: ApiKeyRecord;
}

/** What a new key is for. */
export interface ApiKeySpec {
  name: string;
  role: ApiKeyRole;
  org: string;
  createdBy: string;
  /** Give the key a request-signing secret. */
  signing?: boolean;
  /** Refuse this key's unsigned requests (implies `signing`). */
  requireSigning?: boolean;
  /**
   * An agent key: the agent ids (globs such as `billing-*`) it may act as. Default: any agent
   * of its organisation. ValidationError for another role, an empty list or a bad glob.
   */
  agentIds?: readonly string[];
  now?: string;
}

/** Make a key (not stored: see {@link Store.createApiKey}). */
export function generateApiKey(spec: ApiKeySpec): NewApiKey {
  const keyId = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const signs = spec.signing === true || spec.requireSigning === true;
  const record: ApiKeyRecord = {
    keyId,
    name: spec.name,
    role: spec.role,
    org: spec.org,
    secretHash: hashSecret(secret),
    requireSigning: spec.requireSigning === true,
    createdAt: spec.now ?? new Date().toISOString(),
    createdBy: spec.createdBy,
  };
  if (spec.agentIds !== undefined) record.agentIds = parseAgentBinding(spec.agentIds, spec.role);
  const key: NewApiKey = { apiKey: `ak_${keyId}_${secret}`, record };
  if (signs) key.signingSecret = record.signingSecret = randomBytes(32).toString('base64url');
  return key;
}

/** The key id of a well-formed key (safe to log), or undefined. */
export function keyIdOf(apiKey: string): string | undefined {
  return KEY_PATTERN.exec(apiKey)?.[1];
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/**
 * Checks `Authorization: Bearer ak_…` against the store. Found keys are cached for `cacheTtlMs`
 * (default 1 s), which bounds how long a revoked key keeps working on a replica.
 */
export class ApiKeyAuthenticator {
  private readonly cache = new Map<string, { key: ApiKeyRecord | undefined; until: number }>();

  constructor(
    private readonly store: Pick<Store, 'getApiKey'>,
    private readonly cacheTtlMs = 1000,
  ) {}

  /** Headers already verified, for `cacheTtlMs`: the same key on every request of an agent
   * should not cost a hash each time. Keyed by the whole header, so only the exact secret hits. */
  private readonly verified = new Map<string, { key: ApiKeyRecord; until: number }>();

  /** The key's record; AuthenticationError when missing, malformed, unknown or revoked. */
  async authenticate(authorization: string | undefined): Promise<ApiKeyRecord> {
    if (!authorization) throw new AuthenticationError('Missing API key: send "Authorization: Bearer ak_…"');
    const hit = this.verified.get(authorization);
    if (hit && hit.until > Date.now()) return hit.key;
    const key = await this.verify(authorization);
    if (this.verified.size > 10_000) this.verified.clear();
    this.verified.set(authorization, { key, until: Date.now() + this.cacheTtlMs });
    return key;
  }

  private async verify(authorization: string): Promise<ApiKeyRecord> {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
    const match = token === undefined ? null : KEY_PATTERN.exec(token);
    if (!match) throw new AuthenticationError('Malformed API key: expected "Authorization: Bearer ak_<id>_<secret>"');
    const keyId = match[1]!;
    const key = await this.lookup(keyId);
    const given = Buffer.from(hashSecret(match[2]!), 'hex');
    if (!key || !timingSafeEqual(given, Buffer.from(key.secretHash, 'hex'))) {
      throw new AuthenticationError('Unknown API key', { keyId });
    }
    if (key.revokedAt) throw new AuthenticationError('This API key was revoked', { keyId });
    return key;
  }

  /** The live record of a key known by id (a dashboard session's key): AuthenticationError once revoked. */
  async byKeyId(keyId: string): Promise<ApiKeyRecord> {
    const key = await this.lookup(keyId);
    if (!key) throw new AuthenticationError('The API key of this session no longer exists', { keyId });
    if (key.revokedAt) throw new AuthenticationError('The API key of this session was revoked', { keyId });
    return key;
  }

  private async lookup(keyId: string): Promise<ApiKeyRecord | undefined> {
    const now = Date.now();
    const hit = this.cache.get(keyId);
    if (hit && hit.until > now) return hit.key;
    const key = await this.store.getApiKey(keyId);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(keyId, { key, until: now + this.cacheTtlMs });
    return key;
  }
}

/** Which roles may call a route. */
export const ROLES = {
  agent: ['agent', 'admin'],
  approver: ['approver', 'admin'],
  reader: ['agent', 'approver', 'admin'],
  admin: ['admin'],
} as const satisfies Record<string, readonly ApiKeyRole[]>;
