/**
 * One idempotency key, one answer. Two different calls sent at the same time under the same key
 * (an `Idempotency-Key`, or the `actionId` a caller chooses) never share a decision: one is
 * decided and recorded, the other is refused as a conflict (HTTP 409, ConflictError), and the
 * decision answered is the one of the call that was recorded. Checked on real `ascend serve`
 * processes over SQLite and over PostgreSQL (one replica, and two replicas on one schema), with
 * the remote client, and with the embedded client in one process and in two processes on one
 * SQLite file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { callDigest } from '../../src/core/call-digest.js';
import { AscendError, ConflictError } from '../../src/core/errors.js';
import { defaultDbPath, openSqliteStore } from '../../src/store/sqlite.js';
import type { NewApiKey } from '../../src/server/api-keys.js';
import { captureLogs, ROOT, TEST_POLICY, TSX_IMPORT, tempDir, writePolicy } from '../helpers.js';
import { PG_URL, withAdmin } from '../store/pg-helpers.js';
import { api, disposeServer, seedKeys, startServerProcess, type ServerProcess } from '../server/helpers.js';

/** How many pairs of different calls each check fires at once. */
const PAIRS = 40;

/** Calls and what TEST_POLICY decides for each. */
const CALLS = {
  select1: { actionType: 'db.query', parameters: { sql: 'SELECT 1' }, decision: 'allowed' },
  select2: { actionType: 'db.query', parameters: { sql: 'SELECT 2' }, decision: 'allowed' },
  drop: { actionType: 'db.query', parameters: { sql: 'DROP TABLE users' }, decision: 'denied' },
  transfer: { actionType: 'payments.transfer', parameters: { amount: 5000 }, decision: 'pending' },
} as const;
type CallName = keyof typeof CALLS;

/** Pairs of different calls: allowed against denied, two allowed (both wait in a group commit), allowed against pending. */
const PAIRINGS: Array<[CallName, CallName]> = [
  ['select1', 'drop'],
  ['select1', 'select2'],
  ['select2', 'transfer'],
  ['drop', 'select1'],
];

function freshKey(i: number): string {
  return `one-key-${i}-${randomBytes(8).toString('hex')}`;
}

function wireBody(agentId: string, name: CallName) {
  const { actionType, parameters } = CALLS[name];
  return { agentId, actionType, resource: '', parameters, digest: callDigest({ agentId, actionType, resource: '', parameters }) };
}

interface Outcome {
  /** The call's decision, or undefined when refused. */
  decision?: string;
  actionId?: string;
  /** The error code when refused. */
  error?: string;
}

/**
 * What went wrong with one pair under one key, or undefined: exactly one answer, for the call
 * that was recorded under the key, and a conflict for the other.
 */
function pairProblem(key: string, names: [CallName, CallName], outcomes: [Outcome, Outcome], recordedDigest: string | undefined, agentId: string): string | undefined {
  const answered = outcomes.map((o, i) => ({ o, name: names[i]! })).filter((x) => x.o.error === undefined);
  const refused = outcomes.filter((o) => o.error !== undefined);
  const seen = `${names[0]}→${JSON.stringify(outcomes[0])}, ${names[1]}→${JSON.stringify(outcomes[1])}`;
  if (answered.length !== 1 || refused.length !== 1) return `${key}: expected one answer and one conflict, got ${seen}`;
  if (refused[0]!.error !== 'conflict') return `${key}: the refusal was not a conflict: ${seen}`;
  const winner = answered[0]!;
  if (winner.o.actionId !== key) return `${key}: answered under another action id: ${seen}`;
  if (winner.o.decision !== CALLS[winner.name].decision) return `${key}: ${winner.name} was answered ${winner.o.decision}, not its own decision ${CALLS[winner.name].decision}: ${seen}`;
  const digest = wireBody(agentId, winner.name).digest;
  if (recordedDigest !== digest) return `${key}: the call recorded under the key is not the one answered (${winner.name}): ${seen}`;
  return undefined;
}

function fromHttp(answer: { status: number; body: any }): Outcome {
  if (answer.status === 200) return { decision: answer.body.decision, actionId: answer.body.actionId };
  return { error: answer.body?.error?.code ?? `http ${answer.status}` };
}

function fromError(err: unknown): Outcome {
  return { error: err instanceof AscendError ? err.code : String(err) };
}

