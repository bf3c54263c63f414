/**
 * The quick start, offline: a small agent loop whose tool calls Ascend allows, denies, and holds
 * for a person — who approves from a second process with the `ascend` CLI. A failing tool is
 * recorded as a failure, and the audit chain is verified at the end.
 *
 *   npm run demo
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { AscendClient, AuthorizationError, defaultDbPath, openSqliteStore } from '../src/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ascend-demo-'));
const dataDir = path.join(workDir, '.ascend');

// 1. A policy: reads are fine, DROP is never fine, big transfers need a person.
const policyFile = path.join(workDir, 'ascend.policy.yaml');
fs.writeFileSync(
  policyFile,
  `version: 1
default: deny
approvalTimeoutSeconds: 120
rules:
  - id: read-only-sql
    actions: ["database.query"]
    when: 'parameters.sql.matches("(?i)^\\\\s*select\\\\b")'
    effect: allow
  - id: no-drop
    actions: ["database.*"]
    when: 'parameters.sql.matches("(?i)\\\\b(drop|truncate)\\\\b")'
    effect: deny
    reason: Dropping or truncating tables is never allowed
  - id: small-transfers
    actions: ["payments.transfer"]
    when: "parameters.amount <= 1000"
    effect: allow
  - id: big-transfers
    actions: ["payments.transfer"]
    when: "parameters.amount > 1000"
    effect: require_approval
    approvers: ["finance-team"]
    reason: Transfers above 1,000 need a second pair of eyes
  - id: web-fetch
    actions: ["http.get"]
    effect: allow
`,
);

// 2. The agent's real tools: a SQLite "production" database, a payments ledger, a web fetch.
const db = new Database(path.join(workDir, 'shop.db'));
db.exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, plan TEXT);
         INSERT INTO customers (name, plan) VALUES ('Ada', 'pro'), ('Grace', 'free'), ('Linus', 'pro');
         CREATE TABLE ledger (id INTEGER PRIMARY KEY, to_account TEXT, amount REAL)`);
const tools = {
  'database.query': (p: { sql: string }) => db.prepare(p.sql).all(),
  'database.execute': (p: { sql: string }) => db.exec(p.sql),
  'payments.transfer': (p: { to: string; amount: number }) =>
    db.prepare('INSERT INTO ledger (to_account, amount) VALUES (?, ?)').run(p.to, p.amount).lastInsertRowid,
  'http.get': async (p: { url: string }) => {
    const res = await fetch(p.url, { signal: AbortSignal.timeout(1000) }); // offline: this fails
    return res.status;
  },
} as const;
type ToolName = keyof typeof tools;

// 3. What the "model" decided to do (a scripted plan: the demo needs no LLM).
const plan: Array<{ tool: ToolName; resource: string; parameters: Record<string, unknown> }> = [
  { tool: 'database.query', resource: 'shop_db', parameters: { sql: "SELECT name FROM customers WHERE plan = 'pro'" } },
  { tool: 'database.execute', resource: 'shop_db', parameters: { sql: 'DROP TABLE customers' } },
  { tool: 'payments.transfer', resource: 'ledger', parameters: { to: 'acct-42', amount: 250 } },
  { tool: 'payments.transfer', resource: 'ledger', parameters: { to: 'acct-99', amount: 25_000 } },
  { tool: 'http.get', resource: 'http://127.0.0.1:9/status', parameters: { url: 'http://127.0.0.1:9/status' } },
];

const client = new AscendClient({
  agentId: 'demo-agent',
  agentName: 'Quick-start agent',
  policy: policyFile,
  dataDir,
  logLevel: 'warn',
  jsonLogs: false,
});
await client.register({ agentType: 'assistant', capabilities: ['database.*', 'payments.*', 'http.*'] });

// A person, in another process, approves whatever is pending (the `ascend` CLI, from source).
const approver = approveFromAnotherProcess();

const line = (s = '') => console.log(s);
line(`Ascend quick start — working in ${workDir}\n`);
for (const step of plan) {
  line(`▶ ${step.tool} ${JSON.stringify(step.parameters)}`);
  try {
    const result = await client.govern(
      { actionType: step.tool, resource: step.resource, parameters: step.parameters },
      async (decision) => {
        const how = decision.approvedBy ? `approved by ${decision.approvedBy.decidedBy} via ${decision.approvedBy.channel}` : decision.reason;
        line(`  ✔ allowed (risk ${decision.riskScore}/100, ${decision.riskLevel}) — ${how}`);
        return (tools[step.tool] as (p: never) => unknown)(step.parameters as never);
      },
    );
    line(`  → result: ${JSON.stringify(result)}`);
  } catch (err) {
    if (err instanceof AuthorizationError) {
      line(`  ✘ denied: ${err.message}`);
      for (const v of err.policyViolations) line(`    violation ${v.code}${v.ruleId ? ` (${v.ruleId})` : ''}: ${v.message}`);
    } else {
      line(`  ✘ the tool failed, recorded as a failure: ${(err as Error).message}`);
    }
  }
  line();
}
await approver.stop();
await client.close();

// 4. The audit trail: every decision and outcome, hash-chained. Verify it.
const store = openSqliteStore(defaultDbPath(dataDir));
const events = await store.readAudit();
line('Audit trail:');
for (const e of events) {
  const d = e.data as { decision?: string; status?: string; decidedBy?: string };
  line(`  #${String(e.seq).padStart(2)} ${e.type.padEnd(18)} ${(d.decision ?? d.status ?? d.decidedBy ?? '').toString().padEnd(10)} ${e.hash.slice(0, 12)}…`);
}
const verification = await store.verifyAudit();
line(`\nAudit chain: ${verification.ok ? `verified, ${verification.checked} events` : `BROKEN at #${verification.firstBad?.seq}: ${verification.firstBad?.reason}`}`);
const customers = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'customers'").get() as { n: number };
line(`The customers table survived the DROP attempt: ${customers.n === 1 ? 'yes' : 'no'}`);
// Run from this repository (the demo is not in the package): its CLI is `npm run ascend`.
line(`\nSee it all in the dashboard: npm run ascend -- ui --data-dir ${dataDir}`);
await store.close();
db.close();
process.exitCode = verification.ok ? 0 : 1;

/** Poll for pending approvals and approve each with the real CLI in a child process. */
function approveFromAnotherProcess(): { stop(): Promise<void> } {
  let stopped = false;
  const seen = new Set<string>();
  const loop = (async () => {
    const reader = openSqliteStore(defaultDbPath(dataDir));
    while (!stopped) {
      for (const a of await reader.listApprovals({ status: 'pending' })) {
        if (seen.has(a.approvalId)) continue;
        seen.add(a.approvalId);
        line(`  ⏸ pending: ${a.reason} (risk ${a.riskScore}/100). A person runs, in another process:`);
        line(`    $ ascend approvals approve ${a.approvalId.slice(0, 8)}… --by alice --comment "invoice checked"`);
        await runCli(['approvals', 'approve', a.approvalId, '--by', 'alice', '--comment', 'invoice checked', '--data-dir', dataDir]);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await reader.close();
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

function runCli(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href, path.join(ROOT, 'src/cli/main.ts'), ...args], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ascend exited with ${code}`))));
  });
}
