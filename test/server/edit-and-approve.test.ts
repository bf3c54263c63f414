/**
 * Edit and approve against a real `ascend serve`: a remote agent waits, an approver edits the
 * call from the CLI (`--set`, `--args`) or the API, and the tool runs with the edited arguments;
 * a bad edit gets a 4xx naming the field; the CLI on a local data dir edits too.
 */
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AscendClient, type AscendClientOptions } from '../../src/index.js';
import { captureLogs, eventually, runCli, tempDir, TEST_POLICY, writePolicy } from '../helpers.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from './helpers.js';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServerProcess();
});
afterAll(async () => {
  await disposeServer(server);
});

const clients: AscendClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});

function remoteAgent(opts: Partial<AscendClientOptions> = {}): AscendClient {
  const client = new AscendClient({
    agentId: 'edit-agent',
    apiUrl: server.url,
    apiKey: server.keys.agent.apiKey,
    dataDir: path.join(tempDir(), '.ascend'),
    logDestination: captureLogs().destination,
    timeoutMs: 3000,
    ...opts,
  });
  clients.push(client);
  return client;
}

function cli(args: string[], apiKey: string) {
  return runCli([...args, '--api-url', server.url], { cwd: tempDir(), env: { ...process.env, ASCEND_API_KEY: apiKey, ASCEND_API_URL: '' } });
}

/** The pending approval whose arguments have this `amount`. */
async function pendingWithAmount(amount: number): Promise<{ approvalId: string; parameters: Record<string, unknown> }> {
  return eventually(async () => {
    const r = await api(server, 'GET', '/v1/approvals?status=pending', server.keys.approver);
    return (r.body.approvals as Array<{ approvalId: string; parameters: Record<string, unknown> }>).find((a) => a.parameters.amount === amount);
  });
}

describe('edit and approve against a server', () => {
  it('the CLI edits with --set; the remote agent runs the edited call, with its secret intact', async () => {
    const agent = remoteAgent();
    const seen: unknown[] = [];
    const running = agent.govern({ actionType: 'payments.transfer', parameters: { amount: 7001, account: 'US-1', password: 'hunter2' } }, (decision, parameters) => {
      seen.push(parameters);
      return decision;
    });
    const pending = await pendingWithAmount(7001);
    expect(pending.parameters.password).toBe('[REDACTED]');
    const approved = await cli(['approvals', 'approve', pending.approvalId, '--set', 'account=EU-9', '--set', 'amount=700', '--comment', 'use the EU account'], server.keys.approver.apiKey);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain('with edits');
    const decision = await running;
    expect(seen).toEqual([{ amount: 700, account: 'EU-9', password: 'hunter2' }]);
    expect(decision.conditions).toEqual(expect.arrayContaining(['edited', 'approved']));
    const shown = await cli(['approvals', 'show', pending.approvalId], server.keys.approver.apiKey);
    expect(shown.stdout).toMatch(/edits:\s+account = "EU-9"; amount = 700/);
    expect(server.logs()).not.toContain('hunter2');
  });

  it('the CLI edits with --args: the arguments wanted, redacted ones left as shown', async () => {
    const agent = remoteAgent();
    const seen: unknown[] = [];
    const running = agent.govern({ actionType: 'payments.transfer', parameters: { amount: 7002, account: 'US-1', token: 't0k' } }, (_d, parameters) => seen.push(parameters));
    const pending = await pendingWithAmount(7002);
    const wanted = { ...pending.parameters, account: 'EU-2' };
    const approved = await cli(['approvals', 'approve', pending.approvalId, '--args', JSON.stringify(wanted)], server.keys.approver.apiKey);
    expect(approved.code, approved.stderr).toBe(0);
    await running;
    expect(seen).toEqual([{ amount: 7002, account: 'EU-2', token: 't0k' }]);
  });

  it('refuses a bad edit with a 4xx naming the field, and decides nothing', async () => {
    const agent = remoteAgent();
    const pending = await agent.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 7003, token: 'secret-token' } });
    const id = pending.approvalRequestId!;
    const redacted = await api(server, 'POST', `/v1/approvals/${id}/approve`, server.keys.approver, { edits: [{ path: ['token'], value: 'x' }] });
    expect(redacted.status).toBe(400);
    expect(JSON.stringify(redacted.body)).toContain('edits.0');
    expect(JSON.stringify(redacted.body)).toMatch(/redacted/);
    const both = await api(server, 'POST', `/v1/approvals/${id}/approve`, server.keys.approver, { edits: [{ path: ['amount'], value: 1, remove: true }] });
    expect(both.status).toBe(400);
    expect(JSON.stringify(both.body)).toContain('body.edits.0.value');
    const onReject = await api(server, 'POST', `/v1/approvals/${id}/reject`, server.keys.approver, { edits: [{ path: ['amount'], value: 1 }] });
    expect(onReject.status).toBe(400);
    const cliBoth = await cli(['approvals', 'approve', id, '--set', 'amount=1', '--args', '{}'], server.keys.approver.apiKey);
    expect(cliBoth.code).toBe(2);
    expect(cliBoth.stderr).toContain('--set or --args');
    expect((await api(server, 'GET', `/v1/approvals/${id}`, server.keys.approver)).body.status).toBe('pending');
  });

  it('a rejection comment reaches the agent in the refusal', async () => {
    const agent = remoteAgent();
    const running = agent.govern({ actionType: 'payments.transfer', parameters: { amount: 7004 } }, () => 'ran').catch((e: unknown) => e);
    const pending = await pendingWithAmount(7004);
    const rejected = await cli(['approvals', 'reject', pending.approvalId, '--comment', 'use the EU account instead'], server.keys.approver.apiKey);
    expect(rejected.code, rejected.stderr).toBe(0);
    expect(String(await running)).toContain('use the EU account instead');
  });
});

describe('edit and approve from the CLI on a local data dir', () => {
  it('approvals approve --set edits the call an embedded agent is waiting on', async () => {
    const dir = tempDir();
    const policy = writePolicy(dir, TEST_POLICY);
    const agent = new AscendClient({ agentId: 'local-agent', policy, dataDir: path.join(dir, '.ascend'), logLevel: 'silent' });
    clients.push(agent);
    const seen: unknown[] = [];
    const running = agent.govern({ actionType: 'payments.transfer', parameters: { amount: 5000, to: 'acct-1' } }, (_d, p) => seen.push(p));
    const env = { ...process.env, ASCEND_API_URL: '', ASCEND_API_KEY: '' };
    const listed = await eventually(async () => {
      const r = await runCli(['approvals', 'list', '--json', '--data-dir', path.join(dir, '.ascend')], { cwd: dir, env });
      return (JSON.parse(r.stdout || '[]') as Array<{ approvalId: string }>)[0];
    });
    const approved = await runCli(['approvals', 'approve', listed.approvalId, '--set', 'to=acct-2', '--data-dir', path.join(dir, '.ascend')], { cwd: dir, env });
    expect(approved.code, approved.stderr).toBe(0);
    await running;
    expect(seen).toEqual([{ amount: 5000, to: 'acct-2' }]);
  });
});
