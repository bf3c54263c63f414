/**
 * Promise: a press of a Slack button decides an approval only when the server's Slack app signed
 * the request, within five minutes, and the Slack user is one of the approvers the server names;
 * and it decides only the approval of its own webhook's organisation. A real `ascend serve` with a
 * Slack app, against a stand-in workspace that signs presses as Slack does: the approver's press
 * runs the waiting call and the message shows who decided; a forged, stale, altered or
 * re-targeted press, or one by anyone else, decides nothing.
 */
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { slackAppStandIn, textsIn, type SlackAppStandIn } from '../fixtures/chat-stand-ins.js';
import { captureLogs, eventually, tempDir } from '../helpers.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from '../server/helpers.js';

const SIGNING_SECRET = 'slack-signing-secret-0123456789abcdef';
const APPROVER = { id: 'U0APPROVER', username: 'carol' };
const STRANGER = { id: 'U0STRANGER', username: 'mallory' };

let server: ServerProcess;
let slack: SlackAppStandIn;
let webhookId: string;
const clients: AscendClient[] = [];

beforeAll(async () => {
  slack = await slackAppStandIn(SIGNING_SECRET);
  server = await startServerProcess({
    args: ['--allow-private-webhooks', '--webhook-retry-ms', '50', '--slack-approvers', `${APPROVER.id},U0SECOND`],
    env: { ASCEND_SLACK_SIGNING_SECRET: SIGNING_SECRET },
  });
  const made = await api(server, 'POST', '/v1/webhooks', server.keys.admin, { url: slack.url, format: 'slack', interactive: true, events: ['approval.requested'] });
  expect(made.status).toBe(200);
  expect(made.body).toMatchObject({ format: 'slack', interactive: true });
  webhookId = made.body.webhookId;
}, 60_000);
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await disposeServer(server);
  await slack?.close();
});

function agent(agentId: string, apiKey = server.keys.agent.apiKey): AscendClient {
  const client = new AscendClient({ agentId, apiUrl: server.url, apiKey, dataDir: path.join(tempDir(), '.ascend'), logDestination: captureLogs().destination });
  clients.push(client);
  return client;
}

/** A call left waiting, its approval id and its Slack message. */
async function waitingCall(agentId: string): Promise<{ approvalId: string; message: Record<string, any>; decision: Promise<{ decision: string }> }> {
  const decision = agent(agentId).evaluateAction({ actionType: 'payments.transfer', resource: 'acct-1', parameters: { amount: 5000 }, waitForApproval: true, approvalTimeoutMs: 30_000 });
  const approvalId = await eventually(async () => (await api(server, 'GET', `/v1/approvals?status=pending&agentId=${agentId}`, server.keys.approver)).body.approvals?.[0]?.approvalId as string | undefined, 15_000);
  const message = await eventually(() => slack.messages.find((m) => textsIn(m).includes(approvalId)), 15_000);
  return { approvalId, message, decision };
}

const statusOf = async (approvalId: string, key = server.keys.approver): Promise<string> => (await api(server, 'GET', `/v1/approvals/${approvalId}`, key)).body.status;

