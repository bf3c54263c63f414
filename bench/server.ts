/**
 * `npm run bench:server`: `ascend serve` (SQLite, group commit: each answer after its commit; one process) against a bare
 * Fastify JSON endpoint, both child processes on this machine, measured in the same run:
 * - throughput at saturation, 50 connections (autocannon): evaluate vs the bare endpoint, and
 *   evaluate on a server whose SQLite store is in memory (what is left when the disk is free);
 * - latency at a load the server sustains: evaluate offered half of its own saturated throughput,
 *   evenly spaced (an open loop, bench/open-loop.ts), and the bare endpoint offered the same;
 * - the client-observed round trip of one evaluate (`AscendClient.evaluateAction` over HTTP:
 *   validation, redaction, digest, fetch, response validation) vs a bare `fetch` to the bare
 *   endpoint with the same body, taking turns in blocks;
 * - approve on one replica → the agent waiting on another runs (two replicas on PostgreSQL);
 * - the cluster's write ceiling: one and two replicas on one PostgreSQL schema, and how long their
 *   group commits hold the chain lock.
 * Budgets (docs/architecture.md#performance-budgets): throughput at saturation ≥ 30% of the bare
 * endpoint's; p99 ≤ 10 ms at half load; client-observed ≤ 1.5× the bare round trip; wake-up p95 ≤ 250 ms.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { callDigest } from '../src/core/call-digest.js';
import { AscendClient } from '../src/index.js';
import { generateApiKey, type NewApiKey } from '../src/server/api-keys.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import { offerConstantRate, type OpenLoopResult } from './open-loop.js';
import { coresUsedDuring } from './process-cpu.js';
import { isMain, measureWakes, percentile, printResult, printWakes, raceAsync } from './lib.js';
import { HttpClient } from '../src/transport/http-client.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TSX = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 8);
const CONNECTIONS = 50;

const POLICY = `version: 1
default: deny
rules:
  - id: reads
    actions: ["db.query"]
    when: 'parameters.sql.matches("(?i)^\\\\s*select\\\\b")'
    effect: allow
`;

/** The evaluated call's arguments, and the body of `POST /v1/actions/evaluate` every load sends. */
const PARAMETERS = { sql: 'SELECT id, name FROM customers WHERE id = 42' };
const EVALUATE_BODY = JSON.stringify({
  agentId: 'bench-agent',
  actionType: 'db.query',
  resource: 'production_db',
  parameters: PARAMETERS,
  digest: callDigest({ agentId: 'bench-agent', actionType: 'db.query', resource: 'production_db', parameters: PARAMETERS }),
});

