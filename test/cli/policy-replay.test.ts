/**
 * `ascend policy replay`: a candidate policy run over the calls agents really made — recorded
 * order, the registration each call was made under, budgets rebuilt as the candidate would have
 * counted them, approved calls compared as the policy's `pending`, and calls whose decision reads
 * a redacted argument counted as unreplayable. On a data directory and against a server.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { captureLogs, runCli, tempDir, writePolicy } from '../helpers.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from '../server/helpers.js';

const RECORDED = `
version: 1
default: deny
rules:
  - id: reads
    actions: ["db.query"]
    effect: allow
  - id: transfers
    actions: ["payments.transfer"]
    when: "parameters.amount <= 1000"
    effect: allow
  - id: big-transfers
    actions: ["payments.transfer"]
    when: "parameters.amount > 1000"
    effect: require_approval
  - id: mail
    actions: ["email.send"]
    effect: allow
`;

const CANDIDATE = `
version: 1
default: deny
rules:
  - id: analytics-reads
    actions: ["db.query"]
    resources: ["analytics"]
    effect: allow
  - id: transfers
    actions: ["payments.transfer"]
    when: "parameters.amount <= 1000"
    effect: allow
  - id: big-transfers
    actions: ["payments.transfer"]
    when: "parameters.amount > 1000"
    effect: require_approval
  - id: one-transfer-an-hour
    actions: ["payments.transfer"]
    limit: { count: 1, per: 1h }
    effect: deny
  - id: no-live-tokens
    actions: ["email.send"]
    when: 'parameters.apiToken.startsWith("sk-live")'
    effect: deny
  - id: mail
    actions: ["email.send"]
    effect: allow
`;

let dir: string;
let dataDir: string;
let candidate: string;

beforeAll(async () => {
  dir = tempDir();
  dataDir = path.join(dir, '.ascend');
  candidate = writePolicy(dir, CANDIDATE, 'candidate.yaml');
  const client = new AscendClient({ agentId: 'billing', policy: writePolicy(dir, RECORDED), dataDir, redact: ['apiToken'], logDestination: captureLogs().destination, watchPolicy: false });
  try {
    await client.register({ agentType: 'billing', capabilities: ['db.query', 'payments.*', 'email.*'] });
    for (let i = 0; i < 3; i++) expect((await client.evaluateAction({ actionType: 'db.query', resource: 'prod', parameters: { sql: `SELECT ${i}` } })).decision).toBe('allowed');
    expect((await client.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 500 } })).decision).toBe('allowed');
    const big = { actionType: 'payments.transfer', parameters: { amount: 5000 } };
    const held = await client.evaluateAction(big);
    expect(held.decision).toBe('pending');
    await client.approve(held.approvalRequestId!, { decidedBy: 'carol' });
    expect((await client.evaluateAction(big)).conditions).toContain('approved');
    for (const token of ['sk-live-1', 'sk-test-2']) {
      expect((await client.evaluateAction({ actionType: 'email.send', resource: 'smtp', parameters: { to: 'a@example.com', apiToken: token } })).decision).toBe('allowed');
    }
    // Registered again, for reads only: a transfer now is refused, by either policy.
    await client.register({ agentType: 'billing', capabilities: ['db.query'] });
    expect((await client.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 200 } })).decision).toBe('denied');
  } finally {
    await client.close();
  }
}, 60_000);

interface Replay {
  replayed: number;
  changed: number;
  unreplayable: number;
  skipped: number;
  transitions: Record<string, number>;
  byRule: Record<string, number>;
  examples: Array<{ from: string; to: string; actionType: string; reason: string }>;
}
const replay = async (...args: string[]) => runCli(['policy', 'replay', candidate, '--data-dir', dataDir, ...args], { cwd: dir });

describe('ascend policy replay', () => {
  it('counts what would change, by transition and rule, with examples', async () => {
    const r = await replay('--json');
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as Replay;
    // 3 reads + 3 transfers + the refused one; the two mails read a redacted token.
    expect(result).toMatchObject({ replayed: 7, changed: 5, unreplayable: 2, skipped: 0 });
    // Reads outside analytics are refused; the budget (rebuilt from history: the 500 spent it)
    // refuses the 5,000 transfer asked for and the same call approved by a person afterwards.
    expect(result.transitions).toEqual({ 'allowed->denied': 3, 'pending->denied': 2 });
    expect(result.byRule).toEqual({ '(default)': 3, 'one-transfer-an-hour': 2, 'big-transfers': 2 });
    const transfer = result.examples.find((e) => e.from === 'pending');
    expect(transfer).toMatchObject({ to: 'denied', actionType: 'payments.transfer' });
    expect(transfer!.reason).toContain('one-transfer-an-hour');
  });

  it('prints a table, and --fail-on fails a run with a listed transition only', async () => {
    const table = await replay();
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^replayed 7 recorded decisions: 5 would change, 2 unreplayable \(they read redacted arguments\)$/m);
    expect(table.stdout).toMatch(/^allowed->denied\s+3$/m);
    const failing = await replay('--fail-on', 'denied->allowed,allowed->denied');
    expect(failing.code).toBe(1);
    expect(failing.stdout).toContain('FAIL: 3 allowed->denied');
    expect((await replay('--fail-on', 'denied->allowed')).code).toBe(0);
    const bad = await replay('--fail-on', 'allowed-denied');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a transition');
  });

  it('--agent and --since narrow what is compared', async () => {
    expect(JSON.parse((await replay('--json', '--agent', 'nobody-*')).stdout)).toMatchObject({ replayed: 0, changed: 0 });
    const late = JSON.parse((await replay('--json', '--since', new Date(Date.now() + 60_000).toISOString())).stdout) as Replay;
    expect(late.replayed).toBe(0);
  });

  it('a candidate that does not load names its line', async () => {
    const broken = writePolicy(dir, 'version: 1\nrules:\n  - id: x\n    efect: allow\n', 'broken.yaml');
    const r = await runCli(['policy', 'replay', broken, '--data-dir', dataDir], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/broken\.yaml:4:5/);
  });
});

describe('ascend policy replay against a server', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess({ policy: RECORDED });
  }, 60_000);
  afterAll(async () => {
    await disposeServer(server);
  });

  it("replays the caller's organisation's calls; another organisation sees none of them", async () => {
    const evaluate = (agentId: string) => api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, { agentId, actionType: 'db.query', resource: 'prod', parameters: { sql: 'SELECT 1' }, digest: 'd'.repeat(64) });
    for (let i = 0; i < 4; i++) expect((await evaluate(`agent-${i}`)).body.decision).toBe('allowed');
    const r = await runCli(['policy', 'replay', candidate, '--api-url', server.url, '--json', '--agent', 'agent-*'], { cwd: dir, env: { ...process.env, ASCEND_API_KEY: server.keys.approver.apiKey, ASCEND_API_URL: '' } });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ replayed: 4, changed: 4, transitions: { 'allowed->denied': 4 } });
    const other = await api(server, 'POST', '/v1/policy/replay', server.keys.otherApprover, { text: CANDIDATE });
    expect(other.status).toBe(200);
    expect(other.body).toMatchObject({ replayed: 0, changed: 0 });
    const agentKey = await api(server, 'POST', '/v1/policy/replay', server.keys.agent, { text: CANDIDATE });
    expect(agentKey.status).toBe(403);
    const broken = await api(server, 'POST', '/v1/policy/replay', server.keys.approver, { text: 'version: 2\n' });
    expect(broken.status).toBe(400);
    expect(JSON.stringify(broken.body)).toContain('body.text');
  });
});