describe('interactive Slack buttons', () => {
  it('the buttons carry no link; an approver’s press decides in place, wakes the agent, and the message says who decided', async () => {
    const { approvalId, message, decision } = await waitingCall('slack-pay-1');
    const buttons = message.blocks.find((b: { type: string }) => b.type === 'actions').elements;
    expect(buttons.map((b: { url?: string }) => b.url)).toEqual([undefined, undefined]);

    expect(await slack.press(server.url, message, 'ascend_approve', APPROVER)).toBe(200);
    expect((await decision).decision).toBe('allowed');
    const record = (await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver)).body;
    expect(record).toMatchObject({ status: 'approved', channel: 'slack', decidedBy: 'slack:U0APPROVER (carol)' });
    const update = await eventually(() => slack.responses.find((r) => r.replace_original === true && textsIn(r).includes(approvalId)), 10_000);
    expect(textsIn(update)).toContain('Approved by slack:U0APPROVER (carol)');
    expect(update.blocks.some((b: { type: string }) => b.type === 'actions')).toBe(false);

    // A second press (of either button) changes nothing and says so, to that user only.
    expect(await slack.press(server.url, message, 'ascend_reject', APPROVER)).toBe(200);
    expect(await statusOf(approvalId)).toBe('approved');
    await eventually(() => slack.responses.find((r) => r.response_type === 'ephemeral' && String(r.text).startsWith('Already decided: approved')), 10_000);
  }, 60_000);

  it('a Slack user who is not an approver is told so, only them, and nothing is decided', async () => {
    const { approvalId, message, decision } = await waitingCall('slack-pay-2');
    const before = slack.responses.length;
    expect(await slack.press(server.url, message, 'ascend_approve', STRANGER)).toBe(200);
    const told = await eventually(() => slack.responses.slice(before).find((r) => r.response_type === 'ephemeral'), 10_000);
    expect(told.text).toContain('not among the approvers');
    expect(told.replace_original).toBe(false);
    expect(await statusOf(approvalId)).toBe('pending');
    expect(await slack.press(server.url, message, 'ascend_reject', APPROVER)).toBe(200);
    expect((await decision).decision).toBe('denied');
  }, 60_000);

  it('refuses (401) a press signed with another secret, signed 6 minutes ago or ahead, altered after signing, or unsigned', async () => {
    const { approvalId, message, decision } = await waitingCall('slack-pay-3');
    expect(await slack.press(server.url, message, 'ascend_approve', APPROVER, { signingSecret: 'not-the-apps-secret-0123456789abcd' })).toBe(401);
    expect(await slack.press(server.url, message, 'ascend_approve', APPROVER, { timestampOffsetS: -360 })).toBe(401);
    expect(await slack.press(server.url, message, 'ascend_approve', APPROVER, { timestampOffsetS: 360 })).toBe(401);
    expect(await slack.press(server.url, message, 'ascend_approve', APPROVER, { alterBody: (body) => body.replace('U0APPROVER', 'U0SECOND') })).toBe(401);
    const unsigned = await fetch(`${server.url}/slack/interactions`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'payload=%7B%7D' });
    expect(unsigned.status).toBe(401);
    expect(await statusOf(approvalId)).toBe('pending');
    expect(server.logs()).toContain('a Slack interaction without a valid signature was refused');
    expect(server.logs()).not.toContain(SIGNING_SECRET);
    await api(server, 'POST', `/v1/approvals/${approvalId}/reject`, server.keys.approver, { comment: 'cleanup' });
    await decision;
  }, 60_000);

  it('a button re-targeted at another organisation’s approval decides nothing there', async () => {
    // The other organisation has no Slack webhook: its approval is found through its own key.
    const theirs = agent('other-org-pay', server.keys.otherAgent.apiKey).evaluateAction({ actionType: 'payments.transfer', resource: 'acct-2', parameters: { amount: 5000 }, waitForApproval: true, approvalTimeoutMs: 30_000 });
    const otherId = await eventually(async () => (await api(server, 'GET', '/v1/approvals?status=pending&agentId=other-org-pay', server.keys.otherApprover)).body.approvals?.[0]?.approvalId as string | undefined, 15_000);
    const { approvalId, message, decision } = await waitingCall('slack-pay-4');
    expect(await slack.press(server.url, message, 'ascend_approve', APPROVER, { value: `${webhookId}/${otherId}` })).toBe(200);
    expect(await statusOf(otherId, server.keys.otherApprover)).toBe('pending');
    await eventually(() => slack.responses.find((r) => r.response_type === 'ephemeral' && r.text === 'This approval request does not exist.'), 10_000);
    await api(server, 'POST', `/v1/approvals/${approvalId}/reject`, server.keys.approver, {});
    await api(server, 'POST', `/v1/approvals/${otherId}/reject`, server.keys.otherApprover, {});
    await decision;
    expect((await theirs).decision).toBe('denied');
  }, 60_000);
});

