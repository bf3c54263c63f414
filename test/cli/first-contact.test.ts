/**
 * Small things a new user trips on in the first hour: `policy check` / `policy test` without a
 * file name, a refusal from a server with its own exit code, the client honouring ASCEND_POLICY.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { captureLogs, runCli, tempDir } from '../helpers.js';
import { disposeServer, startServerProcess, type ServerProcess } from '../server/helpers.js';

describe('policy check and policy test default to ./ascend.policy.yaml', () => {
  it('check and test read ./ascend.policy.yaml when no file is named', async () => {
    const dir = tempDir();
    expect((await runCli(['init'], { cwd: dir })).code).toBe(0);
    const check = await runCli(['policy', 'check'], { cwd: dir });
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/^ok: \d+ rules/);
    const test = await runCli(['policy', 'test', '--request', '{"actionType":"database.query","parameters":{"query":"SELECT 1"}}', '--expect', 'allowed'], { cwd: dir });
    expect(test.code, test.stdout + test.stderr).toBe(0);
  });

  it('without the file, says which file it looked for', async () => {
    const dir = tempDir();
    const check = await runCli(['policy', 'check'], { cwd: dir });
    expect(check.code).toBe(1);
    expect(check.stdout + check.stderr).toContain('ascend.policy.yaml: policy file not found');
    expect(check.stdout + check.stderr).toContain('ascend init');
  });

  it('an invalid policy shows every problem with its line, not "(and 1 more problem)"', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'ascend.policy.yaml'), 'version: 1\nrules:\n  - id: a\n    actions: ["x"]\n    effect: nope\n  - id: b\n    actions: "y"\n    effect: allow\n');
    const check = await runCli(['policy', 'check'], { cwd: dir });
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('ascend.policy.yaml:5');
    expect(check.stdout).toMatch(/Also line 7 \(rule "b"\)/);
    expect(check.stdout).not.toContain('more problem');
  });
});

describe('the client honours ASCEND_POLICY', () => {
  it('uses the policy the environment names when none is passed', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'custom.yaml');
    fs.writeFileSync(file, 'version: 1\ndefault: deny\nrules:\n  - id: only-this\n    actions: ["custom.thing"]\n    effect: allow\n');
    const before = process.env.ASCEND_POLICY;
    process.env.ASCEND_POLICY = file;
    const client = new AscendClient({ agentId: 'env-policy', dataDir: path.join(dir, '.ascend'), logDestination: captureLogs().destination });
    try {
      expect((await client.evaluateAction({ actionType: 'custom.thing' })).matchedRules).toEqual(['only-this']);
      expect((await client.evaluateAction({ actionType: 'database.query', parameters: { query: 'SELECT 1' } })).decision).toBe('denied');
    } finally {
      await client.close();
      if (before === undefined) delete process.env.ASCEND_POLICY;
      else process.env.ASCEND_POLICY = before;
    }
  });
});

describe('a refusal from a server has its own exit code', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess();
  }, 30_000);
  afterAll(async () => {
    await disposeServer(server);
  });

  it('an agent key that may not list approvals exits 6 (not 5, "store or I/O error")', async () => {
    const denied = await runCli(['agents', 'block', 'someone', '--api-url', server.url], { env: { ASCEND_API_KEY: server.keys.agent.apiKey } });
    expect(denied.code, denied.stderr).toBe(6);
    const unknownKey = await runCli(['approvals', 'list', '--api-url', server.url], { env: { ASCEND_API_KEY: 'ak_0123456789abcdef_' + 'x'.repeat(43) } });
    expect(unknownKey.code, unknownKey.stderr).toBe(6);
  });
});
