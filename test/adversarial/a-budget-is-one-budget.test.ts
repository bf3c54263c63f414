/**
 * Promise: a `limit` rule is one budget — shared by every process on a data directory and every
 * replica on a PostgreSQL schema, kept across restarts, and exact at its edge: calls racing for
 * the last unit get exactly one. In `batched` durability another process's queued calls may be
 * unseen, so a budget may be exceeded by at most what the others had queued (tested here).
 * Needs the PostgreSQL of this machine (CI has it): it fails, never skips, without it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { parsePolicy } from '../../src/engine/index.js';
import { callDigest } from '../../src/core/call-digest.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';
import { BUDGET_COPY_MAX_AGE_MS } from '../../src/store/sqlite-budgets.js';
import type { Store } from '../../src/store/store.js';
import { LocalTransport } from '../../src/transport/local.js';
import type { EvaluationRequest } from '../../src/decision/request.js';
import { captureLogs, ROOT, sleep, tempDir, TSX_IMPORT, writePolicy } from '../helpers.js';
import { PgTestSchemas, PG_URL } from '../store/pg-helpers.js';
import { at, makeAction, T0_MS } from '../store/records.js';
import { api, disposeServer, seedKeys, startServerProcess, type ServerProcess } from '../server/helpers.js';

/** Fifty mails an hour per agent. */
const budgetPolicy = (count: number, scope: 'agent' | 'global' = 'agent', per = '1h'): string => `
version: 1
default: deny
rules:
  - id: mail-budget
    actions: ["email.send"]
    limit: { count: ${count}, per: ${per}, scope: ${scope} }
    effect: deny
  - id: mail
    actions: ["email.send"]
    effect: allow
`;

const clients: AscendClient[] = [];
const children: ChildProcessWithoutNullStreams[] = [];
const pgSchemas = new PgTestSchemas();
const servers: ServerProcess[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await pgSchemas.closeStores();
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});
afterAll(async () => {
  for (const server of servers.splice(0)) await disposeServer(server);
  await pgSchemas.dropAll();
});

function embedded(dataDir: string, policy: string, durability: 'sync' | 'batched', agentId = 'mailer'): AscendClient {
  const client = new AscendClient({ agentId, policy, dataDir, logDestination: captureLogs().destination, audit: { durability, flushIntervalMs: 5 } });
  clients.push(client);
  return client;
}

const sendMail = (client: AscendClient) => client.evaluateAction({ actionType: 'email.send', resource: 'smtp', parameters: { to: 'a@example.com' } });

async function decisions(client: AscendClient, n: number): Promise<{ allowed: number; denied: number }> {
  const all = await Promise.all(Array.from({ length: n }, () => sendMail(client)));
  return { allowed: all.filter((d) => d.decision === 'allowed').length, denied: all.filter((d) => d.decision === 'denied').length };
}

/** A child process that spends the budget on command (fixtures/budget-spender.ts). */
async function spender(dataDir: string, policy: string, durability: 'sync' | 'batched', flushIntervalMs = 5, agentId = 'mailer') {
  const child = spawn(process.execPath, ['--import', TSX_IMPORT, path.join(ROOT, 'test/adversarial/fixtures/budget-spender.ts'), dataDir, policy, durability, String(flushIntervalMs), agentId], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const line = await lines.next();
    if (line.done) throw new Error(`the spender exited:\n${stderr}`);
    return line.value;
  };
  expect(await next()).toBe('ready');
  return {
    async send(command: string): Promise<{ allowed: number; denied: number; errors: string[] }> {
      child.stdin.write(`${command}\n`);
      return JSON.parse(await next()) as { allowed: number; denied: number; errors: string[] };
    },
  };
}

