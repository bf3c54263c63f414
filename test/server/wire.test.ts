/**
 * Bad input on every route of a real server: thousands of malformed, oversized and wrong-typed
 * requests get a 4xx that names the field at fault, never a 5xx, and the server stays up. Also:
 * the OpenAPI document, health and readiness, and a graceful shutdown that drains.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, disposeServer, startServerProcess, type ServerProcess } from './helpers.js';
import { prng } from '../helpers.js';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServerProcess({ args: ['--body-limit', '65536'] });
});
afterAll(async () => {
  await disposeServer(server);
});

const ROUTES: Array<{ method: string; path: string; key: 'agent' | 'approver' | 'admin'; valid: Record<string, unknown> }> = [
  { method: 'POST', path: '/v1/agents', key: 'agent', valid: { agentId: 'a', agentName: 'A', capabilities: ['db.*'] } },
  { method: 'POST', path: '/v1/actions/evaluate', key: 'agent', valid: { agentId: 'a', actionType: 'db.query', parameters: { sql: 'select 1' }, digest: 'a'.repeat(64) } },
  { method: 'POST', path: '/v1/actions/x/complete', key: 'agent', valid: { durationMs: 1 } },
  { method: 'POST', path: '/v1/actions/x/fail', key: 'agent', valid: { error: 'e', durationMs: 1 } },
  { method: 'POST', path: '/v1/actions/upload', key: 'agent', valid: { kind: 'outcome', outcome: { actionId: 'x', status: 'completed', durationMs: 1, recordedAt: '2026-01-01T00:00:00.000Z' } } },
  { method: 'POST', path: '/v1/approvals/x/approve', key: 'approver', valid: { comment: 'ok' } },
  { method: 'POST', path: '/v1/approvals/x/reject', key: 'approver', valid: { comment: 'no' } },
  { method: 'POST', path: '/v1/approvals/x/consume', key: 'agent', valid: { digest: 'a'.repeat(64) } },
  { method: 'POST', path: '/v1/agents/x/block', key: 'admin', valid: { reason: 'r' } },
  { method: 'GET', path: '/v1/approvals', key: 'approver', valid: {} },
  { method: 'GET', path: '/v1/audit', key: 'approver', valid: {} },
  { method: 'GET', path: '/v1/grants', key: 'approver', valid: {} },
];

function junk(rand: () => number, depth = 0): unknown {
  const pick = Math.floor(rand() * 9);
  switch (pick) {
    case 0: return null;
    case 1: return rand() > 0.5;
    case 2: return Math.floor(rand() * 2e9) - 1e9;
    case 3: return rand() * 1e308 * (rand() > 0.5 ? 1 : -1);
    case 4: return 'x'.repeat(Math.floor(rand() * 50));
    case 5: return depth > 3 ? [] : Array.from({ length: Math.floor(rand() * 4) }, () => junk(rand, depth + 1));
    case 6: return depth > 3 ? {} : Object.fromEntries(Array.from({ length: Math.floor(rand() * 4) }, (_, i) => [`k${i}`, junk(rand, depth + 1)]));
    case 7: return '\u0000\ud800';
    default: return -0;
  }
}

/** A request body broken in one of several ways. */
function malformed(rand: () => number, valid: Record<string, unknown>): string {
  const kind = Math.floor(rand() * 6);
  const fields = Object.keys(valid);
  if (kind === 0) return '{"unterminated": ';
  if (kind === 1) return JSON.stringify(junk(rand));
  if (kind === 2 || fields.length === 0) return JSON.stringify({ ...valid, [`extra${Math.floor(rand() * 9)}`]: junk(rand), ...(fields.length ? {} : { status: junk(rand), limit: junk(rand) }) });
  const field = fields[Math.floor(rand() * fields.length)]!;
  if (kind === 3) return JSON.stringify({ ...valid, [field]: junk(rand) });
  if (kind === 4) {
    const { [field]: _gone, ...rest } = valid;
    return JSON.stringify(rest);
  }
  return JSON.stringify({ ...valid, __proto__x: 1, constructor: { prototype: { polluted: true } } });
}

