/**
 * The `ascend` commands in-process (runCli) against real temp dirs and SQLite files: the many
 * small cases, fast.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import type { AuditEvent } from '../../src/core/types.js';
import { eventually, tempDir } from '../helpers.js';
import { BROKEN_POLICY_YAML, openTestStore, runInProcess, seedPendingApproval, TEST_POLICY_YAML } from './helpers.js';

let dir: string;
let store: Store | undefined;
beforeEach(() => {
  dir = tempDir('ascend-cli-');
});
afterEach(async () => {
  await store?.close();
  store = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const run = (args: string[], extra: { env?: Record<string, string>; now?: () => number; signal?: AbortSignal } = {}) =>
  runInProcess(args, { cwd: dir, ...extra });

function openStore(): Store {
  store = openTestStore(dir);
  return store;
}

describe('command line parsing', () => {
  it('no command: help on stderr, exit 2', async () => {
    const r = await run([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('Usage: ascend <command>');
  });

  it('--help at every level exits 0 on stdout', async () => {
    for (const args of [['--help'], ['approvals', '--help'], ['approvals', 'list', '--help'], ['audit', 'export', '-h']]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: ascend/m);
      expect(r.stderr).toBe('');
    }
    const list = await run(['approvals', 'list', '--help']);
    expect(list.stdout).toContain('--status STATUS');
    expect(list.stdout).toContain('--data-dir DIR');
  });

  it.each([
    [['approvals'], /"approvals" needs a command: one of list, show, approve, reject, watch \(see `ascend approvals --help`\)/],
    [['approvals', 'lst'], /unknown command "approvals lst" \(did you mean "list"\?\)/],
    [['approvals', 'list', '--foo'], /unknown option --foo \(see `ascend approvals list --help`\)/],
    [['approvals', 'list', '--status'], /option --status needs a value/],
    [['approvals', 'list', '--status', 'maybe'], /--status must be one of pending, approved, rejected, expired, all, got "maybe"/],
    [['approvals', 'show'], /missing ID for `ascend approvals show`/],
    [['approvals', 'show', 'a', 'b'], /unexpected argument "b"/],
    [['approvals', 'approve', 'x', '--grant-minutes', '0'], /--grant-minutes must be an integer from 1 to 10080/],
    [['audit', 'tail', '-n', 'ten'], /--n must be an integer/],
    [['audit', 'export', '--since', 'yesterday'], /--since must be an ISO date/],
    [['audit', 'export', '--format', 'xml'], /--format must be one of jsonl, csv/],
    [['policy', 'test', 'p.yaml'], /--request JSON \(or --cases FILE\) is required/],
    [['init', '--json=yes'], /option --json does not take a value/],
    [['serve', '--prot', '4100'], /unknown option --prot \(did you mean "--port"\?\)/],
  ])('%j is a usage error (exit 2, one line)', async (args, message) => {
    mkdirSync(join(dir, '.ascend'), { recursive: true });
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^ascend: [^\n]+\n$/);
    expect(r.stderr).toMatch(message);
  });

  it('global options work before the command, and ASCEND_DATA_DIR is the default', async () => {
    const s = openTestStore(dir, 'custom');
    await seedPendingApproval(s);
    await s.close();
    const before = await run(['--data-dir', 'custom', '--json', 'approvals', 'list']);
    expect(before.code, before.stderr).toBe(0);
    expect(JSON.parse(before.stdout)).toHaveLength(1);
    const fromEnv = await run(['approvals', 'list', '--json'], { env: { ASCEND_DATA_DIR: 'custom' } });
    expect(JSON.parse(fromEnv.stdout)).toHaveLength(1);
  });

  it('a missing data dir is a store error (exit 5) that says what to do', async () => {
    const r = await run(['approvals', 'list', '--data-dir', 'nope']);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^ascend: no Ascend data directory at .*nope \(run `ascend init`.*\n$/);
  });

  it('prints a stack trace only with ASCEND_DEBUG=1', async () => {
    const quiet = await run(['approvals', 'list', '--data-dir', 'nope']);
    expect(quiet.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    const debug = await run(['approvals', 'list', '--data-dir', 'nope'], { env: { ASCEND_DEBUG: '1' } });
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});

describe('init', () => {
  it('creates .gitignore, recognises an existing entry, skips a data dir outside cwd', async () => {
    const r = await run(['init']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toBe('.ascend/\n');
    expect(r.stdout).toContain('created .gitignore with .ascend/');

    const other = tempDir('ascend-cli-');
    try {
      writeFileSync(join(other, '.gitignore'), '/.ascend\n');
      const present = await runInProcess(['init', '--json'], { cwd: other, env: {} });
      expect(JSON.parse(present.stdout)).toMatchObject({ policy: 'created', gitignore: 'present', dataDirCreated: true });
      expect(readFileSync(join(other, '.gitignore'), 'utf8')).toBe('/.ascend\n');

      const outside = tempDir('ascend-cli-');
      try {
        const skipped = await runInProcess(['init', '--force', '--json', '--data-dir', outside], { cwd: other, env: {} });
        expect(JSON.parse(skipped.stdout)).toMatchObject({ policy: 'overwritten', gitignore: 'skipped', dataDirCreated: false });
      } finally {
        rmSync(outside, { recursive: true, force: true });
      }
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('uses a nested data dir as the .gitignore entry', async () => {
    const r = await run(['init', '--data-dir', 'var/ascend']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(dir, 'var/ascend'))).toBe(true);
    expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toBe('var/ascend/\n');
  });
});

describe('policy', () => {
  beforeEach(() => {
    writeFileSync(join(dir, 'p.yaml'), TEST_POLICY_YAML);
    writeFileSync(join(dir, 'broken.yaml'), BROKEN_POLICY_YAML);
  });

  it('check: ok with a rule count, --json', async () => {
    // The version is the sha256 of the file's bytes: every decision the policy makes names it.
    const version = `sha256:${createHash('sha256').update(TEST_POLICY_YAML).digest('hex')}`;
    expect(await run(['policy', 'check', 'p.yaml'])).toMatchObject({ code: 0, stdout: `ok: 2 rules\nversion: ${version}\n` });
    const json = await run(['policy', 'check', 'p.yaml', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ ok: true, rules: 2, policyVersion: version, name: null, revision: null });
    writeFileSync(join(dir, 'labelled.yaml'), TEST_POLICY_YAML.replace('version: 1\n', 'version: 1\nname: payments\nrevision: 7\n'));
    expect((await run(['policy', 'check', 'labelled.yaml'])).stdout).toMatch(/^version: sha256:[0-9a-f]{64} \(payments, revision 7\)$/m);
  });

  it('check: a broken policy names file, line and fix; --json carries the location', async () => {
    const r = await run(['policy', 'check', 'broken.yaml']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^invalid: .*broken\.yaml:7/);
    const json = await run(['policy', 'check', 'broken.yaml', '--json']);
    const doc = JSON.parse(json.stdout) as { ok: boolean; rules: number; error: Record<string, unknown> };
    expect(doc).toMatchObject({ ok: false, rules: 0, error: { line: 7, ruleId: 'ok-rule' } });
    expect(String(doc.error.file)).toMatch(/broken\.yaml$/);
  });

  it('check: a missing file fails the check (exit 1) and says so', async () => {
    const r = await run(['policy', 'check', 'missing.yaml']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^invalid: .*missing\.yaml.*not found/);
    expect(r.stderr).toBe('');
  });

  it('test: allowed read, with --expect allowed', async () => {
    const request = JSON.stringify({ actionType: 'database.query', resource: 'production_db', parameters: { query: 'SELECT 1' } });
    const r = await run(['policy', 'test', 'p.yaml', '--request', request, '--expect', 'allowed']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^decision:\s+allowed$/m);
    expect(r.stdout).toMatch(/^matched rules:\s+read-only-sql$/m);
  });

  it('test: an agent registration restricts resources', async () => {
    const request = JSON.stringify({ actionType: 'database.query', resource: 'production_db', parameters: { query: 'SELECT 1' } });
    const agent = JSON.stringify({ agentId: 'a1', allowedResources: ['staging_*'] });
    const r = await run(['policy', 'test', 'p.yaml', '--request', request, '--agent', agent, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as { decision: string; policyViolations: Array<{ code: string }> };
    expect(d.decision).toBe('denied');
    expect(d.policyViolations.map((v) => v.code)).toContain('resource_not_allowed');
  });

  it('test: reads the request from @file', async () => {
    writeFileSync(join(dir, 'call.json'), JSON.stringify({ actionType: 'email.send' }));
    const r = await run(['policy', 'test', 'p.yaml', '--request', '@call.json', '--expect', 'denied']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^violations:\n\s+default_deny/m);
  });

  it.each([
    ['not json', /--request is not valid JSON/],
    ['[]', /--request: /],
    ['{"action_type":"x"}', /--request: .*action_type.*known fields: agentId, actionType/],
    ['{"actionType":"x","parameters":[1]}', /--request field "parameters": /],
    ['{"actionType":""}', /--request field "actionType": must not be empty/],
    ['{"resource":"x"}', /--request field "actionType": is required/],
  ])('test: bad request %s exits 2 naming the field', async (request, message) => {
    const r = await run(['policy', 'test', 'p.yaml', '--request', request]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  const CASES_YAML = `cases:
  - name: a read runs
    request: { actionType: database.query, resource: production_db, parameters: { query: "SELECT 1" } }
    expect: allowed
    expectRules: [read-only-sql]
  - name: a big transfer waits
    request: { actionType: financial.transfer, parameters: { amount: 50000 } }
    expect: pending
    expectRiskAtLeast: 80
  - name: a read elsewhere is refused by registration
    agent: { allowedResources: ["staging_*"] }
    request: { actionType: database.query, resource: production_db, parameters: { query: "SELECT 1" } }
    expect: denied
    expectRules: []
`;

  it('test --cases: every case passes, a table and a summary; --json for CI', async () => {
    writeFileSync(join(dir, 'cases.yaml'), CASES_YAML);
    const r = await run(['policy', 'test', 'p.yaml', '--cases', 'cases.yaml']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^RESULT\s+CASE\s+EXPECTED\s+GOT\s+RULES\s+RISK$/m);
    expect(r.stdout).toMatch(/^pass\s+a big transfer waits\s+pending\s+pending\s+big-transfers\s+\d+$/m);
    expect(r.stdout).toContain('3 passed, 0 failed');
    const json = JSON.parse((await run(['policy', 'test', 'p.yaml', '--cases', 'cases.yaml', '--json'])).stdout) as { passed: number; failed: number; cases: Array<{ name: string; ok: boolean }> };
    expect(json).toMatchObject({ passed: 3, failed: 0 });
    expect(json.cases.map((c) => c.ok)).toEqual([true, true, true]);
  });

  it('test --cases: a case that gets another decision, other rules or a lower risk fails, with why; exit 1', async () => {
    writeFileSync(
      join(dir, 'cases.yaml'),
      CASES_YAML.replace('expect: allowed', 'expect: denied').replace('expectRiskAtLeast: 80', 'expectRiskAtLeast: 99').replace('expectRules: []', 'expectRules: [read-only-sql]'),
    );
    const r = await run(['policy', 'test', 'p.yaml', '--cases', 'cases.yaml']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAIL\s+a read runs\s+denied\s+allowed/m);
    expect(r.stdout).toContain('expected denied, got allowed');
    expect(r.stdout).toMatch(/expected a risk of at least 99, got \d+/);
    expect(r.stdout).toContain('expected rules [read-only-sql], matched []');
    expect(r.stdout).toContain('0 passed, 3 failed');
  });

  it.each([
    ['cases:\n  - name: a\n    reqest: { actionType: x }\n    expect: allowed\n', /cases\.yaml:3:5: cases\[0\]: unknown key "reqest"\. Fix: did you mean "request"\?/],
    ['cases:\n  - name: a\n    request: { actionType: x }\n    expect: alowed\n', /cases\.yaml:4:\d+: cases\[0\]\.expect must be one of allowed, denied, pending/],
    ['cases:\n  - name: a\n    expect: allowed\n', /cases\.yaml:2:\d+: cases\[0\]\.request is required/],
    ['cases:\n  - name: a\n    request: { actionType: x }\n    expect: denied\n  - name: a\n    request: { actionType: y }\n    expect: denied\n', /cases\.yaml:5:\d+: cases\[1\]\.name: "a" is also the name of cases\[0\]/],
    ['cases:\n  - name: a\n    request: { actionType: x, parameters: { a: 1 }\n', /cases\.yaml:\d+:\d+: not valid YAML/],
    ['cases: []\n', /cases\.yaml:1:\d+: cases: list at least one case/],
  ])('test --cases: a malformed cases file names file, line and fix (%#)', async (yaml, message) => {
    writeFileSync(join(dir, 'cases.yaml'), yaml);
    const r = await run(['policy', 'test', 'p.yaml', '--cases', 'cases.yaml']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
  });

  it('test --cases cannot be mixed with --request', async () => {
    writeFileSync(join(dir, 'cases.yaml'), CASES_YAML);
    const r = await run(['policy', 'test', 'p.yaml', '--cases', 'cases.yaml', '--request', '{"actionType":"x"}']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('leave out --request');
  });

  it('schema prints the JSON Schema of a policy, and with --cases of a cases file', async () => {
    const policy = JSON.parse((await run(['policy', 'schema'])).stdout) as { properties: Record<string, unknown> };
    expect(Object.keys(policy.properties)).toContain('rules');
    const cases = JSON.parse((await run(['policy', 'schema', '--cases'])).stdout) as { properties: { cases: { items: { properties: Record<string, unknown>; required: string[] } } } };
    expect(Object.keys(cases.properties.cases.items.properties)).toEqual(['name', 'request', 'agent', 'expect', 'expectRules', 'expectRiskAtLeast']);
    expect(cases.properties.cases.items.required).toEqual(['name', 'request', 'expect']);
  });

  it('test: an invalid policy file exits 1', async () => {
    const r = await run(['policy', 'test', 'broken.yaml', '--request', '{"actionType":"x"}']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/broken\.yaml:7/);
  });
});

describe('approvals', () => {
  it('list: empty, then a table with waiting time and expiry; filters; --json', async () => {
    const s = openStore();
    expect((await run(['approvals', 'list'])).stdout).toBe('no pending approvals\n');
    const t0 = Date.parse('2030-01-01T00:00:00.000Z');
    const a = await seedPendingApproval(s, { requestedAtMs: t0, expiresInMs: 300_000 });
    await seedPendingApproval(s, { agentId: 'agent-002', requestedAtMs: t0 + 1000 });
    const now = () => t0 + 65_000;
    const r = await run(['approvals', 'list'], { now });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^ID +AGENT +ACTION +RESOURCE +RISK +WAITING +EXPIRES IN$/);
    expect(lines[1]).toMatch(new RegExp(`^${a.approval.approvalId} +agent-001 +financial\\.transfer +bank:acct-42 +80 high +1m 5s +3m 55s$`));
    // Columns line up: every row starts its AGENT cell where the header does.
    const agentColumn = lines[0]!.indexOf('AGENT');
    expect(lines[2]!.slice(agentColumn)).toMatch(/^agent-002/);

    const filtered = await run(['approvals', 'list', '--agent', 'agent-002', '--json']);
    const docs = JSON.parse(filtered.stdout) as Array<{ agentId: string }>;
    expect(docs.map((d) => d.agentId)).toEqual(['agent-002']);
  });

  it('show: every field, parameters as stored, factors, rules; unknown id exits 3', async () => {
    const s = openStore();
    const { approval } = await seedPendingApproval(s);
    const r = await run(['approvals', 'show', approval.approvalId]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^status:\s+pending$/m);
    expect(r.stdout).toMatch(/^matched rules:\s+big-transfers$/m);
    expect(r.stdout).toMatch(/^required approvers:\s+finance-team$/m);
    expect(r.stdout).toMatch(/^\s+\+40\s+verb_class\s+"transfer" is a high-risk verb$/m);
    expect(r.stdout).toContain('"apiKey": "[REDACTED]"');
    const json = await run(['approvals', 'show', approval.approvalId, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ approvalId: approval.approvalId, parameters: approval.parameters });
    const missing = await run(['approvals', 'show', 'apr-missing']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toBe('ascend: approval "apr-missing" not found\n');
  });

  it('reject records who, how and why; a second decision exits 4', async () => {
    const s = openStore();
    const { approval } = await seedPendingApproval(s);
    const r = await run(['approvals', 'reject', approval.approvalId, '--comment', 'not during the freeze', '--by', 'bob']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`rejected ${approval.approvalId} (agent-001 financial.transfer on bank:acct-42) as bob\n`);
    const stored = await s.getApproval(approval.approvalId);
    expect(stored).toMatchObject({ status: 'rejected', decidedBy: 'bob', channel: 'cli', comment: 'not during the freeze' });
    const again = await run(['approvals', 'approve', approval.approvalId]);
    expect(again.code).toBe(4);

    const all = await run(['approvals', 'list', '--status', 'all']);
    expect(all.stdout).toMatch(/STATUS/);
    expect(all.stdout).toMatch(/rejected/);
  });

  it('approve defaults decidedBy to user@hostname', async () => {
    const s = openStore();
    const { approval } = await seedPendingApproval(s);
    const r = await run(['approvals', 'approve', approval.approvalId, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'approved', decidedBy: `${os.userInfo().username}@${os.hostname()}`, channel: 'cli' });
  });

  it('approving an expired request exits 4', async () => {
    const s = openStore();
    const { approval } = await seedPendingApproval(s, { requestedAtMs: Date.now() - 600_000, expiresInMs: 60_000 });
    const r = await run(['approvals', 'approve', approval.approvalId]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^ascend: [^\n]+\n$/);
  });

  it('watch (in-process) prints pending approvals, honours --new-only, and stops on abort', async () => {
    const s = openStore();
    const old = await seedPendingApproval(s);
    const abort = new AbortController();
    let stdout = '';
    let stderr = '';
    const { runCli } = await import('../../src/cli/run.js');
    const running = runCli(['approvals', 'watch', '--new-only'], {
      stdout: { write: (c: string) => ((stdout += c), true) },
      stderr: { write: (c: string) => ((stderr += c), true) },
      cwd: dir,
      env: {},
      signal: abort.signal,
    });
    // "watching …" is printed once the first (silent, --new-only) pass is done. (Waits end in the
    // checks below rather than a throw, so the watch is always aborted.)
    await eventually(() => stderr.includes('watching'), 10_000, 5).catch(() => undefined);
    expect(stderr).toMatch(/^watching for pending approvals in .*\.ascend \(Ctrl-C to stop\)\n$/);
    const fresh = await seedPendingApproval(s, { agentId: 'agent-007' });
    await eventually(() => stdout.includes(fresh.approval.approvalId), 10_000).catch(() => undefined);
    abort.abort();
    expect(await running).toBe(0);
    expect(stdout).toContain(fresh.approval.approvalId);
    expect(stdout).toContain('agent-007 financial.transfer on bank:acct-42');
    expect(stdout).not.toContain(old.approval.approvalId);
  });
});

describe('grants', () => {
  it('approve --grant-minutes creates a grant; list, revoke, revoke again (4), unknown (3)', async () => {
    const s = openStore();
    const { approval } = await seedPendingApproval(s);
    const approved = await run(['approvals', 'approve', approval.approvalId, '--grant-minutes', '30', '--by', 'carol']);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toMatch(/^granted agent-001 financial\.transfer for 30m \(grant \S+\)$/m);

    const list = await run(['grants', 'list', '--json']);
    const grants = JSON.parse(list.stdout) as Array<{ grantId: string; createdBy: string; approvalId?: string }>;
    expect(grants).toHaveLength(1);
    expect(grants[0]).toMatchObject({ createdBy: 'carol', approvalId: approval.approvalId });
    const grantId = grants[0]!.grantId;
    const table = await run(['grants', 'list']);
    expect(table.stdout).toMatch(/^ID +AGENT +ACTION +CREATED BY +CREATED +EXPIRES IN$/m);
    expect(table.stdout).toContain('carol (cli)');

    const revoked = await run(['grants', 'revoke', grantId, '--by', 'dave']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toBe(`revoked ${grantId} (agent-001 financial.transfer) as dave\n`);
    expect((await run(['grants', 'list'])).stdout).toBe('no active grants\n');
    const all = await run(['grants', 'list', '--all']);
    expect(all.stdout).toMatch(/revoked +dave/);

    expect((await run(['grants', 'revoke', grantId])).code).toBe(4);
    const unknown = await run(['grants', 'revoke', 'grant-missing']);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/^ascend: .*grant-missing.*not found\n$/);
  });
});

describe('agents', () => {
  it('list, block with a reason, unblock', async () => {
    const s = openStore();
    await s.upsertAgent({ agentId: 'agent-001', agentName: 'Payments bot', agentType: 'langchain', capabilities: ['financial.*'], allowedResources: [], metadata: {} }, new Date().toISOString());
    const list = await run(['agents', 'list']);
    expect(list.stdout).toMatch(/^agent-001 +Payments bot +langchain +active +financial\.\* +any /m);

    const blocked = await run(['agents', 'block', 'agent-001', '--reason', 'sending spam', '--by', 'ops']);
    expect(blocked.code, blocked.stderr).toBe(0);
    expect(blocked.stdout).toBe('blocked agent-001: sending spam (by ops)\n');
    expect(blocked.stderr).toBe('');
    expect(await s.getAgent('agent-001')).toMatchObject({ blocked: true, blockedReason: 'sending spam' });
    expect((await run(['agents', 'list'])).stdout).toMatch(/blocked .*sending spam/);

    const unblocked = await run(['agents', 'unblock', 'agent-001', '--json']);
    expect(JSON.parse(unblocked.stdout)).toMatchObject({ agentId: 'agent-001', blocked: false });
  });

  it('blocking an unregistered agent works and says so', async () => {
    openStore();
    const r = await run(['agents', 'block', 'ghost']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^note: agent "ghost" has not registered yet/);
    const agents = JSON.parse((await run(['agents', 'list', '--json'])).stdout) as Array<{ agentId: string; blocked: boolean }>;
    expect(agents).toEqual([expect.objectContaining({ agentId: 'ghost', blocked: true })]);
  });
});

/** Minimal RFC 4180 parser, to check the export from the reader's side. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  return rows;
}

describe('audit', () => {
  it('tail: newest N printed oldest first; --agent; --json', async () => {
    const s = openStore();
    await seedPendingApproval(s, { agentId: 'agent-001' });
    await seedPendingApproval(s, { agentId: 'agent-002' });
    const all = await s.readAudit();
    const r = await run(['audit', 'tail', '-n', '2']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\s+SEQ +TIME +TYPE +AGENT +ACTOR +DETAILS$/);
    expect(lines.slice(1).map((l) => Number(l.trim().split(/\s+/)[0]))).toEqual(all.slice(-2).map((e) => e.seq));

    const json = await run(['audit', 'tail', '--agent', 'agent-001', '--json']);
    const events = JSON.parse(json.stdout) as AuditEvent[];
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.agentId === 'agent-001')).toBe(true);
    expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => a - b));
  });

  it('tail --follow (in-process) prints new events as JSON lines until aborted', async () => {
    const s = openStore();
    await seedPendingApproval(s);
    const abort = new AbortController();
    let stdout = '';
    const { runCli } = await import('../../src/cli/run.js');
    const running = runCli(['audit', 'tail', '-n', '1', '--follow', '--json'], {
      stdout: { write: (c: string) => ((stdout += c), true) },
      stderr: { write: () => true },
      cwd: dir,
      env: {},
      signal: abort.signal,
    });
    // The last event is printed first: from then on it is following.
    await eventually(() => stdout.includes('\n'), 10_000).catch(() => undefined);
    const { approval } = await seedPendingApproval(s, { agentId: 'agent-follow' });
    await eventually(() => stdout.includes(approval.approvalId), 10_000).catch(() => undefined);
    abort.abort();
    expect(await running).toBe(0);
    const events = stdout.trim().split('\n').map((l) => JSON.parse(l) as AuditEvent);
    const seqs = events.map((e) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(events.some((e) => e.agentId === 'agent-follow')).toBe(true);
  });

  it('export jsonl streams every event in pages, in order', async () => {
    const s = openStore();
    // More than one page (AUDIT_PAGE_SIZE events).
    for (let i = 0; i < 520; i++) await seedPendingApproval(s, { agentId: `agent-${i % 3}` });
    const total = (await s.verifyAudit()).checked;
    expect(total).toBeGreaterThan(1000);
    const r = await run(['audit', 'export']);
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as AuditEvent);
    expect(events).toHaveLength(total);
    expect(events.every((e, i) => i === 0 || e.seq > events[i - 1]!.seq)).toBe(true);

    const filtered = await run(['audit', 'export', '--agent', 'agent-1', '--out', 'a1.jsonl', '--json']);
    const summary = JSON.parse(filtered.stdout) as { exported: number; file: string };
    const lines = readFileSync(join(dir, 'a1.jsonl'), 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(summary.exported);
    expect(lines.every((l) => (JSON.parse(l) as AuditEvent).agentId === 'agent-1')).toBe(true);
  });

  it('export csv quotes properly and keeps data as JSON; --since/--until filter', async () => {
    const s = openStore();
    await seedPendingApproval(s, { parameters: { note: 'a, "quoted"\nmultiline value', amount: 1 }, requestedAtMs: Date.parse('2030-01-01T00:00:00Z') });
    const r = await run(['audit', 'export', '--format', 'csv', '--out', 'audit.csv']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^exported \d+ events to audit\.csv\n$/);
    const rows = parseCsv(readFileSync(join(dir, 'audit.csv'), 'utf8'));
    expect(rows[0]).toEqual(['seq', 'ts', 'type', 'agentId', 'actionId', 'approvalId', 'actor', 'data', 'prevHash', 'hash']);
    const stored = await s.readAudit();
    expect(rows).toHaveLength(stored.length + 1);
    for (const [i, event] of stored.entries()) {
      const row = rows[i + 1]!;
      expect(row).toHaveLength(10);
      expect(Number(row[0])).toBe(event.seq);
      expect(JSON.parse(row[7]!)).toEqual(event.data);
      expect(row[9]).toBe(event.hash);
    }

    const ts = stored[0]!.ts;
    const future = await run(['audit', 'export', '--since', '2999-01-01']);
    expect(future.stdout).toBe('');
    const upTo = await run(['audit', 'export', '--until', ts]);
    expect(upTo.stdout.trimEnd().split('\n').length).toBeGreaterThanOrEqual(1);
  });

  it('verify: ok with head seq and hash prefix; --json', async () => {
    const s = openStore();
    await seedPendingApproval(s);
    const head = (await s.readAudit({ newestFirst: true, limit: 1 }))[0]!;
    const r = await run(['audit', 'verify']);
    expect(r).toMatchObject({ code: 0, stdout: `ok: ${head.seq} events (the whole chain), head ${head.seq} ${head.hash.slice(0, 12)}\n` });
    const json = await run(['audit', 'verify', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, headSeq: head.seq, headHash: head.hash });
  });
});
