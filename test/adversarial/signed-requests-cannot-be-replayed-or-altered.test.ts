/**
 * Signed requests cannot be replayed or altered. A real `ascend serve` and a key that must sign
 * (`keys.signer`, requireSigning): its unsigned requests are refused; a signed request is taken
 * once and refused when sent again; a change to anything the signature covers — body bytes, path,
 * query, method, timestamp, nonce, idempotency key — is refused, as are stale and future
 * timestamps, half-signed requests, another key's signature and the dashboard as a way around
 * signing. Refused requests record nothing.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callDigest } from '../../src/core/call-digest.js';
import { generateApiKey } from '../../src/server/api-keys.js';
import { signRequest } from '../../src/core/signing.js';
import { api, disposeServer, sendExactly, startServerProcess, type ServerProcess } from '../server/helpers.js';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServerProcess();
}, 60_000);
afterAll(async () => {
  await disposeServer(server);
});

const secret = (): string => server.keys.signer.signingSecret!;

function evaluateBody(agentId: string, parameters: Record<string, unknown> = { sql: 'select 1' }) {
  return { agentId, actionType: 'db.query', resource: '', parameters, digest: callDigest({ agentId, actionType: 'db.query', resource: '', parameters }) };
}

/** Send exactly this path and these bytes with these headers as the signing key. */
function send(method: string, pathWithQuery: string, body: string | undefined, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return sendExactly(server.url, server.keys.signer.apiKey, { method, pathWithQuery, body, headers });
}

function expectRefused(answer: { status: number; body: any }, because: RegExp, what: string): void {
  expect(answer.status, `${what}: ${JSON.stringify(answer.body)}`).toBe(401);
  expect(answer.body.error.code).toBe('authentication_error');
  expect(answer.body.error.message, what).toMatch(because);
}

/** How many evaluations the audit holds for `agentId` (read with the approver key). */
async function evaluationsOf(agentId: string): Promise<number> {
  const audit = await api(server, 'GET', `/v1/audit?agentId=${agentId}&type=action.evaluated&limit=5000`, server.keys.approver);
  expect(audit.status).toBe(200);
  return audit.body.events.length as number;
}

