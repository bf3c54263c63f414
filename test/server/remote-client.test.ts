/**
 * The client against a real `ascend serve` process: the same scenario embedded and remote
 * (only `apiUrl` differs), approvals across processes, redaction, idempotency, fail modes when
 * the server dies, and the fail-open spool uploaded after a restart.
 */
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AscendClient, AuthorizationError, FailMode, type AscendClientOptions } from '../../src/index.js';
import { callDigest } from '../../src/core/call-digest.js';
import { captureLogs, eventually, runCli, tempDir, TEST_POLICY, WOKEN_WITHIN_MS, writePolicy } from '../helpers.js';
import { api, disposeServer, requestsSent, startServerProcess, type ServerProcess } from './helpers.js';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServerProcess();
});
afterAll(async () => {
  await disposeServer(server);
});

const clients: AscendClient[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});

function remoteClient(opts: Partial<AscendClientOptions> = {}): AscendClient {
  const logs = captureLogs();
  const client = new AscendClient({
    agentId: 'agent-1',
    apiUrl: server.url,
    apiKey: server.keys.agent.apiKey,
    dataDir: path.join(tempDir(), '.ascend'),
    logDestination: logs.destination,
    timeoutMs: 3000,
    ...opts,
  });
  clients.push(client);
  return client;
}

/** One scenario, run unchanged against an embedded and a remote client. */
async function scenario(client: AscendClient): Promise<{ ran: string[]; denied: unknown }> {
  const ran: string[] = [];
  await client.register({ agentType: 'test', capabilities: ['db.*', 'payments.*'] });
  const rows = await client.govern({ actionType: 'db.query', resource: 'prod', parameters: { sql: 'SELECT 1' } }, () => {
    ran.push('select');
    return [{ one: 1 }];
  });
  expect(rows).toEqual([{ one: 1 }]);
  const denied = await client
    .govern({ actionType: 'db.execute', resource: 'prod', parameters: { sql: 'DROP TABLE users' } }, () => ran.push('drop'))
    .catch((e: unknown) => e);
  await expect(client.govern({ actionType: 'db.query', parameters: { sql: 'select 2' } }, () => {
    throw new Error('db is down');
  })).rejects.toThrow('db is down');
  return { ran, denied };
}

describe('remote client', () => {
  it('behaves exactly as the embedded one: only apiUrl differs', async () => {
    const dir = tempDir();
    const embedded = new AscendClient({ agentId: 'agent-1', policy: writePolicy(dir, TEST_POLICY), dataDir: path.join(dir, '.ascend'), logDestination: captureLogs().destination });
    clients.push(embedded);
    const local = await scenario(embedded);
    const remote = await scenario(remoteClient());
    expect(remote.ran).toEqual(local.ran);
    expect(remote.ran).toEqual(['select']);
    for (const denied of [local.denied, remote.denied]) {
      expect(denied).toBeInstanceOf(AuthorizationError);
      expect((denied as AuthorizationError).message).toContain('Dropping tables is never allowed');
    }
    // The failure and the completion are in the server's audit trail.
    const audit = await api(server, 'GET', '/v1/audit?agentId=agent-1&limit=100', server.keys.approver);
    const types = audit.body.events.map((e: { type: string }) => e.type);
    expect(types).toEqual(expect.arrayContaining(['agent.registered', 'action.evaluated', 'action.completed', 'action.failed']));
  });

  it('a pending call waits for an approver key; the approval wakes the agent in its long-poll, not when the poll ends', async () => {
    const logs = captureLogs();
    const client = remoteClient({ logDestination: logs.destination });
    const sent = requestsSent();
    let ranAt = 0;
    const governed = client.govern({ actionType: 'payments.transfer', parameters: { amount: 5000 } }, () => {
      ranAt = Date.now();
      return 'sent';
    });
    const pending = await eventually(async () => {
      const list = await api(server, 'GET', '/v1/approvals?status=pending&agentId=agent-1', server.keys.approver);
      return list.body.approvals.find((a: { parameters: { amount: number } }) => a.parameters.amount === 5000);
    });
    // An agent key can never approve, not even its own action.
    const refused = await api(server, 'POST', `/v1/approvals/${pending.approvalId}/approve`, server.keys.agent, {});
    expect(refused.status).toBe(403);
    // The agent says so right before it starts its long-poll (25 s); wait until that request is sent.
    await eventually(() => logs.text().includes('action is pending approval'));
    await eventually(() => sent.paths.some((p) => p.startsWith(`/v1/approvals/${pending.approvalId}/wait?`)));
    sent.stop();
    const approved = await api(server, 'POST', `/v1/approvals/${pending.approvalId}/approve`, server.keys.approver, { comment: 'ok' });
    const approvedAt = Date.now();
    expect(approved.status).toBe(200);
    expect(approved.body.decidedBy).toBe('alice');
    await expect(governed).resolves.toBe('sent');
    // Woken by the server's change notification: a poll (5 s in the original Python SDK) or the
    // long-poll running out (25 s) would take far longer. The speed budget is a benchmark's.
    expect(ranAt - approvedAt).toBeLessThan(WOKEN_WITHIN_MS);
    // Single use: the approval is spent.
    const after = await api(server, 'GET', `/v1/approvals/${pending.approvalId}`, server.keys.approver);
    expect(after.body.consumedAt).toBeTruthy();
  });

  it('an approval made with `ascend approvals approve` on the server database (another process) wakes the agent', async () => {
    const client = remoteClient();
    let ran = false;
    const governed = client.govern({ actionType: 'payments.transfer', parameters: { amount: 7000 } }, () => {
      ran = true;
    });
    const pending = await eventually(async () => {
      const list = await api(server, 'GET', '/v1/approvals?status=pending&agentId=agent-1', server.keys.approver);
      return list.body.approvals.find((a: { parameters: { amount: number } }) => a.parameters.amount === 7000);
    });
    const cli = await runCli(['approvals', 'approve', pending.approvalId, '--by', 'bob', '--data-dir', server.dir], {
      cwd: server.dir,
      env: { ...process.env, ASCEND_DATA_DIR: '' },
    });
    expect(cli.code, cli.stderr).toBe(0);
    await governed;
    expect(ran).toBe(true);
    const approval = await api(server, 'GET', `/v1/approvals/${pending.approvalId}`, server.keys.approver);
    expect(approval.body).toMatchObject({ status: 'approved', decidedBy: 'bob', channel: 'cli' });
  });

  it('a rejection denies and the tool never runs', async () => {
    const client = remoteClient();
    let ran = false;
    const governed = client
      .govern({ actionType: 'payments.transfer', parameters: { amount: 9000 } }, () => {
        ran = true;
      })
      .catch((e: unknown) => e);
    const pending = await eventually(async () => {
      const list = await api(server, 'GET', '/v1/approvals?status=pending&agentId=agent-1', server.keys.approver);
      return list.body.approvals.find((a: { parameters: { amount: number } }) => a.parameters.amount === 9000);
    });
    await api(server, 'POST', `/v1/approvals/${pending.approvalId}/reject`, server.keys.approver, { comment: 'no' });
    const err = await governed;
    expect(err).toBeInstanceOf(AuthorizationError);
    expect((err as Error).message).toContain('Rejected by alice');
    expect(ran).toBe(false);
  });

  it('secret parameters never reach the server: not stored, not logged', async () => {
    const client = remoteClient({ redact: ['card.number'] });
    await client.govern(
      { actionType: 'db.query', parameters: { sql: 'select 1', password: 'hunter2-secret', card: { number: '4111111111111111' } } },
      () => 1,
    );
    const audit = await api(server, 'GET', '/v1/audit?agentId=agent-1&type=action.evaluated&limit=500', server.keys.approver);
    const text = JSON.stringify(audit.body);
    expect(text).toContain('[REDACTED]');
    expect(text).not.toContain('hunter2-secret');
    expect(text).not.toContain('4111111111111111');
    expect(server.logs()).not.toContain('hunter2-secret');
  });

  it('a retried evaluate (same Idempotency-Key) records one action and answers the same decision', async () => {
    const parameters = { sql: 'select 42' };
    const body = { agentId: 'idem-agent', actionType: 'db.query', resource: 'prod', parameters, digest: callDigest({ agentId: 'idem-agent', actionType: 'db.query', resource: 'prod', parameters }) };
    const key = `retry-${Date.now()}-abcdefgh`;
    const answers = await Promise.all([1, 2, 3].map(() => api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, body, { 'idempotency-key': key })));
    const again = await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, body, { 'idempotency-key': key });
    for (const a of [...answers, again]) {
      expect(a.status).toBe(200);
      expect(a.body.actionId).toBe(key);
      expect(a.body.decision).toBe('allowed');
    }
    const audit = await api(server, 'GET', `/v1/audit?actionId=${key}`, server.keys.approver);
    expect(audit.body.events.filter((e: { type: string }) => e.type === 'action.evaluated')).toHaveLength(1);
    // The same key for a different call is refused, not answered with the first decision.
    const other = await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, { ...body, actionType: 'db.execute' }, { 'idempotency-key': key });
    expect(other.status).toBe(409);
  });
});

