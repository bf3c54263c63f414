/**
 * Benchmark: `ascend policy replay`'s rate — recorded decisions replayed per second against a
 * 20-rule candidate, from a SQLite store filled here, beside reading the same events alone in the
 * same run (what the store costs). Budget: at least 50,000 decisions a second.
 *
 *   npx tsx bench/replay.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { callDigest } from '../src/core/call-digest.js';
import { parsePolicy } from '../src/engine/index.js';
import { REPLAY_EVENT_TYPES } from '../src/engine/replay.js';
import { replayStore } from '../src/policy/replay.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import type { AuditQuery } from '../src/store/store.js';
import type { ActionRecord } from '../src/core/types.js';
import { isMain } from './lib.js';
import { BENCH_POLICY_YAML, BENCH_REQUESTS } from './policy-eval.js';

const DECISIONS = 100_000;
const ROUNDS = 3;

/** What the budget is checked against. */
export interface ReplayFigures {
  decisionsPerSecond: number;
  readPerSecond: number;
}

/** Fill a store, then time replays and plain reads of it. */
export async function benchReplay(): Promise<ReplayFigures> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ascend-bench-replay-'));
  const store = openSqliteStore(path.join(dir, 'ascend.db'), { durability: 'batched', maxBatchSize: 1024 });
  try {
    await store.upsertAgent({ agentId: 'bench-agent', agentName: 'bench', agentType: 'bench', capabilities: [], allowedResources: [], metadata: {} }, new Date().toISOString());
    const start = Date.now() - DECISIONS;
    for (let i = 0; i < DECISIONS; i++) {
      const r = BENCH_REQUESTS[i % BENCH_REQUESTS.length]!;
      const action: ActionRecord = {
        actionId: `bench-${i}`,
        agentId: 'bench-agent',
        actionType: r.actionType,
        resource: r.resource,
        parameters: r.parameters,
        context: {},
        digest: callDigest({ agentId: 'bench-agent', actionType: r.actionType, resource: r.resource, parameters: r.parameters }),
        decision: 'allowed',
        reason: 'bench',
        riskScore: 10,
        riskLevel: 'low',
        riskFactors: [],
        matchedRules: [],
        policyViolations: [],
        conditions: [],
        createdAt: new Date(start + i).toISOString(),
      };
      await store.recordDecision(action);
    }
    await store.flush();
    const candidate = parsePolicy(BENCH_POLICY_YAML, 'candidate.yaml');
    let replayMs = Infinity;
    let readMs = Infinity;
    for (let round = 0; round < ROUNDS; round++) {
      let t = performance.now();
      const result = await replayStore(store, candidate);
      replayMs = Math.min(replayMs, performance.now() - t);
      if (result.replayed !== DECISIONS) throw new Error(`replayed ${result.replayed} of ${DECISIONS}`);
      t = performance.now();
      const query: AuditQuery = { types: [...REPLAY_EVENT_TYPES], limit: 5000 };
      for (;;) {
        const page = await store.readAudit(query);
        if (page.length < 5000) break;
        query.afterSeq = page[page.length - 1]!.seq;
      }
      readMs = Math.min(readMs, performance.now() - t);
    }
    const figures = { decisionsPerSecond: DECISIONS / (replayMs / 1000), readPerSecond: DECISIONS / (readMs / 1000) };
    const ok = figures.decisionsPerSecond >= 50_000;
    console.log(`== Policy replay (${DECISIONS.toLocaleString('en')} recorded decisions, 20-rule candidate, best of ${ROUNDS})`);
    console.log(`reading the events alone       ${Math.round(figures.readPerSecond).toLocaleString('en')} /s   baseline: what the store costs`);
    console.log(`ascend policy replay           ${Math.round(figures.decisionsPerSecond).toLocaleString('en')} /s   budget ≥ 50,000/s: ${ok ? 'OK' : 'MISSED'} (${(figures.decisionsPerSecond / figures.readPerSecond).toFixed(2)}× the read rate)`);
    return figures;
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) {
  await benchReplay();
}
