/**
 * Benchmark: what a `limit` rule costs a governed call. The embedded governed call of
 * governed-call.ts, under the same 20-rule policy with and without one more rule that puts the
 * call under a budget (never reached, so every call is allowed and spends a unit), in both
 * durability modes, side by side in the same run. Budget: with the limit ≤ 1.3× without it, at
 * p50, in each mode.
 *
 *   npx tsx bench/budget.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AscendClient, parsePolicy } from '../src/index.js';
import { isMain, percentile, printResult, raceAsync, type BenchResult, type RaceResult } from './lib.js';
import { BENCH_POLICY_YAML } from './policy-eval.js';
import { CALL, tool } from './governed-call.js';

const SAMPLES = 10_000;
const WARMUP = 2_000;


/** The bench policy plus a budget on the call: a billion an hour, per agent. */
const LIMITED_POLICY_YAML = `${BENCH_POLICY_YAML.trimEnd()}
  - id: query-budget
    actions: ["database.query"]
    limit: { count: 1000000000, per: 1h }
    effect: deny
`;

function client(dir: string, durability: 'sync' | 'batched', limited: boolean): AscendClient {
  return new AscendClient({
    agentId: 'bench-agent',
    policy: parsePolicy(limited ? LIMITED_POLICY_YAML : BENCH_POLICY_YAML, 'bench-policy.yaml'),
    dataDir: path.join(dir, `${durability}-${limited ? 'limited' : 'plain'}`),
    audit: { durability },
    logLevel: 'silent',
  });
}

/** The ratios the budget is checked against. */
export interface BudgetFigures {
  batchedRatioP50: number;
  syncRatioP50: number;
}

/** Run the comparison and return its rows. */
export async function benchBudget(): Promise<BenchResult & { figures: BudgetFigures }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ascend-bench-budget-'));
  try {
    const clients = {
      batched: client(dir, 'batched', false),
      batchedLimited: client(dir, 'batched', true),
      sync: client(dir, 'sync', false),
      syncLimited: client(dir, 'sync', true),
    };
    // Every call must be allowed, so every limited call spends.
    for (const c of Object.values(clients)) if ((await c.evaluateAction(CALL)).decision !== 'allowed') throw new Error('the bench call is not allowed');
    const results = await raceAsync(
      [
        { label: 'ascend govern(), batched', op: () => clients.batched.govern(CALL, tool) },
        { label: 'ascend govern(), batched, under a limit rule', op: () => clients.batchedLimited.govern(CALL, tool) },
        { label: 'ascend govern(), sync', op: () => clients.sync.govern(CALL, tool) },
        { label: 'ascend govern(), sync, under a limit rule', op: () => clients.syncLimited.govern(CALL, tool) },
      ],
      { samples: SAMPLES, warmupOps: WARMUP },
    );
    for (const c of Object.values(clients)) await c.close();
    const [batched, batchedLimited, sync, syncLimited] = results as [RaceResult, RaceResult, RaceResult, RaceResult];
    const p50 = (r: RaceResult): number => percentile(r.samplesUs, 50);
    const p99 = (r: RaceResult): number => percentile(r.samplesUs, 99);
    const figures: BudgetFigures = { batchedRatioP50: p50(batchedLimited) / p50(batched), syncRatioP50: p50(syncLimited) / p50(sync) };
    const verdict = (ratio: number): string => `${ratio.toFixed(2)}× the call without it at p50 (budget ≤ 1.3×: ${ratio <= 1.3 ? 'OK' : 'MISSED'})`;
    return {
      name: 'Budget check (a limit rule the call draws on: read its use, spend a unit with the decision)',
      rows: [
        { label: batched.label, p50Us: p50(batched), p99Us: p99(batched), note: 'baseline' },
        { label: batchedLimited.label, p50Us: p50(batchedLimited), p99Us: p99(batchedLimited), note: verdict(figures.batchedRatioP50) },
        { label: sync.label, p50Us: p50(sync), p99Us: p99(sync), note: 'baseline' },
        { label: syncLimited.label, p50Us: p50(syncLimited), p99Us: p99(syncLimited), note: verdict(figures.syncRatioP50) },
      ],
      figures,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) {
  printResult(await benchBudget());
}