describe('remote client when the server goes away', () => {
  it('FailMode.CLOSED: no tool runs without a decision; FailMode.OPEN: every action is spooled and uploaded after restart', async () => {
    const breaker = { failureThreshold: 3, recoveryTimeoutMs: 300 };
    // A dead server refuses connections at once; the deadline only has to fit the restarted
    // server's first (cold) answers on a slow machine.
    const closed = remoteClient({ failMode: FailMode.CLOSED, timeoutMs: 5000, maxRetries: 1, circuitBreaker: breaker });
    const open = remoteClient({ agentId: 'agent-open', failMode: FailMode.OPEN, timeoutMs: 5000, maxRetries: 1, circuitBreaker: breaker });
    await open.register({});
    await server.kill();
    let executions = 0;
    for (let i = 0; i < 5; i++) {
      await closed.govern({ actionType: 'db.query', parameters: { sql: `select ${i}` } }, () => executions++).catch(() => undefined);
    }
    expect(executions).toBe(0);

    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      await open.govern({ actionType: 'db.query', parameters: { sql: `select ${i}` } }, (d) => ids.push(d.actionId));
    }
    expect(ids).toHaveLength(5);

    expect(open.circuitState).toBe('open');
    await server.restart();
    // The breaker lets a trial call through again once its clock (Date.now()) is past
    // recoveryTimeoutMs: move a fake Date there rather than wait (timers and sockets stay real).
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.advanceTimersByTime(350);
    await open.uploadSpool();
    expect(open.circuitState).toBe('closed');
    const audit = await api(server, 'GET', '/v1/audit?agentId=agent-open&limit=1000', server.keys.approver);
    const evaluated = audit.body.events.filter((e: { type: string; actionId: string }) => e.type === 'action.evaluated' && ids.includes(e.actionId));
    const completed = audit.body.events.filter((e: { type: string; actionId: string }) => e.type === 'action.completed' && ids.includes(e.actionId));
    expect(evaluated).toHaveLength(5);
    expect(completed).toHaveLength(5);
    expect(evaluated.every((e: { data: { conditions: string[] } }) => e.data.conditions.includes('fail_open_mode'))).toBe(true);
    const verify = await api(server, 'GET', '/v1/audit/verify', server.keys.admin);
    expect(verify.body.ok).toBe(true);
  });
});
