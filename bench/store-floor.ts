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

    // (1b) The schema's own floor: the SQL a sync decision + outcome runs, with no JS work
    // (strings and hashes prepared up front). The gap to (1) is SQLite's; the gap to (2) is ours.
    const schemaFile = path.join(dir, 'schema.db');
    await openSqliteStore(schemaFile).close();
    const sql = new Database(schemaFile, { timeout: 5000 });
    sql.pragma('synchronous = NORMAL');
    sql.pragma('foreign_keys = ON');
    const begin = sql.prepare('BEGIN IMMEDIATE');
    const commit = sql.prepare('COMMIT');
    const head = sql.prepare('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1').raw();
    const insertAudit = sql.prepare(
      'INSERT INTO audit_events (seq, ts, type, agent_id, action_id, approval_id, actor, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const insertAction = sql.prepare('INSERT INTO actions (action_id, agent_id, decision, created_at, seq) VALUES (?, ?, ?, ?, ?)');
    const insertOutcome = sql.prepare('INSERT INTO outcomes (action_id, status, recorded_at, seq) VALUES (?, ?, ?, ?)');
    const ts = new Date().toISOString();
    const hash = 'f'.repeat(64);
    const outcomeRow = JSON.stringify(sampleOutcome('x'));
    const ids = Array.from({ length: WARMUP + SAMPLES }, () => randomUUID());
    const appendRaw = (type: string, actionId: string, data: string): number => {
      const h = head.get() as [number, string] | undefined;
      const seq = (h ? h[0] : 0) + 1;
      insertAudit.run(seq, ts, type, 'support-bot', actionId, null, 'support-bot', data, h ? h[1] : hash, hash);
      return seq;
    };
    let next = 0; // timeOps restarts its index after warm-up; ids must not repeat
    const schemaUs = timeOps(
      () => {
        const id = ids[next++] as string;
        begin.run();
        insertAction.run(id, 'support-bot', 'allowed', ts, appendRaw('action.evaluated', id, row));
        commit.run();
        begin.run();
        insertOutcome.run(id, 'completed', ts, appendRaw('action.completed', id, outcomeRow));
        commit.run();
      },
      { warmupOps: WARMUP, samples: SAMPLES },
    );
    sql.close();

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

    // The engine reads the agent on every evaluation.
    const reader = openSqliteStore(path.join(dir, 'sync.db'));
    await reader.upsertAgent(
      { agentId: 'support-bot', agentName: 'Support bot', agentType: 'support', capabilities: ['database.*'], allowedResources: ['production_db'], metadata: {} },
      new Date().toISOString(),
    );
    const getAgentUs = await timeOpsAsync(() => reader.getAgent('support-bot'), { warmupOps: WARMUP, samples: SAMPLES });
    await reader.close();

    const floor = summarize('bare one-row commit (floor)', bareUs, `${row.length} B row, autocommit`);
    const schema = summarize('schema SQL of decision + outcome', schemaUs, 'no serialising/hashing: SQLite work only');
    const sync = summarize('recordDecision + recordOutcome, sync', syncUs);
    const batched = summarize('recordDecision + recordOutcome, batched', batchedUs, 'maxBatchSize 256');
    sync.note = `${(sync.p50Us / (2 * floor.p50Us)).toFixed(2)}× two bare commits (budget 1.25×); ${(sync.p50Us / schema.p50Us).toFixed(2)}× schema SQL`;
    return {
      name: 'store floor (SQLite WAL, synchronous=NORMAL)',
      rows: [
        floor,
        { label: 'two bare commits', p50Us: 2 * floor.p50Us, p99Us: 2 * floor.p99Us, note: 'derived' },
        schema,
        sync,
        batched,
        summarize('getAgent', getAgentUs, 'read on every evaluation'),
      ],
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) {
  printResult(await benchStoreFloor());
}
