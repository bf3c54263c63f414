/**
 * Promise: what the server decides on and records is exactly what was sent. JSON that JavaScript
 * reads one way and writes back another (`1e999` → Infinity → null, invalid UTF-8 → U+FFFD) is
 * refused with a 400 naming the problem; an embedded call's `context` is checked like its
 * arguments (a refusal, never a store "outage").
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AscendClient, ValidationError } from '../../src/index.js';
import { callDigest } from '../../src/core/call-digest.js';
import { TEST_POLICY, captureLogs, tempDir, writePolicy } from '../helpers.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from '../server/helpers.js';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServerProcess();
}, 60_000);
afterAll(async () => {
  await disposeServer(server);
});

async function evaluateRaw(body: string | Buffer): Promise<{ status: number; body: any }> {
  const r = await fetch(`${server.url}/v1/actions/evaluate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.keys.agent.apiKey}`, 'content-type': 'application/json' },
    body,
  });
  return { status: r.status, body: (await r.json()) as unknown };
}

describe('the server decides on exactly what was sent', () => {
  it('a number JSON cannot write back (1e999, -1e999) is refused, naming the field; nothing is recorded', async () => {
    for (const amount of ['1e999', '-1e999']) {
      const answer = await evaluateRaw(`{"agentId":"inf","actionType":"payments.transfer","resource":"","parameters":{"amount":${amount}},"digest":"${'a'.repeat(64)}"}`);
      expect(answer.status, JSON.stringify(answer.body)).toBe(400);
      expect(answer.body.error.details.issues[0].path).toBe('body.parameters.amount');
    }
    const audit = await api(server, 'GET', '/v1/audit?agentId=inf', server.keys.approver);
    expect(audit.body.events).toEqual([]);
  });

  it('invalid UTF-8 is refused with a 400 that says so', async () => {
    const parameters = { sql: 'select 1 ZZ' };
    const good = Buffer.from(JSON.stringify({ agentId: 'utf8', actionType: 'db.query', resource: '', parameters, digest: callDigest({ agentId: 'utf8', actionType: 'db.query', resource: '', parameters }) }));
    expect((await evaluateRaw(good)).status).toBe(200);
    const bad = Buffer.from(good);
    const at = bad.indexOf('ZZ');
    bad[at] = 0xff;
    bad[at + 1] = 0xfe;
    const answer = await evaluateRaw(bad);
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toMatch(/UTF-8/);
  });
});

describe('an embedded call checks its context like its arguments', () => {
  it('context nested 10,000 deep, circular, with Infinity or a __proto__ key: a ValidationError naming context, not a store outage', async () => {
    const dir = tempDir();
    const logs = captureLogs();
    const client = new AscendClient({ agentId: 'ctx', policy: writePolicy(dir, TEST_POLICY), dataDir: path.join(dir, '.ascend'), logDestination: logs.destination });
    try {
      let deep: Record<string, unknown> = { leaf: 1 };
      for (let i = 0; i < 10_000; i++) deep = { a: deep };
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      const contexts: Array<Record<string, unknown>> = [{ deep }, circular, { n: Number.POSITIVE_INFINITY }, JSON.parse('{"__proto__":{"x":1}}') as Record<string, unknown>];
      for (const context of contexts) {
        const err = await client.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' }, context }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ValidationError);
        expect((err as ValidationError).issues[0]?.path).toMatch(/^context/);
      }
      expect(logs.text()).not.toContain('decision point unreachable');
      // register()'s metadata is checked the same way.
      await expect(client.register({ metadata: JSON.parse('{"__proto__":{"admin":true}}') as Record<string, unknown> })).rejects.toBeInstanceOf(ValidationError);
    } finally {
      await client.close();
    }
  });
});
