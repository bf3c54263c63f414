/**
 * Approve through another connection → the embedded agent waiting on the same SQLite file runs:
 * what `ascend approvals approve` in a second terminal does to an agent on a laptop. The agent
 * hears of the other connection's commit by polling SQLite's `data_version` while it waits, then
 * spends the approval and runs. Budget (docs/architecture.md#performance-budgets): p95 ≤ 250 ms;
 * the original Python SDK polled every 5 s. Tests only check it is far from a poll's pace.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AscendClient, defaultDbPath, openSqliteStore } from '../src/index.js';
import { measureWakes, printWakes } from './lib.js';

const POLICY = 'version: 1\ndefault: deny\nrules:\n  - id: transfers\n    actions: ["payments.transfer"]\n    effect: require_approval\n';

/** Prints p50 / p95 / max of `rounds` approvals, one after another, with the budget's verdict. */
export async function benchEmbeddedWake(rounds = 40): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ascend-bench-wake-'));
  fs.writeFileSync(path.join(dir, 'policy.yaml'), POLICY);
  const dataDir = path.join(dir, '.ascend');
  const client = new AscendClient({ agentId: 'bench-agent', policy: path.join(dir, 'policy.yaml'), dataDir, logLevel: 'warn' });
  await client.evaluateAction({ actionType: 'payments.transfer', parameters: { round: -1 } }); // creates the database
  const approver = openSqliteStore(defaultDbPath(dataDir)); // the "other terminal"
  let delaysMs: number[];
  try {
    delaysMs = await measureWakes(
      client,
      rounds,
      {
        findPending: async (round) => (await approver.listApprovals({ status: 'pending' })).find((a) => a.parameters.round === round)?.approvalId,
        approve: async (approvalId) => {
          await approver.decideApproval({ approvalId, status: 'approved', decidedBy: 'bench', channel: 'cli', now: new Date().toISOString() });
        },
      },
      // A random moment, so the approvals fall anywhere in the agent's re-read cycle.
      () => 40 + Math.random() * 60,
    );
  } finally {
    await approver.close();
    await client.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  printWakes(`Approve through another connection → embedded agent waiting on the same SQLite file runs (${rounds} rounds)`, delaysMs);
}