function start(args: string[], cwd: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', TSX, ...args], { cwd, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ASCEND_LOG_LEVEL: 'warn' } });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ url: m[1]!, child });
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Saturate `url` with `connections` connections (autocannon). */
async function load(url: string, body: string, headers: Record<string, string>, connections = CONNECTIONS): Promise<autocannon.Result> {
  return autocannon({
    url,
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
    connections,
    duration: DURATION_S,
  });
}

export async function benchServer(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ascend-bench-server-'));
  try {
    fs.writeFileSync(path.join(dir, 'policy.yaml'), POLICY);
    const dbPath = path.join(dir, 'ascend.db');
    const key = generateApiKey({ name: 'bench', role: 'agent', org: 'default', createdBy: 'bench' });
    const store = openSqliteStore(dbPath);
    await store.createApiKey(key.record);
    await store.close();

    const parameters = PARAMETERS;
    const evaluateBody = EVALUATE_BODY;

    const bare = await start([path.join(ROOT, 'bench/fixtures/bare-fastify.ts')], dir);
    const ascend = await start([path.join(ROOT, 'src/cli/main.ts'), 'serve', '--db', `sqlite:${dbPath}`, '--policy', 'policy.yaml', '--port', '0'], dir);
    fs.writeFileSync(path.join(dir, 'key.json'), JSON.stringify(key.record));
    const inMemory = await start([path.join(ROOT, 'bench/fixtures/memory-store-serve.ts'), 'policy.yaml', 'key.json'], dir);
    try {
      const auth = { authorization: `Bearer ${key.apiKey}` };
      // Warm each up, then load one at a time.
      await autocannon({ url: `${bare.url}/bare`, method: 'POST', body: evaluateBody, headers: { 'content-type': 'application/json' }, connections: 10, duration: 1 });
      await autocannon({ url: `${ascend.url}/v1/actions/evaluate`, method: 'POST', body: evaluateBody, headers: { 'content-type': 'application/json', ...auth }, connections: 10, duration: 1 });
      await autocannon({ url: `${inMemory.url}/v1/actions/evaluate`, method: 'POST', body: evaluateBody, headers: { 'content-type': 'application/json', ...auth }, connections: 10, duration: 1 });
      const bareLoad = await load(`${bare.url}/bare`, evaluateBody, {});
      const { result: evalLoad, cores: evalCores } = await coresUsedDuring(ascend.child.pid, () => load(`${ascend.url}/v1/actions/evaluate`, evaluateBody, auth));
      const memLoad = await load(`${inMemory.url}/v1/actions/evaluate`, evaluateBody, auth);
      // Latency is judged at a load the server sustains: half of its own saturated throughput.
      const halfRate = evalLoad.requests.average / 2;
      // Offered evenly (an open loop), not with autocannon's rate limit: see bench/open-loop.ts.
      // How busy the server is then: an evenly offered request can cost it more CPU than one of a
      // saturated stream, so half the requests need not be half the CPU (bench/process-cpu.ts).
      const { result: halfLoad, cores: halfCores } = await coresUsedDuring(ascend.child.pid, () =>
        offerConstantRate({ url: `${ascend.url}/v1/actions/evaluate`, method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: evaluateBody, ratePerS: halfRate, durationS: DURATION_S }),
      );
      // What the generator and the HTTP stack cost at this rate: the bare endpoint offered the same.
      const bareHalfLoad = await offerConstantRate({ url: `${bare.url}/bare`, method: 'POST', headers: { 'content-type': 'application/json' }, body: evaluateBody, ratePerS: halfRate, durationS: DURATION_S });
      for (const [name, r] of [['evaluate', evalLoad], ['in-memory evaluate', memLoad], ['evaluate at half load', halfLoad], ['bare at half load', bareHalfLoad]] as const) {
        if (r.non2xx > 0 || r.errors > 0) throw new Error(`${name} load had ${r.non2xx} non-2xx answers and ${r.errors} errors`);
      }
      const ratio = evalLoad.requests.average / bareLoad.requests.average;
      const memRatio = memLoad.requests.average / bareLoad.requests.average;
      const verdict = (ok: boolean): string => (ok ? 'OK' : 'MISSED');
      const row = (label: string, r: autocannon.Result): string =>
        `  ${label.padEnd(34)} ${r.requests.average.toFixed(0).padStart(7)} req/s   p50 ${r.latency.p50} ms   p99 ${r.latency.p99} ms`;
      console.log(`Throughput at ${CONNECTIONS} connections, ${DURATION_S} s each (autocannon)`);
      console.log(row('bare Fastify JSON endpoint', bareLoad));
      console.log(row('ascend evaluate (group commit)', evalLoad) + `   ${(ratio * 100).toFixed(1)}% of bare at saturation (budget ≥ 30%: ${verdict(ratio >= 0.3)})`);
      const openRow = (label: string, r: OpenLoopResult): string =>
        `  ${label.padEnd(34)} ${r.completedPerS.toFixed(0).padStart(7)} req/s   p50 ${r.p50Ms.toFixed(1)} ms   p99 ${r.p99Ms.toFixed(1)} ms`;
      console.log(openRow(`  offered ${Math.round(halfRate)} req/s evenly (half)`, halfLoad) + `   p99 budget ≤ 10 ms at half load: ${verdict(halfLoad.p99Ms <= 10)}`);
      console.log(openRow('  bare endpoint offered the same', bareHalfLoad) + '   the generator and HTTP at this rate: a floor for the row above');
      if (evalCores !== undefined && halfCores !== undefined) {
        const us = (cores: number, ratePerS: number): string => ((cores * 1e6) / ratePerS).toFixed(0);
        console.log(
          `    server CPU: ${evalCores.toFixed(2)} cores saturated (${us(evalCores, evalLoad.requests.average)} µs a request), ` +
            `${halfCores.toFixed(2)} at half load (${us(halfCores, halfLoad.completedPerS)} µs a request): the half load keeps it ${((halfCores / evalCores) * 100).toFixed(0)}% as busy as saturation`,
        );
      }
      console.log(row('  the same, store in memory', memLoad) + `   ${(memRatio * 100).toFixed(0)}% of bare: what evaluate costs when commits cost no file I/O`);
      console.log();

      const client = new AscendClient({ agentId: 'bench-agent', apiUrl: ascend.url, apiKey: key.apiKey, logLevel: 'warn', dataDir: path.join(dir, 'client') });
      const call = { actionType: 'db.query', resource: 'production_db', parameters };
      // Why the client does not use fetch: the same exchange through http.request, side by side.
      const bareHttp = new HttpClient();
      const bareUrl = new URL(`${bare.url}/bare`);
      const [remote, fetchOnly, httpOnly] = await raceAsync(
        [
          { label: 'client.evaluateAction over HTTP', op: () => client.evaluateAction(call) },
          {
            label: 'bare fetch round trip (same body)',
            op: async () => {
              const r = await fetch(`${bare.url}/bare`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: evaluateBody });
              return r.json();
            },
          },
          {
            label: 'bare http.request round trip (same body)',
            op: async () => JSON.parse((await bareHttp.send({ method: 'POST', url: bareUrl, headers: { 'content-type': 'application/json' }, body: evaluateBody, timeoutMs: 10_000 })).text),
          },
        ],
        { samples: 3000, warmupOps: 500, blockSize: 100 },
      );
      await client.close();
      bareHttp.close();
      const over = percentile(remote!.samplesUs, 50) / percentile(fetchOnly!.samplesUs, 50);
      printResult({
        name: 'Client-observed round trip, one call at a time',
        rows: [
          { label: fetchOnly!.label, p50Us: percentile(fetchOnly!.samplesUs, 50), p99Us: percentile(fetchOnly!.samplesUs, 99), note: 'baseline' },
          {
            label: httpOnly!.label,
            p50Us: percentile(httpOnly!.samplesUs, 50),
            p99Us: percentile(httpOnly!.samplesUs, 99),
            note: `what the client's transport uses: ${(percentile(fetchOnly!.samplesUs, 50) - percentile(httpOnly!.samplesUs, 50)).toFixed(0)} µs less than fetch at p50`,
          },
          {
            label: remote!.label,
            p50Us: percentile(remote!.samplesUs, 50),
            p99Us: percentile(remote!.samplesUs, 99),
            note: `${over.toFixed(2)}× the bare round trip at p50 (budget ≤ 1.5×: ${verdict(over <= 1.5)}); includes the server's decision commit`,
          },
        ],
      });
    } finally {
      await stop(bare.child);
      await stop(ascend.child);
      await stop(inMemory.child);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A fresh PostgreSQL schema with one key per role asked for, and a scratch directory; undefined when PostgreSQL is not reachable. */
async function benchSchema(
  label: string,
  roles: readonly ('agent' | 'approver' | 'admin')[],
): Promise<{ pgUrl: string; db: string; dir: string; keys: Record<string, NewApiKey>; drop(): Promise<void> } | undefined> {
  const pgUrl = process.env.ASCEND_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `ascend_bench_${label}_${process.pid}`;
  const { openPostgresStore } = await import('../src/store/postgres.js');
  let store;
  try {
    store = await openPostgresStore(pgUrl, { schema });
  } catch (err) {
    console.log(`Cluster ${label}: skipped, no PostgreSQL at ${pgUrl} (${(err as Error).message})`);
    return undefined;
  }
  const keys: Record<string, NewApiKey> = {};
  for (const role of roles) {
    keys[role] = generateApiKey({ name: `bench-${role}`, role, org: 'default', createdBy: 'bench' });
    await store.createApiKey(keys[role].record);
  }
  await store.close();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ascend-bench-${label}-`));
  return {
    pgUrl,
    db: `${pgUrl}?schema=${schema}`,
    dir,
    keys,
    async drop() {
      const { default: pg } = await import('pg');
      const admin = new pg.Client({ connectionString: pgUrl });
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Approve on replica B → the agent waiting on replica A runs: two `ascend serve` processes on
 * one PostgreSQL schema, `rounds` approvals one after another.
 */
export async function benchClusterWake(rounds = 40): Promise<void> {
  const bench = await benchSchema('wake', ['agent', 'approver']);
  if (bench === undefined) return;
  const { db, dir } = bench;
  const agentKey = bench.keys.agent!;
  const approverKey = bench.keys.approver!;
  fs.writeFileSync(
    path.join(dir, 'policy.yaml'),
    'version: 1\ndefault: deny\nrules:\n  - id: transfers\n    actions: ["payments.transfer"]\n    effect: require_approval\n',
  );
  const serve = [path.join(ROOT, 'src/cli/main.ts'), 'serve', '--db', db, '--policy', 'policy.yaml', '--port', '0'];
  const a = await start(serve, dir);
  const b = await start(serve, dir);
  const client = new AscendClient({ agentId: 'bench-agent', apiUrl: a.url, apiKey: agentKey.apiKey, logLevel: 'warn', dataDir: path.join(dir, 'client') });
  const approver = { authorization: `Bearer ${approverKey.apiKey}` };
  let delaysMs: number[];
  try {
    delaysMs = await measureWakes(
      client,
      rounds,
      {
        findPending: async () => {
          const list = (await (await fetch(`${b.url}/v1/approvals?status=pending`, { headers: approver })).json()) as { approvals: Array<{ approvalId: string }> };
          return list.approvals[0]?.approvalId;
        },
        approve: async (approvalId) => {
          const sent = await fetch(`${b.url}/v1/approvals/${approvalId}/approve`, { method: 'POST', headers: { ...approver, 'content-type': 'application/json' }, body: '{}' });
          if (!sent.ok) throw new Error(`approve failed: ${sent.status}`);
        },
      },
      () => 50, // the agent is in its long-poll on A
    );
  } finally {
    await client.close();
    await stop(a.child);
    await stop(b.child);
    await bench.drop();
  }
  printWakes(`Approve on replica B → agent waiting on replica A runs (PostgreSQL LISTEN/NOTIFY, ${rounds} rounds)`, delaysMs);
}

/** The chain-lock counters of a replica's `/metrics` (admin key). */
async function chainLock(url: string, adminKey: string): Promise<{ holdSeconds: number; commits: number; events: number }> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${adminKey}` } })).text();
  const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { holdSeconds: value('ascend_chain_lock_hold_seconds_total'), commits: value('ascend_chain_commits_total'), events: value('ascend_chain_events_total') };
}

