/**
 * Benchmark (b): one embedded governed call — evaluate a 20-rule policy, record the decision,
 * run the tool, record the completion, hash-chained — in both durability modes, side by side in
 * the same run (round-robin, see `raceAsync`) with:
 * - a bare call of the same tool (what governance adds is measured against it);
 * - the floor of `sync` mode: two bare one-row better-sqlite3 commits (WAL, same pragmas), each
 *   row as large as the audit rows a governed call writes;
 * - the SQL of a sync-mode call alone, with no JS work (how much of the gap is SQLite's);
 * - `@microsoft/agent-governance-sdk`'s in-memory `executeWithGovernance` on equivalent rules.
 *
 *   npx tsx bench/governed-call.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { AgentMeshClient } from '@microsoft/agent-governance-sdk';
import { AscendClient, parsePolicy } from '../src/index.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import { isMain, percentile, printResult, raceAsync, type BenchResult, type RaceResult } from './lib.js';
import { BENCH_POLICY_YAML } from './policy-eval.js';

const SAMPLES = 10_000;
const WARMUP = 2_000;

/** The governed call: an allowed read, as most of an agent's calls are. */
export const CALL = {
  actionType: 'database.query',
  resource: 'production_db',
  parameters: { query: 'SELECT id, name FROM customers WHERE id = 42' },
};
export const tool = async (): Promise<number> => 42;

/** The 20 rules again as agent-governance-sdk flat rules (action globs, equality conditions,
 * first match wins) — as close as its rule language allows. */
const AGT_RULES = [
  { action: 'database.query', effect: 'allow' },
  { action: 'database.*', conditions: { dangerous: true }, effect: 'deny' },
  { action: 'database.execute', effect: 'review' },
  { action: 'email.send', conditions: { internal: true }, effect: 'allow' },
  { action: 'email.send', effect: 'review' },
  { action: 'financial.transfer', conditions: { large: true }, effect: 'review' },
  { action: 'financial.transfer', effect: 'allow' },
  { action: 'file.read', effect: 'allow' },
  { action: 'file.write', conditions: { system: true }, effect: 'deny' },
  { action: 'file.write', effect: 'allow' },
  { action: 'file.delete', effect: 'review' },
  { action: 'shell.exec', conditions: { destructive: true }, effect: 'deny' },
  { action: 'shell.exec', effect: 'review' },
  { action: 'http.get', effect: 'allow' },
  { action: 'http.post', conditions: { external: true }, effect: 'review' },
  { action: 'http.post', effect: 'allow' },
  { action: 'crm.*', effect: 'allow' },
  { action: 'slack.post', effect: 'allow' },
  { action: 'calendar.create', effect: 'review' },
  { action: 'secrets.read', effect: 'deny' },
] as const;

function client(dir: string, durability: 'sync' | 'batched'): AscendClient {
  return new AscendClient({
    agentId: 'bench-agent',
    policy: parsePolicy(BENCH_POLICY_YAML, 'bench-policy.yaml'),
    dataDir: path.join(dir, durability),
    audit: { durability },
    logLevel: 'silent',
  });
}

/** A decision and an outcome row as a governed call writes them. */
interface SampleRows {
  decision: { type: string; agentId: string; data: string; hash: string };
  outcome: { type: string; agentId: string; data: string; hash: string };
  /** Average bytes of such rows (all columns). */
  bytes: number;
}

/** Run a few governed calls on a scratch store and read back what they wrote. */
async function sampleRows(dir: string): Promise<SampleRows> {
  const probe = client(path.join(dir, 'probe'), 'sync');
  for (let i = 0; i < 50; i++) await probe.govern(CALL, tool);
  await probe.close();
  const db = new Database(path.join(dir, 'probe', 'sync', 'ascend.db'), { readonly: true });
  const row = (type: string): SampleRows['decision'] =>
    db.prepare('SELECT type, agent_id AS agentId, data, hash FROM audit_events WHERE type = ? ORDER BY seq DESC LIMIT 1').get(type) as SampleRows['decision'];
  const bytes = db
    .prepare(
      `SELECT avg(8 + length(ts) + length(type) + length(agent_id) + length(action_id) + length(actor) + length(data)
                  + length(prev_hash) + length(hash))
       FROM audit_events WHERE type IN ('action.evaluated', 'action.completed')`,
    )
    .pluck()
    .get() as number;
  const rows = { decision: row('action.evaluated'), outcome: row('action.completed'), bytes: Math.round(bytes) };
  db.close();
  return rows;
}