describe('Slack user groups as approvers', () => {
  // A second server whose approvers are a user group: its members are read from the stand-in's
  // Web API with the bot token. `S0GONE` is a group Slack no longer knows.
  let groupServer: ServerProcess;
  let workspace: SlackAppStandIn;
  const MEMBER = { id: 'U0MEMBER', username: 'dana' };
  beforeAll(async () => {
    workspace = await slackAppStandIn(SIGNING_SECRET);
    workspace.userGroups.set('S0FINANCE', [MEMBER.id]);
    groupServer = await startServerProcess({
      args: ['--allow-private-webhooks', '--webhook-retry-ms', '50', '--slack-approvers', 'S0FINANCE'],
      env: { ASCEND_SLACK_SIGNING_SECRET: SIGNING_SECRET, ASCEND_SLACK_BOT_TOKEN: workspace.botToken, ASCEND_SLACK_API_URL: workspace.apiUrl },
    });
    const made = await api(groupServer, 'POST', '/v1/webhooks', groupServer.keys.admin, { url: workspace.url, format: 'slack', interactive: true, events: ['approval.requested'] });
    expect(made.status).toBe(200);
  }, 60_000);
  afterAll(async () => {
    await disposeServer(groupServer);
    await workspace?.close();
  });

  async function waitingOn(agentId: string) {
    const client = new AscendClient({ agentId, apiUrl: groupServer.url, apiKey: groupServer.keys.agent.apiKey, dataDir: path.join(tempDir(), '.ascend'), logDestination: captureLogs().destination });
    clients.push(client);
    const decision = client.evaluateAction({ actionType: 'payments.transfer', resource: 'acct-1', parameters: { amount: 5000 }, waitForApproval: true, approvalTimeoutMs: 30_000 });
    const approvalId = await eventually(async () => (await api(groupServer, 'GET', `/v1/approvals?status=pending&agentId=${agentId}`, groupServer.keys.approver)).body.approvals?.[0]?.approvalId as string | undefined, 15_000);
    const message = await eventually(() => workspace.messages.find((m) => textsIn(m).includes(approvalId)), 15_000);
    return { approvalId, message, decision };
  }

  it('a member of the group decides; someone outside it is told so and decides nothing', async () => {
    const { approvalId, message, decision } = await waitingOn('group-pay-1');
    const before = workspace.responses.length;
    expect(await workspace.press(groupServer.url, message, 'ascend_approve', STRANGER)).toBe(200);
    const told = await eventually(() => workspace.responses.slice(before).find((r) => r.response_type === 'ephemeral'), 10_000);
    expect(told.text).toContain('not among the approvers');
    expect((await api(groupServer, 'GET', `/v1/approvals/${approvalId}`, groupServer.keys.approver)).body.status).toBe('pending');
    expect(await workspace.press(groupServer.url, message, 'ascend_approve', MEMBER)).toBe(200);
    expect((await decision).decision).toBe('allowed');
    expect((await api(groupServer, 'GET', `/v1/approvals/${approvalId}`, groupServer.keys.approver)).body).toMatchObject({ status: 'approved', channel: 'slack', decidedBy: 'slack:U0MEMBER (dana)' });
    expect(workspace.apiCalls.every((c) => c.method === 'usergroups.users.list' && c.token === workspace.botToken)).toBe(true);
    expect(groupServer.logs()).not.toContain(workspace.botToken);
  }, 60_000);

  it('when Slack cannot list the group, nobody outside the named users decides (fail closed)', async () => {
    // The group disappears and its cached members expire: only a restart forgets them at once.
    workspace.userGroups.delete('S0FINANCE');
    await groupServer.stop();
    await groupServer.restart();
    const { approvalId, message, decision } = await waitingOn('group-pay-2');
    const before = workspace.responses.length;
    expect(await workspace.press(groupServer.url, message, 'ascend_approve', MEMBER)).toBe(200);
    const told = await eventually(() => workspace.responses.slice(before).find((r) => r.response_type === 'ephemeral'), 10_000);
    expect(told.text).toContain('could not check whether you are an approver');
    expect((await api(groupServer, 'GET', `/v1/approvals/${approvalId}`, groupServer.keys.approver)).body.status).toBe('pending');
    await api(groupServer, 'POST', `/v1/approvals/${approvalId}/reject`, groupServer.keys.approver, {});
    expect((await decision).decision).toBe('denied');
  }, 60_000);
});