/** Fire PAIRS pairs at once over HTTP (the first call of each pair to `a`, the second to `b`). */
async function firePairsOverHttp(a: ServerProcess, b: ServerProcess, key: NewApiKey, agentId: string): Promise<string[]> {
  const pairs = Array.from({ length: PAIRS }, (_, i) => ({ key: freshKey(i), names: PAIRINGS[i % PAIRINGS.length]! }));
  const answers = await Promise.all(
    pairs.map(({ key: k, names }) =>
      Promise.all([
        api(a, 'POST', '/v1/actions/evaluate', key, wireBody(agentId, names[0]), { 'idempotency-key': k }),
        api(b, 'POST', '/v1/actions/evaluate', key, wireBody(agentId, names[1]), { 'idempotency-key': k }),
      ]),
    ),
  );
  const problems: string[] = [];
  for (const [i, { key: k, names }] of pairs.entries()) {
    const recorded = await api(a, 'GET', `/v1/actions/${k}`, key);
    const problem = pairProblem(k, names, [fromHttp(answers[i]![0]), fromHttp(answers[i]![1])], recorded.body?.action?.digest, agentId);
    if (problem) problems.push(problem);
  }
  return problems;
}

/** Fire PAIRS pairs at once through one remote client, each pair under one `actionId`. */
async function firePairsThroughRemoteClient(server: ServerProcess, agentId: string): Promise<string[]> {
  const client = new AscendClient({ agentId, apiUrl: server.url, apiKey: server.keys.agent.apiKey, dataDir: tempDir(), logDestination: captureLogs().destination });
  try {
    const problems: string[] = [];
    await Promise.all(
      Array.from({ length: PAIRS }, async (_, i) => {
        const key = freshKey(i);
        const names = PAIRINGS[i % PAIRINGS.length]!;
        const settled = await Promise.allSettled(names.map((name) => client.evaluateAction({ actionId: key, actionType: CALLS[name].actionType, parameters: CALLS[name].parameters })));
        const outcomes = settled.map((s) => (s.status === 'fulfilled' ? { decision: s.value.decision, actionId: s.value.actionId } : fromError(s.reason))) as [Outcome, Outcome];
        const recorded = await api(server, 'GET', `/v1/actions/${key}`, server.keys.agent);
        const problem = pairProblem(key, names, outcomes, recorded.body?.action?.digest, agentId);
        if (problem) problems.push(problem);
      }),
    );
    return problems;
  } finally {
    await client.close();
  }
}

describe('one idempotency key, one answer: ascend serve on SQLite', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess();
  }, 60_000);
  afterAll(async () => {
    await disposeServer(server);
  });

  it('concurrent evaluates of different calls under one Idempotency-Key: one decision, one 409', async () => {
    expect(await firePairsOverHttp(server, server, server.keys.agent, 'sqlite-agent')).toEqual([]);
  }, 60_000);

  it('the remote client reusing an actionId for two different calls at once gets one decision and one ConflictError', async () => {
    expect(await firePairsThroughRemoteClient(server, 'remote-twin')).toEqual([]);
  }, 60_000);

  it('a retry of the same call under its key still answers the first decision and records one action', async () => {
    const key = freshKey(0);
    const body = wireBody('sqlite-agent', 'select1');
    const answers = await Promise.all([1, 2, 3, 4].map(() => api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, body, { 'idempotency-key': key })));
    for (const a of answers) expect(a).toMatchObject({ status: 200, body: { actionId: key, decision: 'allowed' } });
    const audit = await api(server, 'GET', `/v1/audit?actionId=${key}`, server.keys.approver);
    expect(audit.body.events.filter((e: { type: string }) => e.type === 'action.evaluated')).toHaveLength(1);
    const later = await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, wireBody('sqlite-agent', 'drop'), { 'idempotency-key': key });
    expect(later.status).toBe(409);
  }, 60_000);
});