/**
 * The cluster's write ceiling: evaluate throughput of one and of two `ascend serve` replicas on
 * one PostgreSQL schema, and how long their group commits held the one chain lock
 * (`ascend_chain_lock_hold_seconds_total`). Everything shares this machine's cores.
 */
export async function benchClusterThroughput(): Promise<void> {
  const bench = await benchSchema('throughput', ['agent', 'admin']);
  if (bench === undefined) return;
  const { db, dir } = bench;
  const agentKey = bench.keys.agent!;
  const adminKey = bench.keys.admin!;
  fs.writeFileSync(path.join(dir, 'policy.yaml'), POLICY);
  const body = EVALUATE_BODY;
  const auth = { authorization: `Bearer ${agentKey.apiKey}` };
  const serve = [path.join(ROOT, 'src/cli/main.ts'), 'serve', '--db', db, '--policy', 'policy.yaml', '--port', '0'];
  const a = await start(serve, dir);
  let b: { url: string; child: ChildProcess } | undefined;
  const rows: string[] = [];
  const round = async (label: string, urls: string[]): Promise<void> => {
    const before = await Promise.all(urls.map((u) => chainLock(u, adminKey.apiKey)));
    const started = performance.now();
    const results = await Promise.all(urls.map((u) => load(`${u}/v1/actions/evaluate`, body, auth, Math.round(CONNECTIONS / urls.length))));
    const seconds = (performance.now() - started) / 1000;
    const after = await Promise.all(urls.map((u) => chainLock(u, adminKey.apiKey)));
    for (const r of results) if (r.non2xx > 0 || r.errors > 0) throw new Error(`${label}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
    const sum = (pick: (x: { holdSeconds: number; commits: number; events: number }) => number): number => after.reduce((t, x, i) => t + pick(x) - pick(before[i]!), 0);
    const hold = sum((x) => x.holdSeconds);
    const commits = sum((x) => x.commits);
    const events = sum((x) => x.events);
    const reqPerS = results.reduce((t, r) => t + r.requests.average, 0);
    const meanHoldMs = (hold / commits) * 1000;
    const busy = hold / seconds;
    const ceiling = events / commits / (hold / commits);
    rows.push(
      `  ${label.padEnd(12)} ${reqPerS.toFixed(0).padStart(7)} req/s   p99 ${Math.max(...results.map((r) => r.latency.p99))} ms   ` +
        `${(commits / seconds).toFixed(0)} commits/s of ${(events / commits).toFixed(1)} events, lock held ${meanHoldMs.toFixed(2)} ms each, ` +
        `chain busy ${(busy * 100).toFixed(0)}% → ceiling ≈ ${Math.round(ceiling).toLocaleString('en-US')} events/s at this commit size`,
    );
  };
  try {
    await load(`${a.url}/v1/actions/evaluate`, body, auth, 10); // warm up
    await round('1 replica', [a.url]);
    b = await start(serve, dir);
    await load(`${b.url}/v1/actions/evaluate`, body, auth, 10);
    await round('2 replicas', [a.url, b.url]);
  } finally {
    await stop(a.child);
    if (b) await stop(b.child);
    await bench.drop();
  }
  console.log(`Cluster on one PostgreSQL schema: evaluate at ${CONNECTIONS} connections in all, ${DURATION_S} s each (one chain lock per group commit)`);
  for (const row of rows) console.log(row);
}

if (isMain(import.meta.url)) {
  console.log(`ascend-sdk server benchmarks — Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}\n`);
  await benchServer();
  console.log();
  await benchClusterWake();
  console.log();
  await benchClusterThroughput();
}
