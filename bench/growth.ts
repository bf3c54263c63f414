/**
 * `npm run bench:growth`: do costs stay flat as history grows? One embedded SQLite store is
 * filled by real governed calls (`batched`) to each size in turn — 0, 1 M and 10 M events by
 * default (`ASCEND_GROWTH_SIZES=0,100000` for a quick run) — and at each size it measures:
 * - a governed call, p50/p99, `batched` and `sync` (budget: p50 at the largest size ≤ 1.2× at 0);
 * - the dashboard's audit page: the newest 50 events, and the page before a seq;
 * - export: events read in pages of 1,000, per second;
 * - verification of the whole chain, events per second (budget ≥ 200,000/s);
 * - verification from a checkpoint 10,000 events old (budget ≤ 1 s at any size);
 * - bytes of database per governed call (decision + outcome), over the last fill.
 * Then the bytes per governed call on PostgreSQL (`ASCEND_TEST_PG_URL`, a schema of its own,
 * dropped afterwards): 20,000 calls, every table and index of the schema counted.
 * Takes about 5 minutes and 8 GB of disk at 10 M events; run it on an otherwise idle machine.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { AscendClient, parsePolicy } from '../src/index.js';
import { createCheckpointKey, loadCheckpointKey, takeCheckpoint, verifyAuditTrail } from '../src/store/audit-checkpoints.js';
import { defaultDbPath, openSqliteStore } from '../src/store/sqlite.js';
import { openPostgresStore } from '../src/store/postgres.js';
import { LocalTransport } from '../src/transport/local.js';
import pg from 'pg';
import { CALL, tool } from './governed-call.js';
import { isMain, percentile, timeOpsAsync } from './lib.js';
import { BENCH_POLICY_YAML } from './policy-eval.js';

const SIZES = (process.env.ASCEND_GROWTH_SIZES ?? '0,1000000,10000000').split(',').map((s) => Number(s.trim()));
/** Events between the checkpoint and the verification from it. */
const SINCE_CHECKPOINT = 10_000;
const EXPORT_EVENTS = 200_000;

/** One size's figures. */
interface Row {
  events: number;
  batchedP50Us: number;
  batchedP99Us: number;
  syncP50Us: number;
  syncP99Us: number;
  pageUs: number;
  olderPageUs: number;
  exportPerS: number;
  verifyPerS: number;
  fromCheckpointMs: number;
  bytesPerCall: number;
}

function client(dataDir: string, durability: 'sync' | 'batched'): AscendClient {
  return new AscendClient({
    agentId: 'bench-agent',
    policy: parsePolicy(BENCH_POLICY_YAML, 'bench-policy.yaml'),
    dataDir,
    audit: { durability },
    logLevel: 'silent',
  });
}

function databaseBytes(dataDir: string): number {
  const file = defaultDbPath(dataDir);
  return ['', '-wal'].reduce((sum, suffix) => sum + (fs.existsSync(file + suffix) ? fs.statSync(file + suffix).size : 0), 0);
}