describe('embedded, one process', () => {
  for (const durability of ['sync', 'batched'] as const) {
    it(`${durability}: 20 calls at once when one unit is left → exactly one is allowed`, async () => {
      const dir = tempDir();
      const client = embedded(path.join(dir, '.ascend'), writePolicy(dir, budgetPolicy(5)), durability);
      await client.register({ agentType: 'test' });
      expect(await decisions(client, 4)).toEqual({ allowed: 4, denied: 0 });
      expect(await decisions(client, 20)).toEqual({ allowed: 1, denied: 19 });
      const denial = await sendMail(client);
      expect(denial.policyViolations.map((v) => v.code)).toContain('rate_limited');
    });

    it(`${durability}: a restarted process gets no fresh budget`, async () => {
      const dir = tempDir();
      const dataDir = path.join(dir, '.ascend');
      const policy = writePolicy(dir, budgetPolicy(50));
      const first = embedded(dataDir, policy, durability);
      await first.register({ agentType: 'test' });
      expect(await decisions(first, 30)).toEqual({ allowed: 30, denied: 0 });
      await first.close();
      const second = embedded(dataDir, policy, durability);
      expect(await decisions(second, 40)).toEqual({ allowed: 20, denied: 20 });
    });
  }

  it('a global budget is shared by every agent', async () => {
    const dir = tempDir();
    const dataDir = path.join(dir, '.ascend');
    const policy = writePolicy(dir, budgetPolicy(10, 'global'));
    const a = embedded(dataDir, policy, 'sync', 'agent-a');
    const b = embedded(dataDir, policy, 'sync', 'agent-b');
    const [ra, rb] = await Promise.all([decisions(a, 8), decisions(b, 8)]);
    expect(ra.allowed + rb.allowed).toBe(10);
  });

  it('raising the limit keeps what was spent: 50 → 60 allows 10 more, not 60', async () => {
    const dir = tempDir();
    const dataDir = path.join(dir, '.ascend');
    const first = embedded(dataDir, writePolicy(dir, budgetPolicy(50)), 'sync');
    expect(await decisions(first, 50)).toEqual({ allowed: 50, denied: 0 });
    await first.close();
    const raised = embedded(dataDir, writePolicy(dir, budgetPolicy(60), 'raised.yaml'), 'sync');
    expect(await decisions(raised, 20)).toEqual({ allowed: 10, denied: 10 });
  });
});

describe('embedded, two processes on one data directory', () => {
  it('sync: 40 + 40 calls at once against a budget of 50 → exactly 50 allowed', async () => {
    const dir = tempDir();
    const dataDir = path.join(dir, '.ascend');
    const policy = writePolicy(dir, budgetPolicy(50));
    const a = await spender(dataDir, policy, 'sync');
    const b = await spender(dataDir, policy, 'sync');
    const go = path.join(dir, 'go');
    const results = Promise.all([a.send(`eval 40 ${go}`), b.send(`eval 40 ${go}`)]);
    fs.writeFileSync(go, '');
    const [ra, rb] = await results;
    expect([...ra.errors, ...rb.errors]).toEqual([]);
    expect(ra.allowed + rb.allowed).toBe(50);
    expect((await a.send('eval 1')).allowed + (await b.send('eval 1')).allowed).toBe(0);
  }, 60_000);

  it('batched: 20 + 20 calls at once when one unit is left → exactly one allowed', async () => {
    const dir = tempDir();
    const dataDir = path.join(dir, '.ascend');
    const policy = writePolicy(dir, budgetPolicy(10));
    const a = await spender(dataDir, policy, 'batched');
    const b = await spender(dataDir, policy, 'batched');
    expect((await a.send('eval 9')).allowed).toBe(9);
    await a.send('flush');
    const go = path.join(dir, 'go');
    const results = Promise.all([a.send(`eval 20 ${go}`), b.send(`eval 20 ${go}`)]);
    fs.writeFileSync(go, '');
    const [ra, rb] = await results;
    expect([...ra.errors, ...rb.errors]).toEqual([]);
    expect(ra.allowed + rb.allowed).toBe(1);
  }, 60_000);

  it('batched: what another process has queued and not committed is the most a budget can be exceeded by', async () => {
    const dir = tempDir();
    const dataDir = path.join(dir, '.ascend');
    const policy = writePolicy(dir, budgetPolicy(50));
    // A group-commits only when told to: its 30 allowed calls stay queued, unseen by B.
    const a = await spender(dataDir, policy, 'batched', 60_000);
    const b = await spender(dataDir, policy, 'batched');
    const queuedByA = (await a.send('eval 30')).allowed;
    expect(queuedByA).toBe(30);
    const byB = (await b.send('eval 50')).allowed;
    // B cannot see A's queue, and its own count is exact: within the documented bound.
    expect(byB).toBe(50);
    expect(queuedByA + byB).toBeLessThanOrEqual(50 + queuedByA);
    await a.send('flush');
    // Once committed, both see the budget used up.
    expect((await a.send('eval 5')).allowed).toBe(0);
    expect((await b.send('eval 5')).allowed).toBe(0);
  }, 60_000);
});

