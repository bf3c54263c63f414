import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient, openSqliteStore, defaultDbPath } from '../../src/index.js';
import { eventually, runCli, sleep, tempDir, TEST_POLICY, WOKEN_WITHIN_MS, writePolicy } from '../helpers.js';

const clients: AscendClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});

describe('a person in another process', () => {
  it('approves with `ascend approvals approve` and the waiting agent resumes promptly, not on a slow poll', async () => {
    const dir = tempDir();
    const dataDir = path.join(dir, '.ascend');
    const client = new AscendClient({ agentId: 'agent-x', policy: writePolicy(dir, TEST_POLICY), dataDir, logLevel: 'silent' });
    clients.push(client);
    let ranAt = 0;
    const running = client.govern({ actionType: 'payments.transfer', parameters: { amount: 5000 } }, () => {
      ranAt = Date.now();
      return 'sent';
    });
    const reader = openSqliteStore(defaultDbPath(dataDir));
    const pending = await eventually(async () => (await reader.listApprovals({ status: 'pending' }))[0]);
    const cli = await runCli(['approvals', 'approve', pending.approvalId, '--by', 'alice', '--comment', 'looks fine', '--data-dir', dataDir], { cwd: dir });
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    await expect(running).resolves.toBe('sent');
    const decided = await reader.getApproval(pending.approvalId);
    await reader.close();
    expect(decided).toMatchObject({ status: 'approved', decidedBy: 'alice', channel: 'cli', comment: 'looks fine' });
    expect(decided!.consumedAt).toBeTruthy();
    const resumeMs = ranAt - Date.parse(decided!.decidedAt!);
    expect(resumeMs).toBeGreaterThanOrEqual(0);
    // Far sooner than a poll every 5 s (the original Python SDK); the speed budget is a benchmark's.
    expect(resumeMs).toBeLessThan(WOKEN_WITHIN_MS);
  });

  it('blocks the agent with `ascend agents block`: the next call in the running process is denied', async () => {
    const dir = tempDir();
    const dataDir = path.join(dir, '.ascend');
    const client = new AscendClient({ agentId: 'agent-y', policy: writePolicy(dir, TEST_POLICY), dataDir, logLevel: 'silent' });
    clients.push(client);
    expect((await client.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' } })).decision).toBe('allowed');
    const cli = await runCli(['agents', 'block', 'agent-y', '--reason', 'leaking data', '--data-dir', dataDir], { cwd: dir });
    expect(cli.code).toBe(0);
    let ran = false;
    await expect(client.govern({ actionType: 'db.query', parameters: { sql: 'select 1' } }, () => (ran = true))).rejects.toThrow(/leaking data/);
    expect(ran).toBe(false);
    // The refused decision is recorded as made on the block, not the allow the cache suggested.
    const reader = openSqliteStore(defaultDbPath(dataDir));
    const events = await reader.readAudit({ agentId: 'agent-y', types: ['action.evaluated'] });
    await reader.close();
    expect(events.map((e) => e.data.decision)).toEqual(['allowed', 'denied']);
    expect(events[1]?.data.policyViolations).toEqual([expect.objectContaining({ code: 'agent_blocked' })]);
  });

  it('batched durability: a block reaches the running agent within flushIntervalMs', async () => {
    const dir = tempDir();
    const dataDir = path.join(dir, '.ascend');
    const client = new AscendClient({
      agentId: 'agent-z',
      policy: writePolicy(dir, TEST_POLICY),
      dataDir,
      logLevel: 'silent',
      audit: { durability: 'batched', flushIntervalMs: 20 },
    });
    clients.push(client);
    expect((await client.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' } })).decision).toBe('allowed');
    const cli = await runCli(['agents', 'block', 'agent-z', '--reason', 'runaway', '--data-dir', dataDir], { cwd: dir });
    expect(cli.code).toBe(0);
    // The store's copy of the agent is at most flushIntervalMs old: let that much real time pass
    // (the store's clock, performance.now() of node:perf_hooks, is not one a test can fake).
    await sleep(25);
    const after = await client.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' } });
    expect(after.decision).toBe('denied');
    expect(after.reason).toMatch(/runaway/);
  });
});