/** Two bare one-row commits per call on a fresh WAL database, the pragmas the Store uses. */
function floorOp(dir: string, rowBytes: number): { op: () => void; close: () => void } {
  const db = new Database(path.join(dir, 'floor.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
  const row = 'x'.repeat(rowBytes);
  return {
    op: () => {
      insert.run(row); // autocommit: one transaction each
      insert.run(row);
    },
    close: () => db.close(),
  };
}

/**
 * The SQL a sync-mode governed call runs, every string and hash prepared beforehand: the lower
 * bound of `sync` mode on this schema. Per call two transactions: BEGIN IMMEDIATE, read the
 * chain head, (decision only) check the agent's version and the action id, insert the audit
 * row, COMMIT.
 */
async function sqlOnlyOp(dir: string, rows: SampleRows): Promise<{ op: () => void; close: () => void }> {
  const file = path.join(dir, 'sql-only.db');
  await openSqliteStore(file).close(); // the real schema
  const db = new Database(file);
  db.pragma('synchronous = NORMAL');
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const head = db.prepare('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1').raw();
  const check = db
    .prepare('SELECT (SELECT version FROM agents WHERE agent_id = ?), (SELECT 1 FROM action_index WHERE action_id = ?)')
    .raw();
  const insert = db.prepare(
    'INSERT INTO audit_events (seq, ts, type, agent_id, action_id, approval_id, actor, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)',
  );
  const ts = new Date().toISOString();
  let n = 0;
  const append = (row: SampleRows['decision'], actionId: string, withCheck: boolean): void => {
    begin.run();
    const h = head.get() as [number, string] | undefined;
    if (withCheck) check.get(row.agentId, actionId);
    insert.run((h ? h[0] : 0) + 1, ts, row.type, row.agentId, actionId, row.agentId, row.data, h ? h[1] : row.hash, row.hash);
    commit.run();
  };
  return {
    op: () => {
      const actionId = `action-${n++}`;
      append(rows.decision, actionId, true);
      append(rows.outcome, actionId, false);
    },
    close: () => db.close(),
  };
}

function agtOp(): () => Promise<number> {
  const agm = AgentMeshClient.create('bench-agent', { policyRules: AGT_RULES.map((r) => ({ ...r })) as never });
  return async () => {
    const result = await agm.executeWithGovernance(CALL.actionType, CALL.parameters);
    if (result.decision !== 'allow') throw new Error(`agent-governance-sdk said ${result.decision}`);
    return tool();
  };
}

/** What the budgets are checked against, also used by the README. */
export interface GovernedCallFigures {
  bareP50Us: number;
  floorP50Us: number;
  batchedOverBareP50Us: number;
  batchedOverBareP99Us: number;
  syncOverFloorP50: number;
  agtOverBatchedP50: number;
}

/** Run the comparison and return its rows. */
export async function benchGovernedCall(): Promise<BenchResult & { figures: GovernedCallFigures }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ascend-bench-'));
  try {
    const rows = await sampleRows(dir);
    const floor = floorOp(dir, rows.bytes);
    const sqlOnly = await sqlOnlyOp(dir, rows);
    const batched = client(dir, 'batched');
    const sync = client(dir, 'sync');
    const results = await raceAsync(
      [
        { label: 'bare tool call', op: tool },
        { label: `floor: two bare one-row commits (${rows.bytes} B rows)`, op: floor.op },
        { label: 'sync-mode SQL alone (no JS work)', op: sqlOnly.op },
        { label: 'ascend govern(), batched', op: () => batched.govern(CALL, tool) },
        { label: 'ascend govern(), sync', op: () => sync.govern(CALL, tool) },
        { label: 'agent-governance-sdk executeWithGovernance', op: agtOp() },
      ],
      { samples: SAMPLES, warmupOps: WARMUP },
    );
    await batched.close();
    await sync.close();
    floor.close();
    sqlOnly.close();

    const [bare, floorR, sqlR, batchedR, syncR, agt] = results as [RaceResult, RaceResult, RaceResult, RaceResult, RaceResult, RaceResult];
    const p50 = (r: RaceResult): number => percentile(r.samplesUs, 50);
    const p99 = (r: RaceResult): number => percentile(r.samplesUs, 99);
    const figures: GovernedCallFigures = {
      bareP50Us: p50(bare),
      floorP50Us: p50(floorR),
      batchedOverBareP50Us: p50(batchedR) - p50(bare),
      batchedOverBareP99Us: p99(batchedR) - p99(bare),
      syncOverFloorP50: p50(syncR) / p50(floorR),
      agtOverBatchedP50: p50(agt) / p50(batchedR),
    };
    const verdict = (ok: boolean): string => (ok ? 'OK' : 'MISSED');
    const wall = (r: RaceResult): string => `wall ${(r.wallPerCallUs - bare.wallPerCallUs).toFixed(1)} µs/call over bare incl. background work`;
    return {
      name: 'Embedded governed call (evaluate 20 rules + decision record + completion record, hash-chained)',
      rows: [
        { label: bare.label, p50Us: p50(bare), p99Us: p99(bare), note: 'baseline' },
        { label: floorR.label, p50Us: p50(floorR), p99Us: p99(floorR), note: `the sync-mode floor; ${wall(floorR)}` },
        {
          label: sqlR.label,
          p50Us: p50(sqlR),
          p99Us: p99(sqlR),
          note: `${(p50(sqlR) / p50(floorR)).toFixed(2)}× the floor: what the schema and the chain cost before any JS runs`,
        },
        {
          label: batchedR.label,
          p50Us: p50(batchedR),
          p99Us: p99(batchedR),
          note:
            `+${figures.batchedOverBareP50Us.toFixed(1)} µs p50 (budget ≤ 15: ${verdict(figures.batchedOverBareP50Us <= 15)}), ` +
            `+${figures.batchedOverBareP99Us.toFixed(1)} µs p99 (budget ≤ 100: ${verdict(figures.batchedOverBareP99Us <= 100)}) over bare; ${wall(batchedR)}`,
        },
        {
          label: syncR.label,
          p50Us: p50(syncR),
          p99Us: p99(syncR),
          note: `${figures.syncOverFloorP50.toFixed(2)}× the floor at p50 (budget ≤ 2.5×: ${verdict(figures.syncOverFloorP50 <= 2.5)}); ${wall(syncR)}`,
        },
        {
          label: agt.label,
          p50Us: p50(agt),
          p99Us: p99(agt),
          note:
            `in-memory audit, nothing on disk; its p50 / ascend batched p50 = ${figures.agtOverBatchedP50.toFixed(2)} ` +
            `(a reference, not a budget); ${wall(agt)}`,
        },
      ],
      figures,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) {
  printResult(await benchGovernedCall());
}