describe('one idempotency key, one answer: ascend serve on PostgreSQL', () => {
  const schema = `ascend_onekey_${randomBytes(4).toString('hex')}`;
  const db = `${PG_URL}?schema=${schema}`;
  let a: ServerProcess;
  let b: ServerProcess;
  beforeAll(async () => {
    const keys = await seedKeys(db);
    [a, b] = await Promise.all([startServerProcess({ db, keys }), startServerProcess({ db, keys })]);
  }, 60_000);
  afterAll(async () => {
    await disposeServer(a);
    await disposeServer(b);
    await withAdmin((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
  });

  it('on one replica: one decision, one 409', async () => {
    expect(await firePairsOverHttp(a, a, a.keys.agent, 'pg-agent')).toEqual([]);
  }, 60_000);

  it('across two replicas sharing the database: one decision, one 409', async () => {
    expect(await firePairsOverHttp(a, b, a.keys.agent, 'pg-agent')).toEqual([]);
  }, 60_000);

  it('the remote client reusing an actionId for two different calls at once gets one decision and one ConflictError', async () => {
    expect(await firePairsThroughRemoteClient(a, 'pg-remote-twin')).toEqual([]);
  }, 60_000);
});

describe('one idempotency key, one answer: the embedded client', () => {
  for (const durability of ['sync', 'batched'] as const) {
    it(`in one process (${durability}): one decision, one ConflictError, and the recorded call is the one answered`, async () => {
      const dir = tempDir();
      const dataDir = path.join(dir, '.ascend');
      const client = new AscendClient({ agentId: 'twin', policy: writePolicy(dir, TEST_POLICY), dataDir, logLevel: 'silent', audit: { durability, flushIntervalMs: 20 } });
      try {
        const pairs = Array.from({ length: PAIRS }, (_, i) => ({ key: freshKey(i), names: PAIRINGS[i % PAIRINGS.length]! }));
        const settled = await Promise.all(
          pairs.map(({ key, names }) => Promise.allSettled(names.map((name) => client.evaluateAction({ actionId: key, actionType: CALLS[name].actionType, parameters: CALLS[name].parameters })))),
        );
        await client.flush();
        for (const [i] of pairs.entries()) {
          for (const s of settled[i]!) if (s.status === 'rejected') expect(s.reason).toBeInstanceOf(ConflictError);
        }
        const reader = openSqliteStore(defaultDbPath(dataDir));
        try {
          const problems: string[] = [];
          for (const [i, { key, names }] of pairs.entries()) {
            const outcomes = settled[i]!.map((s) => (s.status === 'fulfilled' ? { decision: s.value.decision, actionId: s.value.actionId } : fromError(s.reason))) as [Outcome, Outcome];
            const problem = pairProblem(key, names, outcomes, (await reader.getAction(key))?.digest, 'twin');
            if (problem) problems.push(problem);
          }
          expect(problems).toEqual([]);
        } finally {
          await reader.close();
        }
      } finally {
        await client.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);

    it(`in two processes on one SQLite file (${durability}): per key one decision, one ConflictError`, async () => {
      const dir = tempDir();
      const dataDir = path.join(dir, '.ascend');
      const policy = writePolicy(dir, TEST_POLICY);
      const keys = Array.from({ length: PAIRS }, (_, i) => freshKey(i));
      const keysFile = path.join(dir, 'keys.json');
      const goFile = path.join(dir, 'go');
      fs.writeFileSync(keysFile, JSON.stringify(keys));
      // Both open the database first (so neither waits on the other's migrations when it fires).
      const prepare = new AscendClient({ agentId: 'twin', policy, dataDir, logLevel: 'silent' });
      await prepare.evaluateAction({ actionType: 'db.query', parameters: { sql: 'SELECT 0' } });
      await prepare.close();
      const children: ChildProcess[] = [];
      try {
        const sides: Array<{ sql: string; name: CallName }> = [
          { sql: CALLS.select1.parameters.sql, name: 'select1' },
          { sql: CALLS.select2.parameters.sql, name: 'select2' },
        ];
        const runs = sides.map(({ sql }) => {
          const child = spawn(process.execPath, ['--import', TSX_IMPORT, path.join(ROOT, 'test/adversarial/fixtures/evaluate-under-keys.ts'), dataDir, policy, keysFile, goFile, sql, durability], {
            cwd: dir,
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let stdout = '';
          let stderr = '';
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          const ready = new Promise<void>((resolve, reject) => {
            child.stdout.on('data', (d: Buffer) => {
              stdout += d.toString();
              if (stdout.startsWith('ready\n')) resolve();
            });
            child.once('exit', (code) => reject(new Error(`child exited with ${code} before it was ready: ${stderr}`)));
          });
          const done = new Promise<string>((resolve, reject) => {
            child.once('close', (code) => (code === 0 ? resolve(stdout.slice('ready\n'.length)) : reject(new Error(`child exited with ${code}: ${stderr}`))));
          });
          return { child, ready, done };
        });
        children.push(...runs.map((r) => r.child));
        await Promise.all(runs.map((r) => r.ready));
        fs.writeFileSync(goFile, '');
        const [first, second] = (await Promise.all(runs.map((r) => r.done))).map((out) => JSON.parse(out) as Array<Outcome & { key: string }>);
        const reader = openSqliteStore(defaultDbPath(dataDir));
        try {
          const problems: string[] = [];
          for (const [i, key] of keys.entries()) {
            const outcomes: [Outcome, Outcome] = [first![i]!, second![i]!];
            const problem = pairProblem(key, [sides[0]!.name, sides[1]!.name], outcomes, (await reader.getAction(key))?.digest, 'twin');
            if (problem) problems.push(problem);
          }
          expect(problems).toEqual([]);
        } finally {
          await reader.close();
        }
      } finally {
        for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }, 120_000);
  }
});
