/**
 * Dashboard sessions as a unit: cookie signing, expiry, CSRF tokens, the secret's minimum length,
 * sessions without a key (only where local sign-in is on), keys that must sign, Origin checks
 * behind a proxy, and sign-out remembered in the nonce store.
 */
import { describe, expect, it } from 'vitest';
import { AuthenticationError, AuthorizationError, ValidationError } from '../../src/core/errors.js';
import { ApiKeyAuthenticator, generateApiKey } from '../../src/server/api-keys.js';
import { RequestAuthenticator } from '../../src/server/auth.js';
import { MemoryNonceStore } from '../../src/server/nonces.js';
import { SESSION_COOKIE, SessionCodec, readCookie, sessionCookie } from '../../src/server/dashboard/sessions.js';
import type { ApiKeyRecord } from '../../src/core/types.js';

const SECRET = 's'.repeat(32);

function authenticator(options: { localSessions?: boolean; requireSigning?: boolean; publicOrigin?: string; keys?: ApiKeyRecord[] } = {}) {
  const keys = new Map((options.keys ?? []).map((k) => [k.keyId, k]));
  const sessions = new SessionCodec({ secret: SECRET });
  const nonces = new MemoryNonceStore();
  const auth = new RequestAuthenticator(new ApiKeyAuthenticator({ getApiKey: async (id: string) => keys.get(id) }, 0), {
    requireSigning: options.requireSigning ?? false,
    sessions,
    nonces,
    localSessions: options.localSessions ?? false,
    ...(options.publicOrigin ? { publicOrigin: () => options.publicOrigin } : {}),
  });
  const request = (value: string, method = 'GET', headers: Record<string, string> = {}) =>
    auth.authenticate({ method, url: '/v1/approvals', headers: { cookie: `${SESSION_COOKIE}=${value}`, host: '127.0.0.1:8080', ...headers }, rawBody: undefined });
  return { auth, sessions, request };
}

describe('SessionCodec', () => {
  it('verifies its own cookies and refuses altered, foreign and expired ones', () => {
    const codec = new SessionCodec({ secret: SECRET, ttlMs: 1000 });
    const { value, session } = codec.issue({ keyId: 'k1', name: 'alice', role: 'approver', org: 'default' }, 10_000);
    expect(codec.verify(value, 10_500)).toEqual(session);
    expect(() => codec.verify(value, 11_000)).toThrow(AuthenticationError);
    const [body, mac] = value.split('.') as [string, string];
    const forged = Buffer.from(Buffer.from(body, 'base64url').toString().replace('approver', 'admin')).toString('base64url');
    expect(() => codec.verify(`${forged}.${mac}`, 10_500)).toThrow(AuthenticationError);
    expect(() => new SessionCodec({ secret: 't'.repeat(32) }).verify(value, 10_500)).toThrow(AuthenticationError);
    expect(() => codec.verify('garbage', 10_500)).toThrow(AuthenticationError);
  });

  it('derives one CSRF token per session and checks it in constant shape', () => {
    const codec = new SessionCodec({ secret: SECRET });
    const a = codec.issue({ name: 'a', role: 'admin', org: 'default' }).session;
    const b = codec.issue({ name: 'a', role: 'admin', org: 'default' }).session;
    expect(codec.csrfToken(a)).not.toBe(codec.csrfToken(b));
    expect(() => codec.checkCsrf(a, codec.csrfToken(a))).not.toThrow();
    expect(() => codec.checkCsrf(a, codec.csrfToken(b))).toThrow(AuthorizationError);
    expect(() => codec.checkCsrf(a, undefined)).toThrow(AuthorizationError);
  });

  it('refuses a session secret shorter than 32 bytes', () => {
    expect(() => new SessionCodec({ secret: 'short-secret' })).toThrow(ValidationError);
  });

  it('reads and writes the cookie with its flags', () => {
    expect(readCookie('a=1; ascend_session=v.m; b=2', SESSION_COOKIE)).toBe('v.m');
    expect(readCookie(undefined, SESSION_COOKIE)).toBeUndefined();
    expect(sessionCookie('v', 60_000, true)).toBe('ascend_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure');
  });
});

describe('session callers', () => {
  it('a session without a key works only where local sign-in is on', async () => {
    for (const localSessions of [false, true]) {
      const { sessions, request } = authenticator({ localSessions });
      const { value } = sessions.issue({ name: 'dana@laptop', role: 'admin', org: 'default' });
      if (localSessions) await expect(request(value)).resolves.toMatchObject({ org: 'default', key: { name: 'dana@laptop' } });
      else await expect(request(value)).rejects.toThrow(AuthenticationError);
    }
  });

  it('a key that must sign cannot use a session, nor can any key on a server that requires signing', async () => {
    const signer = generateApiKey({ name: 'carol', role: 'approver', org: 'default', createdBy: 't', requireSigning: true }).record;
    const plain = generateApiKey({ name: 'alice', role: 'approver', org: 'default', createdBy: 't' }).record;
    const local = authenticator({ keys: [signer, plain] });
    await expect(local.request(local.sessions.issue({ keyId: signer.keyId, name: 'carol', role: 'approver', org: 'default' }).value)).rejects.toThrow(AuthorizationError);
    await expect(local.request(local.sessions.issue({ keyId: plain.keyId, name: 'alice', role: 'approver', org: 'default' }).value)).resolves.toMatchObject({ key: { name: 'alice' } });
    const strict = authenticator({ keys: [plain], requireSigning: true });
    await expect(strict.request(strict.sessions.issue({ keyId: plain.keyId, name: 'alice', role: 'approver', org: 'default' }).value)).rejects.toThrow(AuthorizationError);
  });

  it('a change from another origin is refused; behind a proxy the public origin counts', async () => {
    const { sessions, request } = authenticator({ localSessions: true, publicOrigin: 'https://ascend.example.com' });
    const { value, session } = sessions.issue({ name: 'dana', role: 'admin', org: 'default' });
    const csrf = sessions.csrfToken(session);
    await expect(request(value, 'POST', { 'x-ascend-csrf': csrf, origin: 'http://127.0.0.1:8080' })).resolves.toBeDefined();
    await expect(request(value, 'POST', { 'x-ascend-csrf': csrf, origin: 'https://ascend.example.com' })).resolves.toBeDefined();
    await expect(request(value, 'POST', { 'x-ascend-csrf': csrf, origin: 'https://evil.example' })).rejects.toThrow(AuthorizationError);
    await expect(request(value, 'POST', { 'x-ascend-csrf': csrf, origin: 'null' })).rejects.toThrow(AuthorizationError);
  });

  it('a signed-out session is refused until it would have expired', async () => {
    const { auth, sessions, request } = authenticator({ localSessions: true });
    const { value, session } = sessions.issue({ name: 'dana', role: 'admin', org: 'default' });
    await expect(request(value)).resolves.toBeDefined();
    await auth.endSession(session);
    await expect(request(value)).rejects.toThrow(/signed out/);
  });
});