describe('windows', () => {
  const request = (agentId: string): EvaluationRequest => {
    const parameters = { to: 'a@example.com' };
    return { agentId, actionType: 'email.send', resource: 'smtp', parameters, redactedParameters: parameters, digest: callDigest({ agentId, actionType: 'email.send', resource: 'smtp', parameters }), context: {}, requireHumanApproval: false };
  };

  it('slide exactly to the millisecond: a spend counts until its window has passed, and not a millisecond longer', async () => {
    const dir = tempDir();
    const store = openSqliteStore(path.join(dir, 'ascend.db'));
    let nowMs = Date.parse('2026-12-04T10:00:00.000Z');
    const transport = new LocalTransport({ policy: parsePolicy(budgetPolicy(3, 'agent', '10s'), 'p.yaml'), openStore: () => store, now: () => nowMs });
    try {
      const start = nowMs;
      for (const offset of [0, 1000, 2000]) {
        nowMs = start + offset;
        expect((await transport.evaluate(request('w'))).decision).toBe('allowed');
      }
      nowMs = start + 9_999;
      expect((await transport.evaluate(request('w'))).decision).toBe('denied');
      nowMs = start + 10_000; // the first spend's window has passed
      expect((await transport.evaluate(request('w'))).decision).toBe('allowed');
      nowMs = start + 10_999;
      expect((await transport.evaluate(request('w'))).decision).toBe('denied');
      nowMs = start + 11_000;
      expect((await transport.evaluate(request('w'))).decision).toBe('allowed');
    } finally {
      await transport.close();
    }
  });

  it('no budget is forgotten to make room: 12,000 budgets in use, the first still counts', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'ascend.db');
    const store: SqliteStore = openSqliteStore(file, { durability: 'batched' });
    const transport = new LocalTransport({ policy: parsePolicy(budgetPolicy(1), 'p.yaml'), openStore: () => store });
    try {
      for (let i = 0; i < 12_000; i++) expect((await transport.evaluate(request(`agent-${i}`))).decision).toBe('allowed');
      expect((await transport.evaluate(request('agent-0'))).decision).toBe('denied');
      expect((await transport.evaluate(request('agent-11999'))).decision).toBe('denied');
    } finally {
      await transport.close();
    }
  }, 60_000);
});

describe("each connection's copy of the spends", () => {
  const spend = { key: 'r:mail-budget\u001fa:agent-a', windowMs: 3_600_000, count: 5, mustFit: true };
  const window = [{ key: spend.key, windowMs: spend.windowMs }];

  for (const store of ['SQLite', 'PostgreSQL'] as const) {
    it(`${store}: spends another connection committed meanwhile, and a decision rolled back, are each counted exactly once`, async () => {
      let a: Store;
      let b: Store;
      if (store === 'SQLite') {
        const file = path.join(tempDir(), 'ascend.db');
        a = openSqliteStore(file);
        b = openSqliteStore(file);
      } else {
        const schema = pgSchemas.name();
        a = await pgSchemas.open({ poolSize: 2 }, schema);
        b = await pgSchemas.open({ poolSize: 2 }, schema);
      }
      try {
        const nowMs = T0_MS + 10_000;
        await a.upsertAgent({ agentId: 'agent-a', agentName: 'a', agentType: 't', capabilities: [], allowedResources: [], metadata: {} }, at(0));
        const version = (await a.getAgent('agent-a'))!.version;
        expect(await b.budgetUsage(window, nowMs)).toEqual([0]); // B's copy is loaded, empty
        for (let i = 0; i < 3; i++) await a.recordDecision(makeAction({ createdAt: at(i) }), undefined, { budgets: [spend] });
        // B writes without reading first: its transaction finds A's three.
        await b.recordDecision(makeAction({ createdAt: at(4) }), undefined, { budgets: [spend], agentVersion: version });
        expect(await b.budgetUsage(window, nowMs)).toEqual([4]);
        // A decision made on a stale registration is refused and rolled back with its spend.
        await a.setAgentBlocked('agent-a', true, 'test', 'ops', at(5));
        await expect(b.recordDecision(makeAction({ createdAt: at(6) }), undefined, { budgets: [spend], agentVersion: version })).rejects.toThrow(/changed/);
        await a.recordDecision(makeAction({ createdAt: at(7) }), undefined, { budgets: [spend] });
        expect(await b.budgetUsage(window, nowMs)).toEqual([5]);
        expect(await a.budgetUsage(window, nowMs)).toEqual([5]);
        // The budget is used up: a decision that relied on a unit left is refused.
        await expect(b.recordDecision(makeAction({ createdAt: at(8) }), undefined, { budgets: [spend] })).rejects.toThrow(/used up/);
        expect(await b.budgetUsage(window, nowMs)).toEqual([5]);
        // A call that did not rely on a unit left (monitor mode) still spends; both see it once.
        await a.recordDecision(makeAction({ createdAt: at(9) }), undefined, { budgets: [{ ...spend, mustFit: false }] });
        await b.recordDecision(makeAction({ createdAt: at(10) }), undefined, { budgets: [{ ...spend, mustFit: false }] });
        // A read outside a transaction may be up to BUDGET_COPY_MAX_AGE_MS behind other connections:
        // let that much real time pass (the store's clock, performance.now() of node:perf_hooks, is
        // not one a test can fake).
        await sleep(BUDGET_COPY_MAX_AGE_MS + 1);
        expect(await b.budgetUsage(window, nowMs + 1)).toEqual([7]);
        expect(await a.budgetUsage(window, nowMs + 1)).toEqual([7]);
      } finally {
        await a.close();
        await b.close();
      }
    }, 60_000);
  }
});

