/**
 * The SQLite store against its floor, same run, same pragmas (WAL, synchronous=NORMAL):
 * (1) a bare one-row better-sqlite3 commit (a row the size of an action record),
 * (2) recordDecision + recordOutcome in `sync` mode (two hash-chained commits),
 * (3) the same in `batched` mode (group commit).
 * Budget (DESIGN §8): sync within 1.25× of two bare commits.
 *
 * Run: `npx tsx bench/store-floor.ts`
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../src/store/sqlite.js';
import type { ActionRecord, OutcomeRecord } from '../src/types.js';
import { isMain, printResult, summarize, timeOps, timeOpsAsync, type BenchResult } from './lib.js';
import { actionJson } from '../src/store/records.js';

const SAMPLES = 10_000;
const WARMUP = 2_000;

/** A realistic allowed decision (about 700 bytes of canonical JSON). */
function sampleAction(actionId: string): ActionRecord {
  return {
    actionId,
    agentId: 'support-bot',
    actionType: 'database.query',
    resource: 'production_db',
    parameters: { query: 'SELECT id, email FROM customers WHERE id = ?', args: [42], limit: 10 },
    context: { sessionId: 'sess-7f3a', user: 'u-1' },
    digest: 'a3f1'.repeat(16),
    decision: 'allowed',
    reason: 'Allowed by rule sql-select',
    riskScore: 25,
    riskLevel: 'low',
    riskFactors: [
      { name: 'verb_class', points: 10, detail: '"query" is a read verb' },
      { name: 'resource_sensitivity', points: 15, detail: 'production_db is sensitive' },
    ],
    matchedRules: ['sql-select'],
    policyViolations: [],
    conditions: [],
    createdAt: new Date().toISOString(),
  };
}

function sampleOutcome(actionId: string): OutcomeRecord {
  return { actionId, status: 'completed', result: { rows: 1 }, durationMs: 3, recordedAt: new Date().toISOString() };
}

/** Measure the floor and both durability modes; prints and returns the table. */
export async function benchStoreFloor(): Promise<BenchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ascend-bench-store-'));
  try {
    // (1) The floor: one row per commit, autocommit, same pragmas as the store.
    const bare = new Database(path.join(dir, 'bare.db'), { timeout: 5000 });
    bare.pragma('journal_mode = WAL');
    bare.pragma('synchronous = NORMAL');
    bare.pragma('foreign_keys = ON');
    bare.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
    const insert = bare.prepare('INSERT INTO t (v) VALUES (?)');
    const row = actionJson(sampleAction(randomUUID()));
    const bareUs = timeOps(() => insert.run(row), { warmupOps: WARMUP, samples: SAMPLES });
    bare.close();

    const governed = async (durability: 'sync' | 'batched'): Promise<number[]> => {
      const store = openSqliteStore(path.join(dir, `${durability}.db`), { durability });
      // Records are built up front: the engine's work, not the store's.
      const actions = Array.from({ length: WARMUP + SAMPLES }, () => sampleAction(randomUUID()));
      const outcomes = actions.map((a) => sampleOutcome(a.actionId));
      try {
        return await timeOpsAsync(
          async (i) => {
            await store.recordDecision(actions[i] as ActionRecord);
            await store.recordOutcome(outcomes[i] as OutcomeRecord);
          },
          { warmupOps: WARMUP, samples: SAMPLES },
        );
      } finally {
        await store.close();
      }
    };
    const syncUs = await governed('sync');
    const batchedUs = await governed('batched');

    const floor = summarize('bare one-row commit (floor)', bareUs, `${row.length} B row`);
    const sync = summarize('recordDecision + recordOutcome, sync', syncUs);
    const batched = summarize('recordDecision + recordOutcome, batched', batchedUs, 'maxBatchSize 256');
    sync.note = `${(sync.p50Us / (2 * floor.p50Us)).toFixed(2)}× two bare commits (budget 1.25×)`;
    return {
      name: 'store floor (SQLite WAL, synchronous=NORMAL)',
      rows: [floor, { label: 'two bare commits', p50Us: 2 * floor.p50Us, p99Us: 2 * floor.p99Us, note: 'derived' }, sync, batched],
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) {
  printResult(await benchStoreFloor());
}
