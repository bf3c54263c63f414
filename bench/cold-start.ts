/**
 * Cold start: what a CLI agent or a serverless function pays on every start. A fresh Node.js
 * process imports the built package (`dist/`, as users get it), makes a client on an existing
 * data dir with the project's `ascend.policy.yaml`, registers and makes one governed call, and
 * exits. Its baseline, measured in the same run and interleaved with it: a fresh process that
 * imports pino and better-sqlite3, opens a database file and inserts one row. Budget: the median
 * at most 2× the baseline's (docs/architecture.md#performance-budgets).
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { STARTER_POLICY_YAML } from '../src/engine/index.js';
import { isMain, percentile } from './lib.js';

const ROOT = path.resolve(import.meta.dirname, '..');
/** Processes of each kind; their median is compared. */
const ROUNDS = 21;
/** The budget: ascend's median over the baseline's. */
export const COLD_START_BUDGET_RATIO = 2;

/** The built package's root entry, built first when missing or older than the sources. */
function builtEntry(): string {
  const entry = path.join(ROOT, 'dist/src/index.js');
  const newestSource = newestMtimeMs(path.join(ROOT, 'src'));
  if (!fs.existsSync(entry) || fs.statSync(entry).mtimeMs < newestSource) {
    console.log('(building dist/ first: npm run build)');
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  }
  return entry;
}

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(full) : fs.statSync(full).mtimeMs);
  }
  return newest;
}

/** Milliseconds from spawn to exit of `node script`. */
function timeProcess(script: string, cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [script], { cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`${path.basename(script)} exited with ${code}:\n${stderr}`));
      else resolve(Number(process.hrtime.bigint() - started) / 1e6);
    });
  });
}

/** The two programs, written into `dir` with absolute imports. */
function writePrograms(dir: string, entry: string): { bare: string; ascend: string } {
  const url = (specifier: string): string => import.meta.resolve(specifier);
  const bare = path.join(dir, 'bare.mjs');
  fs.writeFileSync(
    bare,
    `import pino from ${JSON.stringify(url('pino'))};
import Database from ${JSON.stringify(url('better-sqlite3'))};
const log = pino({ level: 'warn' });
const db = new Database('bare.db');
db.pragma('journal_mode = WAL');
db.exec('CREATE TABLE IF NOT EXISTS calls (at INTEGER, what TEXT)');
db.prepare('INSERT INTO calls VALUES (?, ?)').run(Date.now(), 'db.query');
db.close();
log.info('done');
`,
  );
  const ascend = path.join(dir, 'ascend.mjs');
  fs.writeFileSync(
    ascend,
    `import { AscendClient } from ${JSON.stringify(pathToFileURL(entry).href)};
const client = new AscendClient({ agentId: 'cold-start', logLevel: 'warn' });
await client.register({ agentType: 'support', capabilities: ['data_access'], allowedResources: ['crm_*'] });
await client.govern({ actionType: 'database.query', resource: 'crm_eu', parameters: { query: 'SELECT 1' } }, () => 1);
await client.close();
`,
  );
  fs.writeFileSync(path.join(dir, 'ascend.policy.yaml'), STARTER_POLICY_YAML);
  return { bare, ascend };
}

/** Median cold starts of both programs, interleaved; prints a table. */
export async function benchColdStart(): Promise<{ bareMs: number; ascendMs: number; ratio: number }> {
  const entry = builtEntry();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ascend-cold-'));
  try {
    const { bare, ascend } = writePrograms(dir, entry);
    // Once untimed each: the data dir, the database and the OS's file cache exist afterwards.
    await timeProcess(bare, dir);
    await timeProcess(ascend, dir);
    const bareMs: number[] = [];
    const ascendMs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      bareMs.push(await timeProcess(bare, dir));
      ascendMs.push(await timeProcess(ascend, dir));
    }
    const b = percentile(bareMs, 50);
    const a = percentile(ascendMs, 50);
    const ratio = a / b;
    console.log('== cold start: a fresh process, import → one governed call → exit (median of 21, interleaved)');
    console.log(`bare: import pino + better-sqlite3, one insert   ${b.toFixed(0).padStart(5)} ms`);
    console.log(`ascend-sdk: client, register, one governed call  ${a.toFixed(0).padStart(5)} ms   ${ratio.toFixed(2)}× bare  (budget ≤ ${COLD_START_BUDGET_RATIO}×: ${ratio <= COLD_START_BUDGET_RATIO ? 'OK' : 'MISSED'})`);
    return { bareMs: b, ascendMs: a, ratio };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) await benchColdStart();