describe('PostgreSQL', () => {
  const request = (agentId: string): EvaluationRequest => {
    const parameters = { to: 'a@example.com' };
    return { agentId, actionType: 'email.send', resource: 'smtp', parameters, redactedParameters: parameters, digest: callDigest({ agentId, actionType: 'email.send', resource: 'smtp', parameters }), context: {}, requireHumanApproval: false };
  };
  const decide = async (transport: LocalTransport, n: number): Promise<number> => {
    const all = await Promise.all(Array.from({ length: n }, () => transport.evaluate(request('mailer'))));
    return all.filter((d) => d.decision === 'allowed').length;
  };

  for (const durability of ['sync', 'batched'] as const) {
    it(`${durability}: two stores on one schema, 10 + 10 calls at once when one unit is left → exactly one allowed`, async () => {
      const schema = pgSchemas.name();
      const stores: Store[] = [await pgSchemas.open({ durability, flushIntervalMs: 5, poolSize: 4 }, schema), await pgSchemas.open({ durability, flushIntervalMs: 5, poolSize: 4 }, schema)];
      const policy = parsePolicy(budgetPolicy(8), 'p.yaml');
      const [a, b] = stores.map((store) => new LocalTransport({ policy, openStore: () => store })) as [LocalTransport, LocalTransport];
      expect(await decide(a, 7)).toBe(7);
      await stores[0]!.flush();
      expect((await Promise.all([decide(a, 10), decide(b, 10)])).reduce((x, y) => x + y)).toBe(1);
    }, 60_000);

    it(`${durability}: two stores, 40 + 40 calls at once against a budget of 50 → ${durability === 'sync' ? 'exactly 50' : 'at most 50 + what the other had queued'}`, async () => {
      const schema = pgSchemas.name();
      const stores: Store[] = [await pgSchemas.open({ durability, flushIntervalMs: 5, poolSize: 4 }, schema), await pgSchemas.open({ durability, flushIntervalMs: 5, poolSize: 4 }, schema)];
      const policy = parsePolicy(budgetPolicy(50), 'p.yaml');
      const [a, b] = stores.map((store) => new LocalTransport({ policy, openStore: () => store })) as [LocalTransport, LocalTransport];
      const [ra, rb] = await Promise.all([decide(a, 40), decide(b, 40)]);
      if (durability === 'sync') expect(ra + rb).toBe(50);
      else expect(ra + rb).toBeLessThanOrEqual(50 + Math.min(ra, rb));
      expect(ra + rb).toBeGreaterThanOrEqual(50);
      await Promise.all(stores.map((s) => s.flush()));
      expect((await decide(a, 3)) + (await decide(b, 3))).toBe(0);
    }, 60_000);
  }

  it('a budget survives a restart of the store', async () => {
    const schema = pgSchemas.name();
    const policy = parsePolicy(budgetPolicy(10), 'p.yaml');
    const first = await pgSchemas.open({ durability: 'batched', poolSize: 4 }, schema);
    expect(await decide(new LocalTransport({ policy, openStore: () => first }), 6)).toBe(6);
    await first.close();
    const second = await pgSchemas.open({ durability: 'batched', poolSize: 4 }, schema);
    expect(await decide(new LocalTransport({ policy, openStore: () => second }), 10)).toBe(4);
  }, 60_000);

  it('two `ascend serve` replicas: 10 + 10 requests at once when one unit is left → exactly one allowed', async () => {
    const schema = `ascend_budget_${randomBytes(4).toString('hex')}`;
    const db = `${PG_URL}?schema=${schema}`;
    try {
      const keys = await seedKeys(db);
      const [a, b] = await Promise.all([startServerProcess({ db, keys, policy: budgetPolicy(5) }), startServerProcess({ db, keys, policy: budgetPolicy(5) })]);
      servers.push(a, b);
      const call = (server: ServerProcess) =>
        api(server, 'POST', '/v1/actions/evaluate', keys.agent, { agentId: 'mailer', actionType: 'email.send', resource: 'smtp', parameters: { to: 'a@example.com' }, digest: 'd'.repeat(64) });
      for (let i = 0; i < 4; i++) expect((await call(i % 2 === 0 ? a : b)).body.decision).toBe('allowed');
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => call(i % 2 === 0 ? a : b)));
      expect(answers.map((r) => r.status).every((s) => s === 200)).toBe(true);
      expect(answers.filter((r) => r.body.decision === 'allowed')).toHaveLength(1);
    } finally {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      for (const server of servers.splice(0)) await disposeServer(server);
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    }
  }, 90_000);
});