describe('bad input', () => {
  it('5,000 malformed, wrong-typed and oversized requests across all routes: no 5xx, each 400 names a field', async () => {
    const rand = prng(20261201);
    const statuses = new Map<number, number>();
    let unnamed = 0;
    const queue = Array.from({ length: 5000 }, (_, i) => i);
    const worker = async (): Promise<void> => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
        const route = ROUTES[i % ROUTES.length]!;
        let answer: { status: number; body: any };
        if (route.method === 'GET') {
          const query = new URLSearchParams({ limit: String(junk(rand)), status: String(junk(rand)), afterSeq: String(junk(rand)), active: String(junk(rand)) });
          answer = await api(server, 'GET', `${route.path}?${query}`, server.keys[route.key]);
        } else if (i % 97 === 0) {
          answer = await api(server, route.method, route.path, server.keys[route.key], JSON.stringify({ big: 'x'.repeat(70_000) }));
          expect(answer.status).toBe(413);
        } else if (i % 89 === 0) {
          answer = await api(server, route.method, route.path, server.keys[route.key], 'a=b', { 'content-type': 'application/x-www-form-urlencoded' });
          expect(answer.status).toBe(415);
        } else {
          answer = await api(server, route.method, route.path, server.keys[route.key], malformed(rand, route.valid));
        }
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(500);
        if (answer.status >= 400) {
          expect(typeof answer.body.error.code).toBe('string');
          expect(typeof answer.body.error.message).toBe('string');
        }
        if (answer.status === 400 && !(answer.body.error.details?.issues?.[0]?.path?.length > 0)) unnamed++;
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(unnamed).toBe(0);
    expect(statuses.get(400)).toBeGreaterThan(2000);
    expect((await api(server, 'GET', '/healthz', undefined)).status).toBe(200);
    expect(server.child.exitCode).toBeNull();
    // Nothing secret reached the server's log: no key secret, no signing secret.
    for (const key of Object.values(server.keys)) {
      expect(server.logs()).not.toContain(key.apiKey.slice(-43));
      if (key.signingSecret) expect(server.logs()).not.toContain(key.signingSecret);
    }
  }, 120_000);

  it('prototype-poisoning keys are refused, naming where', async () => {
    const r = await api(server, 'POST', '/v1/agents', server.keys.agent, '{"agentId":"a","agentName":"A","metadata":{"__proto__":{"admin":true}}}');
    expect(r.status).toBe(400);
    expect(r.body.error.details.issues[0].path).toBe('body.metadata.__proto__');
  });

  it('a key spelled with JSON escapes is refused too, and so is absurd nesting (400, not a crash)', async () => {
    const escaped = await api(server, 'POST', '/v1/agents', server.keys.agent, '{"agentId":"a","agentName":"A","metadata":{"x":{"\\u005f_proto__":{"admin":true}}}}');
    expect(escaped.status).toBe(400);
    expect(escaped.body.error.details.issues[0].path).toBe('body.metadata.x.__proto__');
    const deep = await api(server, 'POST', '/v1/agents', server.keys.agent, '{"constructor":' + '['.repeat(20_000) + ']'.repeat(20_000) + '}');
    expect(deep.status).toBe(400);
    expect(deep.body.error.message).toMatch(/nests deeper|not valid JSON/);
  });

  it('an unknown route is a 404 in the same error shape', async () => {
    const r = await api(server, 'GET', '/v1/nothing-here', server.keys.agent);
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('not_found');
  });
});

describe('operations', () => {
  it('serves an OpenAPI document made from the route schemas', async () => {
    const r = await api(server, 'GET', '/v1/openapi.json', undefined);
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe('3.0.3');
    expect(Object.keys(r.body.paths)).toEqual(
      expect.arrayContaining(['/v1/actions/evaluate', '/v1/approvals/{approvalId}/wait', '/v1/approvals/{approvalId}/approve', '/v1/audit']),
    );
    const evaluate = r.body.paths['/v1/actions/evaluate'].post;
    expect(evaluate.requestBody.content['application/json'].schema.required).toEqual(expect.arrayContaining(['agentId', 'actionType', 'digest']));
    expect(evaluate.responses['200'].content['application/json'].schema.properties.decision.enum).toEqual(['allowed', 'denied', 'pending']);
  });

  it('/healthz and /readyz answer without a key', async () => {
    expect((await api(server, 'GET', '/healthz', undefined)).body).toEqual({ status: 'ok' });
    const ready = await api(server, 'GET', '/readyz', undefined);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', store: 'sqlite', policy: 'loaded' });
  });

  it('SIGTERM answers an in-flight long-poll, drains, and exits 0', async () => {
    const own = await startServerProcess();
    try {
      const parameters = { amount: 5000 };
      const { callDigest } = await import('../../src/core/call-digest.js');
      const d = await api(own, 'POST', '/v1/actions/evaluate', own.keys.agent, {
        agentId: 'a',
        actionType: 'payments.transfer',
        parameters,
        digest: callDigest({ agentId: 'a', actionType: 'payments.transfer', resource: '', parameters }),
      });
      const { answer: waiting, sent } = longPoll(`${own.url}/v1/approvals/${d.body.approvalRequestId}/wait?timeoutMs=20000`, own.keys.agent.apiKey);
      // The long-poll is in flight once the server has read it: its bytes were in the server's
      // socket before those of later requests on another connection, which it then answered
      // (two, one after the other: the second cannot be read before the first event-loop turn).
      await sent;
      for (let i = 0; i < 2; i++) expect((await api(own, 'GET', '/healthz', undefined)).status).toBe(200);
      const started = Date.now();
      const code = await own.stop();
      const answer = await waiting;
      expect(answer.status).toBe(200);
      expect(answer.body.status).toBe('pending');
      expect(code).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000); // answered at once, not after the poll's 20 s
    } finally {
      await disposeServer(own);
    }
  });
});

/** A GET on its own connection; `sent` resolves once the request has been handed to the OS. */
function longPoll(url: string, apiKey: string): { answer: Promise<{ status: number; body: any }>; sent: Promise<void> } {
  let sentResolve!: () => void;
  const sent = new Promise<void>((r) => (sentResolve = r));
  const answer = new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = http.get(url, { headers: { authorization: `Bearer ${apiKey}` }, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on('finish', sentResolve);
    req.on('error', reject);
  });
  return { answer, sent };
}