describe('a key that must sign', () => {
  it('is refused unsigned on every route, and the refused calls record nothing', async () => {
    const agentId = `unsigned-${randomUUID().slice(0, 8)}`;
    const refusals = [
      await api(server, 'POST', '/v1/actions/evaluate', server.keys.signer, evaluateBody(agentId)),
      await api(server, 'POST', '/v1/agents', server.keys.signer, { agentId, agentName: agentId }),
      await api(server, 'GET', '/v1/agents', server.keys.signer),
      await api(server, 'GET', '/v1/approvals', server.keys.signer),
      await api(server, 'GET', `/v1/actions/${randomUUID()}`, server.keys.signer),
    ];
    for (const r of refusals) expectRefused(r, /must be signed/, 'unsigned');
    expect(await evaluationsOf(agentId)).toBe(0);
    expect((await api(server, 'GET', `/v1/agents/${agentId}`, server.keys.approver)).status).toBe(404);
  });

  it('cannot get around signing through a dashboard session', async () => {
    const r = await fetch(`${server.url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: server.keys.signer.apiKey }) });
    expect(r.status).toBe(403);
    expect(r.headers.get('set-cookie')).toBeNull();
  });
});

describe('a signed request', () => {
  it('is taken once; sent again, byte for byte, it is refused and nothing is recorded twice', async () => {
    const agentId = `replayed-${randomUUID().slice(0, 8)}`;
    const body = JSON.stringify(evaluateBody(agentId));
    const headers = signRequest(secret(), { method: 'POST', pathWithQuery: '/v1/actions/evaluate', body });
    const first = await send('POST', '/v1/actions/evaluate', body, headers);
    expect(first.status).toBe(200);
    expect(first.body.decision).toBe('allowed');
    for (let i = 0; i < 3; i++) expectRefused(await send('POST', '/v1/actions/evaluate', body, headers), /Replayed/, `replay ${i}`);
    // A replay with another Authorization spelling is the same request.
    expectRefused(await send('POST', '/v1/actions/evaluate', body, { ...headers, authorization: `bearer ${server.keys.signer.apiKey}` }), /Replayed/, 'replay, bearer');
    expect(await evaluationsOf(agentId)).toBe(1);

    // Bodiless requests too.
    const get = signRequest(secret(), { method: 'GET', pathWithQuery: '/v1/agents' });
    expect((await send('GET', '/v1/agents', undefined, get)).status).toBe(200);
    expectRefused(await send('GET', '/v1/agents', undefined, get), /Replayed/, 'GET replay');
  });

  it('is refused after any change to what it signed: body, path, query, method, timestamp, nonce, idempotency key', async () => {
    const agentId = `altered-${randomUUID().slice(0, 8)}`;
    const body = JSON.stringify(evaluateBody(agentId));
    const idempotencyKey = `key-${randomUUID()}`;
    const signed = (request: { method: string; pathWithQuery: string; body?: string; idempotencyKey?: string }) => signRequest(secret(), request);

    type Attempt = { what: string; method: string; path: string; body?: string; headers: Record<string, string> };
    const attempts: Attempt[] = [];
    const evaluate = { method: 'POST', pathWithQuery: '/v1/actions/evaluate', body, idempotencyKey };
    const withKey = (h: Record<string, string>, key = idempotencyKey) => ({ ...h, 'idempotency-key': key });

    attempts.push({ what: 'one byte of the body', method: 'POST', path: '/v1/actions/evaluate', body: body.replace('select 1', 'select 2'), headers: withKey(signed(evaluate)) });
    attempts.push({ what: 'the same JSON, other bytes', method: 'POST', path: '/v1/actions/evaluate', body: JSON.stringify(JSON.parse(body), null, 1), headers: withKey(signed(evaluate)) });
    attempts.push({ what: 'a body added', method: 'POST', path: '/v1/actions/evaluate', body, headers: withKey(signed({ ...evaluate, body: '' })) });
    attempts.push({ what: 'another path', method: 'POST', path: '/v1/agents', body: JSON.stringify({ agentId, agentName: agentId }), headers: withKey(signed({ ...evaluate, body: JSON.stringify({ agentId, agentName: agentId }) })) });
    attempts.push({ what: 'a query added', method: 'POST', path: '/v1/actions/evaluate?dryRun=true', body, headers: withKey(signed(evaluate)) });
    attempts.push({ what: 'an empty query added', method: 'POST', path: '/v1/actions/evaluate?', body, headers: withKey(signed(evaluate)) });
    attempts.push({ what: 'a query changed', method: 'GET', path: '/v1/approvals?status=approved', headers: signed({ method: 'GET', pathWithQuery: '/v1/approvals?status=pending' }) });
    attempts.push({ what: 'a query removed', method: 'GET', path: '/v1/approvals', headers: signed({ method: 'GET', pathWithQuery: '/v1/approvals?status=pending' }) });
    attempts.push({ what: 'GET sent as POST', method: 'POST', path: '/v1/agents', headers: signed({ method: 'GET', pathWithQuery: '/v1/agents' }) });
    attempts.push({ what: 'GET sent as HEAD', method: 'HEAD', path: '/v1/agents', headers: signed({ method: 'GET', pathWithQuery: '/v1/agents' }) });
    const ts = signed(evaluate);
    attempts.push({ what: 'the timestamp moved a second', method: 'POST', path: '/v1/actions/evaluate', body, headers: withKey({ ...ts, 'x-ascend-timestamp': String(Number(ts['x-ascend-timestamp']) + 1) }) });
    const nonce = signed(evaluate);
    attempts.push({ what: 'another nonce', method: 'POST', path: '/v1/actions/evaluate', body, headers: withKey({ ...nonce, 'x-ascend-nonce': randomUUID().replaceAll('-', '') }) });
    attempts.push({ what: 'another idempotency key', method: 'POST', path: '/v1/actions/evaluate', body, headers: withKey(signed(evaluate), `key-${randomUUID()}`) });
    attempts.push({ what: 'the idempotency key removed', method: 'POST', path: '/v1/actions/evaluate', body, headers: signed(evaluate) });
    attempts.push({ what: 'an idempotency key added', method: 'POST', path: '/v1/actions/evaluate', body, headers: withKey(signed({ ...evaluate, idempotencyKey: '' })) });
    attempts.push({ what: 'a signature of another request', method: 'POST', path: '/v1/actions/evaluate', body, headers: withKey({ ...signed(evaluate), 'x-ascend-signature': signed({ method: 'GET', pathWithQuery: '/v1/agents' })['x-ascend-signature']! }) });
    attempts.push({ what: 'signed with another secret', method: 'POST', path: '/v1/actions/evaluate', body, headers: withKey(signRequest('s'.repeat(43), evaluate)) });

    for (const a of attempts) {
      const r = await send(a.method, a.path, a.body, a.headers);
      if (a.method === 'HEAD') {
        expect(r.status, a.what).toBe(401); // no body in an answer to HEAD
        continue;
      }
      expectRefused(r, /does not match/, a.what);
    }
    expect(await evaluationsOf(agentId)).toBe(0);
    expect((await api(server, 'GET', `/v1/agents/${agentId}`, server.keys.approver)).status).toBe(404);

    // The unaltered request, freshly signed, is taken: the refusals were the alterations'.
    const honest = await send('POST', '/v1/actions/evaluate', body, withKey(signed(evaluate)));
    expect(honest.status).toBe(200);
    expect(honest.body.actionId).toBe(idempotencyKey);
    expect(await evaluationsOf(agentId)).toBe(1);
  });

  it('is refused with a stale, future or malformed timestamp, and when half signed', async () => {
    const path = '/v1/agents';
    const at = (offsetMs: number) => signRequest(secret(), { method: 'GET', pathWithQuery: path }, Date.now() + offsetMs);
    expectRefused(await send('GET', path, undefined, at(-10 * 60_000)), /away from the server's clock/, '10 min old');
    expectRefused(await send('GET', path, undefined, at(10 * 60_000)), /away from the server's clock/, '10 min ahead');
    expectRefused(await send('GET', path, undefined, at(-(5 * 60_000 + 60_000))), /away from the server's clock/, 'just over 5 min old');
    expectRefused(await send('GET', path, undefined, at(-24 * 3600_000)), /away from the server's clock/, 'a day old');

    const good = signRequest(secret(), { method: 'GET', pathWithQuery: path });
    const ms = String(Date.now()); // milliseconds where seconds are meant
    expectRefused(await send('GET', path, undefined, { ...good, 'x-ascend-timestamp': ms }), /unix seconds|away from the server's clock/, 'milliseconds');
    expectRefused(await send('GET', path, undefined, { ...good, 'x-ascend-timestamp': `${good['x-ascend-timestamp']}.0` }), /unix seconds/, 'decimal');
    expectRefused(await send('GET', path, undefined, { ...good, 'x-ascend-timestamp': '-1' }), /unix seconds/, 'negative');
    expectRefused(await send('GET', path, undefined, { ...good, 'x-ascend-nonce': 'zz' }), /nonce/, 'bad nonce');
    expectRefused(await send('GET', path, undefined, { ...good, 'x-ascend-signature': good['x-ascend-signature']!.replace('v1=', 'v2=') }), /v1=/, 'unknown version');

    for (const drop of ['x-ascend-timestamp', 'x-ascend-nonce'] as const) {
      const half = signRequest(secret(), { method: 'GET', pathWithQuery: path });
      delete half[drop];
      expectRefused(await send('GET', path, undefined, half), /needs/, `without ${drop}`);
    }
    // Only the signature header dropped: then the request is unsigned, which this key may not send.
    const unsigned = signRequest(secret(), { method: 'GET', pathWithQuery: path });
    delete unsigned['x-ascend-signature'];
    expectRefused(await send('GET', path, undefined, unsigned), /must be signed/, 'without the signature');
  });

  it("made with the signer's secret is refused under another key, and another key's secret does not sign for the signer", async () => {
    const path = '/v1/agents';
    // The signer's valid signature presented with a key that has no signing secret.
    const headers = signRequest(secret(), { method: 'GET', pathWithQuery: path });
    const r = await api(server, 'GET', path, server.keys.agent, undefined, headers);
    expectRefused(r, /no signing secret/, 'signature under another key');
    // A key of its own with a secret: its signature is not the signer's.
    const stranger = generateApiKey({ name: 'stranger', role: 'agent', org: 'default', createdBy: 'test', signing: true });
    const forged = signRequest(stranger.signingSecret!, { method: 'GET', pathWithQuery: path });
    expectRefused(await send('GET', path, undefined, forged), /does not match/, "another key's secret");
  });
});
