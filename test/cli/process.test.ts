/**
 * The `ascend` command as a real process (node --import tsx src/cli/main.ts) against real temp
 * dirs and SQLite files: the flows that cross process boundaries, plus smoke tests.
 */
import Database from 'better-sqlite3';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultDbPath } from '../../src/store/sqlite.js';
import { BROKEN_POLICY_YAML, collect, openTestStore, seedPendingApproval, spawnCli, TEST_POLICY_YAML } from './helpers.js';
import { eventually, ROOT, runCli, tempDir } from '../helpers.js';

let dir: string;
beforeEach(() => {
  dir = tempDir('ascend-cli-');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('ascend (real process)', () => {
  it('prints help with exit codes, and the version', async () => {
    const help = await runCli(['--help'], { cwd: dir });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes:');
    expect(help.stdout).toMatch(/^\s+5\s+store or I\/O error/m);
    const version = await runCli(['--version'], { cwd: dir });
    expect(version.code).toBe(0);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(version.stdout.trim()).toBe(pkg.version);
  });

  it('exits 2 with a one-line hint on an unknown command', async () => {
    const result = await runCli(['aprovals', 'list'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('ascend: unknown command "aprovals" (did you mean "approvals"?) (see `ascend --help`)\n');
  });

  it('init writes the policy, the data dir and an idempotent .gitignore entry', async () => {
    writeFileSync(join(dir, '.gitignore'), 'node_modules/');
    const first = await runCli(['init'], { cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    expect(existsSync(join(dir, 'ascend.policy.yaml'))).toBe(true);
    expect(existsSync(join(dir, '.ascend'))).toBe(true);
    expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toBe('node_modules/\n.ascend/\n');

    const refused = await runCli(['init'], { cwd: dir });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/^ascend: ascend\.policy\.yaml already exists.*--force/);

    const forced = await runCli(['init', '--force'], { cwd: dir });
    expect(forced.code).toBe(0);
    expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toBe('node_modules/\n.ascend/\n');

    const check = await runCli(['policy', 'check', 'ascend.policy.yaml'], { cwd: dir });
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/^ok: \d+ rules?\nversion: sha256:[0-9a-f]{64}\n$/);
    // The starter tests pass against the starter policy; tests someone edited are kept.
    const cases = await runCli(['policy', 'test', 'ascend.policy.yaml', '--cases', 'ascend.cases.yaml'], { cwd: dir });
    expect(cases.code, cases.stdout + cases.stderr).toBe(0);
    expect(cases.stdout).toMatch(/\n(\d+) passed, 0 failed\n$/);
    writeFileSync(join(dir, 'ascend.cases.yaml'), 'cases: []\n');
    rmSync(join(dir, 'ascend.policy.yaml'));
    expect((await runCli(['init'], { cwd: dir })).stdout).toContain('kept ascend.cases.yaml');
    expect(readFileSync(join(dir, 'ascend.cases.yaml'), 'utf8')).toBe('cases: []\n');
  });

  it('policy check: a broken policy exits 1 and names the line', async () => {
    writeFileSync(join(dir, 'broken.yaml'), BROKEN_POLICY_YAML);
    const result = await runCli(['policy', 'check', 'broken.yaml'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/broken\.yaml:7/);
    const json = await runCli(['policy', 'check', 'broken.yaml', '--json'], { cwd: dir });
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.stdout) as { ok: boolean; error: { line: number } };
    expect(doc.ok).toBe(false);
    expect(doc.error.line).toBe(7);
  });

  it('policy test prints the decision and its factors; --expect and bad requests change the exit code', async () => {
    writeFileSync(join(dir, 'p.yaml'), TEST_POLICY_YAML);
    const request = JSON.stringify({ actionType: 'financial.transfer', resource: 'bank:1', parameters: { amount: 50_000 } });
    const text = await runCli(['policy', 'test', 'p.yaml', '--request', request], { cwd: dir });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^decision:\s+pending/m);
    expect(text.stdout).toContain('big-transfers');
    expect(text.stdout).toMatch(/^\s+\+\d+\s+rule_risk/m);
    expect(text.stdout).toContain('finance-team');

    const json = await runCli(['policy', 'test', 'p.yaml', '--request', request, '--json'], { cwd: dir });
    const decision = JSON.parse(json.stdout) as { decision: string; riskScore: number };
    expect(decision.decision).toBe('pending');
    expect(decision.riskScore).toBeGreaterThanOrEqual(80);

    const mismatch = await runCli(['policy', 'test', 'p.yaml', '--request', request, '--expect', 'allowed'], { cwd: dir });
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toBe('ascend: expected allowed, got pending\n');

    const bad = await runCli(['policy', 'test', 'p.yaml', '--request', '{"actionType": 5}'], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^ascend: --request field "actionType": .*\n$/);
  });

  it('approvals list/approve across processes; approving twice exits 4, an unknown id 3', async () => {
    const store = openTestStore(dir);
    const { approval } = await seedPendingApproval(store);
    await store.close();

    const list = await runCli(['approvals', 'list'], { cwd: dir });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+AGENT\s+ACTION\s+RESOURCE\s+RISK\s+WAITING\s+EXPIRES IN$/m);
    expect(list.stdout).toContain(approval.approvalId);

    const approve = await runCli(['approvals', 'approve', approval.approvalId, '--by', 'alice', '--comment', 'ok'], { cwd: dir });
    expect(approve.code, approve.stderr).toBe(0);
    expect(approve.stdout).toContain(`approved ${approval.approvalId}`);

    const again = await runCli(['approvals', 'approve', approval.approvalId], { cwd: dir });
    expect(again.code).toBe(4);
    expect(again.stderr.split('\n').filter(Boolean)).toHaveLength(1);

    const unknown = await runCli(['approvals', 'reject', 'apr-nope'], { cwd: dir });
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/^ascend: .*apr-nope.*not found\n$/);
  });

  it('audit verify exits 1 naming the seq of a tampered event', async () => {
    const store = openTestStore(dir);
    await seedPendingApproval(store);
    await seedPendingApproval(store);
    await store.close();
    const ok = await runCli(['audit', 'verify'], { cwd: dir });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^ok: \d+ events \(the whole chain\), head \d+ [0-9a-f]{12}\n$/);

    const db = new Database(defaultDbPath(join(dir, '.ascend')));
    // The store's triggers refuse UPDATE; a tamperer with file access drops them first.
    const triggers = db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'").all() as Array<{ name: string }>;
    for (const { name } of triggers) db.exec(`DROP TRIGGER "${name}"`);
    const target = db.prepare('SELECT seq FROM audit_events ORDER BY seq LIMIT 1 OFFSET 1').get() as { seq: number };
    db.prepare('UPDATE audit_events SET data = ? WHERE seq = ?').run(JSON.stringify({ tampered: true }), target.seq);
    db.close();

    const broken = await runCli(['audit', 'verify'], { cwd: dir });
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(new RegExp(`^BROKEN at seq ${target.seq}: .+\\n$`));
  });

  it('approvals watch prints an approval created by another connection as it comes, and exits 0 on SIGTERM', async () => {
    const store = openTestStore(dir);
    // One approval already pending: the watcher prints it on its first pass, which tells us it is up.
    const first = await seedPendingApproval(store);
    const child = spawnCli(['approvals', 'watch', '--json'], { cwd: dir });
    const done = collect(child);
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer | string) => (stdout += String(chunk)));
    try {
      await eventually(() => stdout.includes(first.approval.approvalId), 20_000);
      // Printed on the store's change notification: nothing else makes the watcher look again.
      const second = await seedPendingApproval(store, { agentId: 'agent-002' });
      await eventually(() => stdout.includes(second.approval.approvalId), 10_000);
      const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as { approvalId: string; status: string; agentId: string });
      expect(lines.map((l) => l.approvalId)).toEqual([first.approval.approvalId, second.approval.approvalId]);
      expect(lines[1]).toMatchObject({ status: 'pending', agentId: 'agent-002' });
    } finally {
      child.kill('SIGTERM');
      await store.close();
    }
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
  });
});
