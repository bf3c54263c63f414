/**
 * Benchmark (b): one embedded governed call — evaluate a 20-rule policy, record the decision,
 * run the tool, record the completion, hash-chained — in both durability modes, side by side in
 * the same run with:
 * - a bare call of the same tool (what governance adds is measured against it);
 * - the floor of `sync` mode: two bare one-row better-sqlite3 commits, same pragmas;
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
import { isMain, percentile, printResult, timeOpsAsync, type BenchResult } from './lib.js';
import { BENCH_POLICY_YAML } from './policy-eval.js';

const SAMPLES = 10_000;
const WARMUP = 2_000;

/** The governed call: an allowed read, as most of an agent's calls are. */
const CALL = {
  actionType: 'database.query',
  resource: 'production_db',
  parameters: { query: 'SELECT id, name FROM customers WHERE id = 42' },
};
const tool = async (): Promise<number> => 42;

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

/** Two bare one-row commits per sample on a fresh WAL database, the pragmas the Store uses. */
async function floorSamples(dir: string): Promise<number[]> {
  const db = new Database(path.join(dir, 'floor.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
  const row = JSON.stringify(CALL);
  const samples = await timeOpsAsync(async () => {
    insert.run(row); // autocommit: one transaction each
    insert.run(row);
  }, { samples: SAMPLES, warmupOps: WARMUP });
  db.close();
  return samples;
}

async function governedSamples(dir: string, durability: 'sync' | 'batched'): Promise<number[]> {
  const client = new AscendClient({
    agentId: 'bench-agent',
    policy: parsePolicy(BENCH_POLICY_YAML, 'bench-policy.yaml'),
    dataDir: path.join(dir, durability),
    audit: { durability },
    logLevel: 'silent',
  });
  const samples = await timeOpsAsync(() => client.govern(CALL, tool), { samples: SAMPLES, warmupOps: WARMUP });
  await client.close();
  return samples;
}

async function agtSamples(): Promise<number[]> {
  const agm = AgentMeshClient.create('bench-agent', { policyRules: AGT_RULES.map((r) => ({ ...r })) as never });
  return timeOpsAsync(
    async () => {
      const result = await agm.executeWithGovernance(CALL.actionType, CALL.parameters);
      if (result.decision !== 'allow') throw new Error(`agent-governance-sdk said ${result.decision}`);
      return tool();
    },
    { samples: SAMPLES, warmupOps: WARMUP },
  );
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Run the comparison and return its rows. */
export async function benchGovernedCall(): Promise<BenchResult & { budget: Record<string, number> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ascend-bench-'));
  try {
    const bare = await timeOpsAsync(tool, { samples: SAMPLES, warmupOps: WARMUP });
    const floor = await floorSamples(dir);
    const batched = await governedSamples(dir, 'batched');
    const sync = await governedSamples(dir, 'sync');
    const agt = await agtSamples();

    const p50 = (s: number[]) => percentile(s, 50);
    const p99 = (s: number[]) => percentile(s, 99);
    const bareP50 = p50(bare);
    const bareP99 = p99(bare);
    const row = (label: string, s: number[], note: string) => ({ label, p50Us: p50(s), p99Us: p99(s), note: `mean ${mean(s).toFixed(1)} µs; ${note}` });
    const budget = {
      batchedOverBareP50Us: p50(batched) - bareP50,
      batchedOverBareP99Us: p99(batched) - bareP99,
      batchedVsAgtP50: p50(agt) / p50(batched),
      syncVsFloorP50: p50(sync) / p50(floor),
    };
    return {
      name: 'Embedded governed call (evaluate 20 rules + decision record + completion record, hash-chained)',
      rows: [
        row('bare tool call', bare, 'baseline'),
        row('floor: two bare SQLite commits (WAL)', floor, 'the sync-mode floor'),
        row('ascend govern(), batched', batched, `+${budget.batchedOverBareP50Us.toFixed(1)} µs p50 / +${budget.batchedOverBareP99Us.toFixed(1)} µs p99 over bare (budget ≤ 15 / ≤ 100)`),
        row('ascend govern(), sync', sync, `${budget.syncVsFloorP50.toFixed(2)}× the floor at p50 (budget ≤ 1.25×)`),
        row('agent-governance-sdk executeWithGovernance', agt, `in-memory audit; ascend batched is ${budget.batchedVsAgtP50.toFixed(2)}× faster at p50`),
      ],
      budget,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) {
  printResult(await benchGovernedCall());
}