/** Governed calls (two events each) until the chain holds `events`; returns the calls made. */
async function fillTo(dataDir: string, events: number, head: number): Promise<number> {
  const calls = Math.max(0, Math.ceil((events - head) / 2));
  if (calls === 0) return 0;
  const filler = client(dataDir, 'batched');
  const started = performance.now();
  for (let i = 0; i < calls; i++) {
    await filler.govern(CALL, tool);
    if (i % 500_000 === 499_999) process.stdout.write(`  … ${((head + 2 * (i + 1)) / 1e6).toFixed(1)} M events (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
  }
  await filler.close();
  return calls;
}

async function measure(dataDir: string, events: number, bytesPerCall: number, key: ReturnType<typeof loadCheckpointKey>): Promise<Row> {
  const batched = client(dataDir, 'batched');
  const batchedUs = await timeOpsAsync(() => batched.govern(CALL, tool), { warmupOps: 2_000, samples: 10_000 });
  await batched.close();
  const sync = client(dataDir, 'sync');
  const syncUs = await timeOpsAsync(() => sync.govern(CALL, tool), { warmupOps: 200, samples: 2_000 });
  await sync.close();

  const store = openSqliteStore(defaultDbPath(dataDir));
  try {
    const [head] = await store.readAudit({ newestFirst: true, limit: 1 });
    const headSeq = head?.seq ?? 0;
    const pageUs = await timeOpsAsync(() => store.readAudit({ newestFirst: true, limit: 50 }), { warmupOps: 50, samples: 300 });
    const olderPageUs = await timeOpsAsync(() => store.readAudit({ newestFirst: true, limit: 50, beforeSeq: Math.max(1, Math.floor(headSeq / 2)) }), { warmupOps: 50, samples: 300 });

    let exported = 0;
    let after = Math.max(0, headSeq - EXPORT_EVENTS);
    const exportStarted = performance.now();
    for (;;) {
      const page = await store.readAudit({ afterSeq: after, limit: 1000 });
      exported += page.length;
      if (page.length < 1000) break;
      after = page[page.length - 1]!.seq;
    }
    const exportPerS = exported / ((performance.now() - exportStarted) / 1000);

    const verifyStarted = performance.now();
    const full = await store.verifyAudit();
    const verifyPerS = full.checked / ((performance.now() - verifyStarted) / 1000);
    if (!full.ok) throw new Error(`the chain does not verify: ${JSON.stringify(full.firstBad)}`);

    await takeCheckpoint(store, key, 'bench', new Date().toISOString());
    await store.close();
    await fillTo(dataDir, headSeq + 2 + SINCE_CHECKPOINT, headSeq + 2);
    const reopened = openSqliteStore(defaultDbPath(dataDir));
    try {
      const fromStarted = performance.now();
      const trail = await verifyAuditTrail(reopened);
      const fromCheckpointMs = performance.now() - fromStarted;
      if (!trail.ok || trail.startedFrom === undefined) throw new Error(`the verification from the checkpoint failed: ${JSON.stringify(trail.firstBad)}`);
      return {
        events,
        batchedP50Us: percentile(batchedUs, 50),
        batchedP99Us: percentile(batchedUs, 99),
        syncP50Us: percentile(syncUs, 50),
        syncP99Us: percentile(syncUs, 99),
        pageUs: percentile(pageUs, 50),
        olderPageUs: percentile(olderPageUs, 50),
        exportPerS,
        verifyPerS,
        fromCheckpointMs,
        bytesPerCall,
      };
    } finally {
      await reopened.close();
    }
  } finally {
    await store.close();
  }
}

function formatCount(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(n % 1e6 === 0 ? 0 : 1)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)} k` : String(n);
}

async function headOf(dataDir: string): Promise<number> {
  const store = openSqliteStore(defaultDbPath(dataDir));
  try {
    return (await store.readAudit({ newestFirst: true, limit: 1 }))[0]?.seq ?? 0;
  } finally {
    await store.close();
  }
}

/** Fill, measure at each size (labelled with the events the store held), print the table and the budgets. */
export async function benchGrowth(): Promise<Row[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ascend-growth-'));
  const dataDir = path.join(dir, '.ascend');
  const rows: Row[] = [];
  try {
    const made = createCheckpointKey();
    const key = loadCheckpointKey(made.privateKeyPem, 'bench key');
    const setup = openSqliteStore(defaultDbPath(dataDir));
    await setup.registerCheckpointKey(made, 'bench', new Date().toISOString());
    await setup.close();
    let head = 1;
    for (const size of SIZES) {
      const bytesBefore = databaseBytes(dataDir);
      console.log(`filling to ${formatCount(size)} events …`);
      const calls = await fillTo(dataDir, size, head);
      const bytesPerCall = calls > 0 ? (databaseBytes(dataDir) - bytesBefore) / calls : Number.NaN;
      rows.push(await measure(dataDir, await headOf(dataDir), bytesPerCall, key));
      head = await headOf(dataDir);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  print(rows);
  return rows;
}

function print(rows: Row[]): void {
  const header = ['events', 'batched p50/p99 µs', 'sync p50/p99 µs', 'audit page µs', 'older page µs', 'export /s', 'verify /s', 'from checkpoint', 'bytes/call'];
  const lines = rows.map((r) => [
    formatCount(r.events),
    `${r.batchedP50Us.toFixed(1)} / ${r.batchedP99Us.toFixed(0)}`,
    `${r.syncP50Us.toFixed(1)} / ${r.syncP99Us.toFixed(0)}`,
    r.pageUs.toFixed(0),
    r.olderPageUs.toFixed(0),
    Math.round(r.exportPerS).toLocaleString('en-US'),
    Math.round(r.verifyPerS).toLocaleString('en-US'),
    `${r.fromCheckpointMs.toFixed(0)} ms`,
    Number.isNaN(r.bytesPerCall) ? '—' : r.bytesPerCall.toFixed(0),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => l[c]!.length)));
  console.log('== growth: one SQLite store filled by governed calls');
  console.log(header.map((h, c) => h.padStart(widths[c]!)).join('  '));
  for (const line of lines) console.log(line.map((cell, c) => cell.padStart(widths[c]!)).join('  '));
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  const verdict = (ok: boolean): string => (ok ? 'OK' : 'MISSED');
  const batchedRatio = last.batchedP50Us / first.batchedP50Us;
  const syncRatio = last.syncP50Us / first.syncP50Us;
  const slowestVerify = Math.min(...rows.map((r) => r.verifyPerS));
  const slowestFromCheckpoint = Math.max(...rows.map((r) => r.fromCheckpointMs));
  console.log(`budget: batched p50 at ${formatCount(last.events)} ≤ 1.2× at ${formatCount(first.events)}: ${batchedRatio.toFixed(2)}× ${verdict(batchedRatio <= 1.2)}`);
  console.log(`budget: sync p50 at ${formatCount(last.events)} ≤ 1.2× at ${formatCount(first.events)}: ${syncRatio.toFixed(2)}× ${verdict(syncRatio <= 1.2)}`);
  console.log(`budget: verify ≥ 200,000 events/s: slowest ${Math.round(slowestVerify).toLocaleString('en-US')}/s ${verdict(slowestVerify >= 200_000)}`);
  console.log(`budget: verify from a checkpoint ${SINCE_CHECKPOINT.toLocaleString('en-US')} events old ≤ 1 s: slowest ${slowestFromCheckpoint.toFixed(0)} ms ${verdict(slowestFromCheckpoint <= 1000)}`);
}

/** Governed calls on PostgreSQL measured by the schema's size: bytes per call. */
export async function benchPostgresBytes(calls = 20_000): Promise<number> {
  const url = process.env.ASCEND_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `ascend_bench_bytes_${process.pid}`;
  const store = await openPostgresStore(url, { schema, durability: 'batched' });
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  // The client owns the transport, which closes the store with it.
  const transport = new LocalTransport({ policy: parsePolicy(BENCH_POLICY_YAML, 'bench-policy.yaml'), openStore: () => store });
  const agent = new AscendClient({ agentId: 'bench-agent', transport, logLevel: 'silent' });
  try {
    for (let i = 0; i < calls; i++) await agent.govern(CALL, tool);
    await store.flush();
    await admin.query('VACUUM ANALYZE');
    const sizes = await admin.query<{ relname: string; bytes: string }>(
      `SELECT c.relname, pg_total_relation_size(c.oid) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 2 DESC`,
      [schema],
    );
    const perCall = (bytes: string): number => Number(bytes) / calls;
    const total = sizes.rows.reduce((sum, r) => sum + perCall(r.bytes), 0);
    const largest = sizes.rows.slice(0, 3).map((r) => `${r.relname} ${perCall(r.bytes).toFixed(0)}`);
    console.log(`== bytes per governed call on PostgreSQL (${calls.toLocaleString('en-US')} calls, tables and their indexes): ${total.toFixed(0)} (${largest.join(', ')})`);
    return total;
  } finally {
    await agent.close();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
}

if (isMain(import.meta.url)) {
  console.log(`ascend-sdk growth benchmark — Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}\n`);
  await benchGrowth();
  await benchPostgresBytes();
}
