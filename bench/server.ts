/**
 * `npm run bench:server`: `ascend serve` (SQLite, group commit: each answer after its commit; one process) against a bare
 * Fastify JSON endpoint, both child processes on this machine, measured in the same run:
 * - throughput and latency at 50 connections (autocannon): evaluate vs the bare endpoint, and
 *   evaluate on a server whose SQLite store is in memory (what is left when the disk is free);
 * - the client-observed round trip of one evaluate (`AscendClient.evaluateAction` over HTTP:
 *   validation, redaction, digest, fetch, response validation) vs a bare `fetch` to the bare
 *   endpoint with the same body, taking turns in blocks.
 * - approve on one replica → the agent waiting on another runs (two replicas on PostgreSQL).
 * Budgets (docs/architecture.md#performance-budgets): throughput ≥ 50% of the bare endpoint's, p99 ≤ 10 ms at 50 connections;
 * client-observed ≤ 1.5× the bare round trip; wake-up p95 ≤ 250 ms.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { callDigest } from '../src/canonical.js';
import { AscendClient } from '../src/index.js';
import { generateApiKey } from '../src/server/api-keys.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import { measureWakes, percentile, printResult, printWakes, raceAsync } from './lib.js';
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

async function load(url: string, body: string, headers: Record<string, string>): Promise<autocannon.Result> {
  return autocannon({ url, method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, connections: CONNECTIONS, duration: DURATION_S });
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

    const parameters = { sql: 'SELECT id, name FROM customers WHERE id = 42' };
    const evaluateBody = JSON.stringify({
      agentId: 'bench-agent',
      actionType: 'db.query',
      resource: 'production_db',
      parameters,
      digest: callDigest({ agentId: 'bench-agent', actionType: 'db.query', resource: 'production_db', parameters }),
    });

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
      const evalLoad = await load(`${ascend.url}/v1/actions/evaluate`, evaluateBody, auth);
      const memLoad = await load(`${inMemory.url}/v1/actions/evaluate`, evaluateBody, auth);
      for (const [name, r] of [['evaluate', evalLoad], ['in-memory evaluate', memLoad]] as const) {
        if (r.non2xx > 0 || r.errors > 0) throw new Error(`${name} load had ${r.non2xx} non-2xx answers and ${r.errors} errors`);
      }
      const ratio = evalLoad.requests.average / bareLoad.requests.average;
      const memRatio = memLoad.requests.average / bareLoad.requests.average;
      const verdict = (ok: boolean): string => (ok ? 'OK' : 'MISSED');
      const row = (label: string, r: autocannon.Result): string =>
        `  ${label.padEnd(34)} ${r.requests.average.toFixed(0).padStart(7)} req/s   p50 ${r.latency.p50} ms   p99 ${r.latency.p99} ms`;
      console.log(`Throughput at ${CONNECTIONS} connections, ${DURATION_S} s each (autocannon)`);
      console.log(row('bare Fastify JSON endpoint', bareLoad));
      console.log(
        row('ascend evaluate (group commit)', evalLoad) +
          `   ${(ratio * 100).toFixed(0)}% of bare (budget ≥ 50%: ${verdict(ratio >= 0.5)}), p99 budget ≤ 10 ms: ${verdict(evalLoad.latency.p99 <= 10)}` +
          `, ≥ 10,000/s: ${verdict(evalLoad.requests.average >= 10_000)}`,
      );
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

/**
 * Approve on replica B → the agent waiting on replica A runs: two `ascend serve` processes on
 * one PostgreSQL schema, `rounds` approvals one after another.
 */
export async function benchClusterWake(rounds = 40): Promise<void> {
  const pgUrl = process.env.ASCEND_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `ascend_bench_${process.pid}`;
  const db = `${pgUrl}?schema=${schema}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ascend-bench-cluster-'));
  const { openPostgresStore } = await import('../src/store/postgres.js');
  let store;
  try {
    store = await openPostgresStore(pgUrl, { schema });
  } catch (err) {
    console.log(`Cluster wake-up: skipped, no PostgreSQL at ${pgUrl} (${(err as Error).message})`);
    return;
  }
  const agentKey = generateApiKey({ name: 'bench-agent', role: 'agent', org: 'default', createdBy: 'bench' });
  const approverKey = generateApiKey({ name: 'bench-approver', role: 'approver', org: 'default', createdBy: 'bench' });
  await store.createApiKey(agentKey.record);
  await store.createApiKey(approverKey.record);
  await store.close();
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
    const { default: pg } = await import('pg');
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  printWakes(`Approve on replica B → agent waiting on replica A runs (PostgreSQL LISTEN/NOTIFY, ${rounds} rounds)`, delaysMs);
}

console.log(`ascend-sdk server benchmarks — Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}\n`);
await benchServer();
console.log();
await benchClusterWake();
