/**
 * The audit names the channel an answer really came through. Over HTTP the server records what
 * it can check — `api` for a program with a key, `dashboard` for a person signed in to the
 * dashboard, `link` for a one-click link — whatever channel the caller names. A caller's claim
 * (`mcp-elicitation`, `app-ui`, `callback`, `cli`) is kept beside it as `claimedChannel`, never
 * in its place. Real `ascend serve` over SQLite, real HTTP, the real CLI and the remote client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { AuthorizationError } from '../../src/core/errors.js';
import { callDigest } from '../../src/core/call-digest.js';
import { captureLogs, runCli, tempDir } from '../helpers.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from '../server/helpers.js';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServerProcess();
}, 60_000);
afterAll(async () => {
  await disposeServer(server);
});

let amount = 5000;
/** A fresh pending approval (a large transfer) of `agentId`. */
async function pending(agentId = 'payer'): Promise<string> {
  const parameters = { amount: amount++ };
  const answer = await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, {
    agentId,
    actionType: 'payments.transfer',
    resource: '',
    parameters,
    digest: callDigest({ agentId, actionType: 'payments.transfer', resource: '', parameters }),
  });
  expect(answer.body.decision).toBe('pending');
  return answer.body.approvalRequestId as string;
}

/** The `approval.approved` / `approval.rejected` event of an approval, as the audit shows it. */
async function decisionEvent(approvalId: string): Promise<{ actor: string; data: { channel: string; claimedChannel?: string } }> {
  const audit = await api(server, 'GET', '/v1/audit?limit=5000&type=approval.approved&type=approval.rejected', server.keys.approver);
  const events = (audit.body.events as Array<{ approvalId: string; type: string; actor: string; data: { channel: string; claimedChannel?: string } }>).filter(
    (e) => e.approvalId === approvalId && (e.type === 'approval.approved' || e.type === 'approval.rejected'),
  );
  expect(events).toHaveLength(1);
  return events[0]!;
}

describe('the audit names the real channel', () => {
  for (const claimed of ['mcp-elicitation', 'app-ui', 'callback', 'cli'] as const) {
    for (const verb of ['approve', 'reject'] as const) {
      it(`a key that says "${claimed}" when it ${verb}s is recorded as api, with ${claimed} only as the claim`, async () => {
        const approvalId = await pending();
        const answer = await api(server, 'POST', `/v1/approvals/${approvalId}/${verb}`, server.keys.approver, { channel: claimed, decidedBy: 'carol' });
        expect(answer.status).toBe(200);
        expect(answer.body).toMatchObject({ status: verb === 'approve' ? 'approved' : 'rejected', channel: 'api', decidedBy: 'carol (key alice)' });
        expect((await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver)).body.channel).toBe('api');
        const event = await decisionEvent(approvalId);
        expect(event.data).toMatchObject({ channel: 'api', claimedChannel: claimed });
      });
    }
  }

  it('a grant made with a claimed channel is recorded as api too', async () => {
    const approvalId = await pending('granted-payer');
    const answer = await api(server, 'POST', `/v1/approvals/${approvalId}/approve`, server.keys.approver, { channel: 'mcp-elicitation', grantMinutes: 5 });
    expect(answer.status).toBe(200);
    const grants = await api(server, 'GET', '/v1/grants?agentId=granted-payer', server.keys.approver);
    expect(grants.body.grants).toHaveLength(1);
    expect(grants.body.grants[0].channel).toBe('api');
  });

  it('a key that names no channel is recorded as api, with no claim', async () => {
    const approvalId = await pending();
    expect((await api(server, 'POST', `/v1/approvals/${approvalId}/approve`, server.keys.approver, {})).body.channel).toBe('api');
    const event = await decisionEvent(approvalId);
    expect(event.data.channel).toBe('api');
    expect(event.data.claimedChannel).toBeUndefined();
  });

  it('a person in the dashboard is recorded as dashboard, whatever the page sends', async () => {
    const signIn = await fetch(`${server.url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: server.keys.approver.apiKey }) });
    expect(signIn.status).toBe(200);
    const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
    const { csrfToken } = (await signIn.json()) as { csrfToken: string };
    const approvalId = await pending();
    const answer = await fetch(`${server.url}/v1/approvals/${approvalId}/approve`, {
      method: 'POST',
      headers: { cookie, 'x-ascend-csrf': csrfToken, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'app-ui' }),
    });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ status: 'approved', channel: 'dashboard' });
    const event = await decisionEvent(approvalId);
    expect(event.data.channel).toBe('dashboard');
    expect(event.data.claimedChannel).toBeUndefined();
  });

  it('`ascend approvals approve` against the server is recorded as api, claiming cli', async () => {
    const approvalId = await pending();
    const cli = await runCli(['approvals', 'approve', approvalId, '--by', 'dora', '--api-url', server.url], {
      cwd: tempDir(),
      env: { ...process.env, ASCEND_API_KEY: server.keys.approver.apiKey, ASCEND_API_URL: '' },
    });
    expect(cli.code, cli.stderr).toBe(0);
    expect((await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver)).body).toMatchObject({ status: 'approved', channel: 'api', decidedBy: 'dora (key alice)' });
    expect((await decisionEvent(approvalId)).data).toMatchObject({ channel: 'api', claimedChannel: 'cli' });
  }, 60_000);

  it("a remote client's in-process approver (an app's UI) is recorded as api, claiming app-ui; the tool runs once", async () => {
    const client = new AscendClient({
      agentId: 'ui-agent',
      apiUrl: server.url,
      apiKey: server.keys.admin.apiKey,
      dataDir: tempDir(),
      logDestination: captureLogs().destination,
      onApprovalRequired: () => ({ approved: true, decidedBy: 'app-user', channel: 'app-ui' as const }),
    });
    try {
      let runs = 0;
      await client.govern({ actionType: 'payments.transfer', parameters: { amount: 9100 } }, () => runs++);
      expect(runs).toBe(1);
      const approvals = await api(server, 'GET', '/v1/approvals?agentId=ui-agent', server.keys.approver);
      expect(approvals.body.approvals).toHaveLength(1);
      const approval = approvals.body.approvals[0];
      expect(approval).toMatchObject({ status: 'approved', channel: 'api', decidedBy: 'app-user (key root)' });
      expect((await decisionEvent(approval.approvalId)).data).toMatchObject({ channel: 'api', claimedChannel: 'app-ui' });
    } finally {
      await client.close();
    }
  });

  it("an agent key's in-process answer is never recorded as an approval (agents never approve)", async () => {
    const client = new AscendClient({
      agentId: 'self-approver',
      apiUrl: server.url,
      apiKey: server.keys.agent.apiKey,
      dataDir: tempDir(),
      logDestination: captureLogs().destination,
      onApprovalRequired: () => ({ approved: true, decidedBy: 'the agent itself', channel: 'mcp-elicitation' as const }),
    });
    try {
      let ran = false;
      await expect(client.govern({ actionType: 'payments.transfer', parameters: { amount: 9200 } }, () => (ran = true))).rejects.toBeInstanceOf(AuthorizationError);
      expect(ran).toBe(false);
      const approvals = await api(server, 'GET', '/v1/approvals?agentId=self-approver', server.keys.approver);
      expect(approvals.body.approvals.map((a: { status: string }) => a.status)).toEqual(['pending']);
    } finally {
      await client.close();
    }
  });
});
