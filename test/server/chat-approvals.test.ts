/**
 * Approvals where people already are: `ascend serve` posts each approval request to a Slack
 * incoming webhook (Block Kit) or a Microsoft Teams workflow (Adaptive Card), with approve / reject
 * buttons that are the signed one-click links. Driven end to end against local stand-ins that
 * refuse what the real services would: an agent's call waits, a person presses a button in the
 * message, and the call runs (or is refused) — and nothing the model wrote becomes a link.
 */
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { slackStandIn, teamsStandIn, textsIn, urlsIn, type ChatStandIn } from '../fixtures/chat-stand-ins.js';
import { captureLogs, eventually, runCli, tempDir } from '../helpers.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from './helpers.js';

let server: ServerProcess;
let slack: ChatStandIn;
let teams: ChatStandIn;
const clients: AscendClient[] = [];

beforeAll(async () => {
  server = await startServerProcess({ args: ['--allow-private-webhooks', '--webhook-retry-ms', '50'] });
  slack = await slackStandIn();
  teams = await teamsStandIn();
  for (const [target, format] of [
    [slack, 'slack'],
    [teams, 'teams'],
  ] as const) {
    const made = await api(server, 'POST', '/v1/webhooks', server.keys.admin, { url: target.url, format, events: ['approval.requested', 'action.approved', 'action.denied'] });
    expect(made.status).toBe(200);
    expect(made.body).toMatchObject({ format, approvalLinks: true });
  }
}, 60_000);
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await disposeServer(server);
  await slack?.close();
  await teams?.close();
});

function agent(agentId: string): AscendClient {
  const client = new AscendClient({
    agentId,
    apiUrl: server.url,
    apiKey: server.keys.agent.apiKey,
    dataDir: path.join(tempDir(), '.ascend'),
    logDestination: captureLogs().destination,
    redact: ['card.number'],
  });
  clients.push(client);
  return client;
}

/** The message a stand-in got for an approval (found by its id in the texts). */
async function messageAbout(standIn: ChatStandIn, approvalId: string): Promise<Record<string, any>> {
  return eventually(() => standIn.messages.find((m) => textsIn(m).includes(approvalId) && urlsIn(m).length > 0), 15_000);
}

/** Press a button: open its page (a GET decides nothing), then confirm as its form does. */
async function press(url: string, comment: string): Promise<number> {
  const page = await fetch(url);
  expect(page.status).toBe(200);
  const confirmed = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ comment }).toString() });
  return confirmed.status;
}

async function pendingApprovalOf(agentId: string): Promise<string> {
  return eventually(async () => {
    const listed = await api(server, 'GET', `/v1/approvals?status=pending&agentId=${agentId}`, server.keys.approver);
    return listed.body.approvals?.[0]?.approvalId as string | undefined;
  }, 15_000);
}

describe('Slack (Block Kit, link buttons)', () => {
  it('an agent’s call waits, the message shows the request, Approve in Slack runs the call once', async () => {
    const client = agent('slack-agent');
    let ran = 0;
    const call = client.govern(
      { actionType: 'payments.transfer', resource: 'acct-9', parameters: { amount: 5000, card: { number: '4111111111111111' } } },
      () => {
        ran++;
        return 'sent';
      },
    );
    const approvalId = await pendingApprovalOf('slack-agent');
    const message = await messageAbout(slack, approvalId);
    const shown = textsIn(message.blocks);
    for (const expected of ['slack-agent', 'payments.transfer', 'acct-9', 'Large transfers need a person', '5000', '[REDACTED]', 'Risk: ']) expect(shown).toContain(expected);
    expect(shown).not.toContain('4111111111111111');
    const buttons = message.blocks.find((b: { type: string }) => b.type === 'actions').elements;
    expect(buttons.map((b: { text: { text: string } }) => b.text.text)).toEqual(['Approve…', 'Reject…']);
    expect(ran).toBe(0);

    expect(await press(buttons[0].url, 'ok from slack')).toBe(200);
    expect(await call).toBe('sent');
    expect(ran).toBe(1);
    const record = (await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver)).body;
    expect(record).toMatchObject({ status: 'approved', channel: 'link', comment: 'ok from slack', consumedAt: expect.any(String) });
    // The follow-up says who decided, in the same channel.
    await eventually(() => slack.messages.find((m) => m.blocks?.[0]?.text?.text === 'Approved' && textsIn(m).includes(approvalId)), 15_000);
    expect(slack.refusals).toEqual([]);
  }, 60_000);
});

describe('Microsoft Teams (Adaptive Card, link buttons)', () => {
  it('Reject in Teams refuses the call, and the agent reads the approver’s comment', async () => {
    const client = agent('teams-agent');
    let ran = false;
    const call = client.govern({ actionType: 'payments.transfer', resource: 'acct-7', parameters: { amount: 7000 } }, () => {
      ran = true;
    });
    const approvalId = await pendingApprovalOf('teams-agent');
    const message = await messageAbout(teams, approvalId);
    const card = message.attachments[0].content;
    expect(textsIn(card.body)).toContain('payments.transfer');
    expect(card.actions.map((a: { title: string }) => a.title)).toEqual(['Approve…', 'Reject…']);

    expect(await press(card.actions[1].url, 'use the EU account instead')).toBe(200);
    await expect(call).rejects.toThrow(/use the EU account instead/);
    expect(ran).toBe(false);
    expect((await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver)).body).toMatchObject({ status: 'rejected', channel: 'link' });
    await eventually(() => teams.messages.find((m) => textsIn(m.attachments[0].content.body).includes('Rejected') && textsIn(m).includes('use the EU account instead')), 15_000);
    expect(teams.refusals).toEqual([]);
  }, 60_000);
});

describe('what the model wrote never becomes a link or a mention', () => {
  it('markup in the arguments, the resource and the action is shown as text in both formats', async () => {
    const hostile = {
      note: '<https://evil.example/approve|Approve> <!channel> <@U0123> &amp; [Approve](https://evil.example/md) **now**',
      url: 'https://evil.example/plain',
    };
    const client = agent('hostile-agent');
    const call = client.evaluateAction({ actionType: 'payments.transfer', resource: '<!here> [x](https://evil.example/r)', parameters: { amount: 9000, ...hostile } });
    const approvalId = await pendingApprovalOf('hostile-agent');
    const links = await Promise.all([messageAbout(slack, approvalId), messageAbout(teams, approvalId)]);
    for (const message of links) {
      const urls = urlsIn(message);
      expect(urls).toHaveLength(2);
      for (const url of urls) expect(url.startsWith(`${server.url}/ui/links/${approvalId}/`)).toBe(true);
      expect(textsIn(message)).toContain('https://evil.example/plain'); // shown, as text
    }
    const [slackMessage, teamsMessage] = links as [Record<string, any>, Record<string, any>];
    // Slack: every text object is plain_text (never parsed), and the notification text is escaped.
    expect(JSON.stringify(slackMessage.blocks)).not.toContain('"mrkdwn"');
    expect(slackMessage.text).not.toMatch(/[<>]/);
    // Teams: the call's words are only in TextRuns, which take no Markdown.
    const card = teamsMessage.attachments[0].content;
    expect(card.body.every((element: { type: string }) => element.type === 'RichTextBlock')).toBe(true);
    await api(server, 'POST', `/v1/approvals/${approvalId}/reject`, server.keys.approver, { comment: 'no' });
    await call;
  }, 60_000);
});

describe('ascend webhooks (the CLI, against the server)', () => {
  it('creates a Slack webhook with buttons, lists it, removes it; refuses a bad format and needs a server', async () => {
    const env = { ...process.env, ASCEND_API_URL: server.url, ASCEND_API_KEY: server.keys.admin.apiKey };
    const made = await runCli(['webhooks', 'create', '--url', slack.url, '--format', 'slack', '--event', 'approval.requested,action.denied', '--json'], { env });
    expect(made.code, made.stderr).toBe(0);
    const hook = JSON.parse(made.stdout) as { webhookId: string; format: string; events: string[]; approvalLinks: boolean; secret: string };
    expect(hook).toMatchObject({ format: 'slack', events: ['approval.requested', 'action.denied'], approvalLinks: true });
    expect(hook.secret.length).toBeGreaterThan(16);

    const listed = await runCli(['webhooks', 'list'], { env });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(hook.webhookId);
    expect(listed.stdout).toMatch(new RegExp(`${hook.webhookId}\\s+slack`));

    const removed = await runCli(['webhooks', 'remove', hook.webhookId], { env });
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`removed ${hook.webhookId}`);

    // Without --event: the requests and how they ended for a message to people, everything for JSON.
    const teamsDefault = await api(server, 'POST', '/v1/webhooks', server.keys.admin, { url: teams.url, format: 'teams' });
    expect(teamsDefault.body.events).toEqual(['approval.requested', 'action.approved', 'action.denied']);
    const jsonDefault = await api(server, 'POST', '/v1/webhooks', server.keys.admin, { url: teams.url });
    expect(jsonDefault.body.events).toEqual(['action.evaluated', 'action.approved', 'action.denied', 'action.completed', 'action.failed', 'approval.requested']);
    for (const made of [teamsDefault, jsonDefault]) await api(server, 'DELETE', `/v1/webhooks/${made.body.webhookId}`, server.keys.admin);

    const bad = await runCli(['webhooks', 'create', '--url', slack.url, '--format', 'discord'], { env });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--format must be one of json, slack, teams');
    const wrongEvent = await runCli(['webhooks', 'create', '--url', slack.url, '--event', 'approval.asked'], { env });
    expect(wrongEvent.code).not.toBe(0);
    expect(wrongEvent.stderr).toMatch(/events/);
    const noServer = await runCli(['webhooks', 'list'], { env: { ...process.env, ASCEND_API_URL: '', ASCEND_API_KEY: '' } });
    expect(noServer.code).not.toBe(0);
    expect(noServer.stderr).toContain('lives on a server: pass --api-url');
  }, 60_000);
});

describe('buttons that decide inside Slack need the server’s Slack app', () => {
  it('refuses an interactive webhook on a server without one, or in another format, naming the field', async () => {
    const noApp = await api(server, 'POST', '/v1/webhooks', server.keys.admin, { url: slack.url, format: 'slack', interactive: true });
    expect(noApp.status).toBe(400);
    expect(JSON.stringify(noApp.body)).toContain('body.interactive');
    expect(JSON.stringify(noApp.body)).toContain('ASCEND_SLACK_SIGNING_SECRET');
    const notSlack = await api(server, 'POST', '/v1/webhooks', server.keys.admin, { url: teams.url, format: 'teams', interactive: true });
    expect(notSlack.status).toBe(400);
    expect(JSON.stringify(notSlack.body)).toContain('only with format');
    // And no interaction endpoint answers on a server without a Slack app.
    expect((await fetch(`${server.url}/slack/interactions`, { method: 'POST', body: 'payload=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status).toBe(404);
  });

  it('ascend serve wants the signing secret and the approvers together', async () => {
    const dir = tempDir();
    const noSecret = await runCli(['serve', '--port', '0', '--slack-approvers', 'U0APPROVER'], { cwd: dir, env: { ...process.env, ASCEND_SLACK_SIGNING_SECRET: '' } });
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toContain('ASCEND_SLACK_SIGNING_SECRET');
    const nobody = await runCli(['serve', '--port', '0'], { cwd: dir, env: { ...process.env, ASCEND_SLACK_SIGNING_SECRET: 'x'.repeat(32), ASCEND_SLACK_APPROVERS: '' } });
    expect(nobody.code).toBe(2);
    expect(nobody.stderr).toContain('--slack-approvers');
    const badId = await runCli(['serve', '--port', '0', '--slack-approvers', 'carol'], { cwd: dir, env: { ...process.env, ASCEND_SLACK_SIGNING_SECRET: 'x'.repeat(32) } });
    expect(badId.code).toBe(2);
    expect(badId.stderr).toContain('Slack user ids such as U024BE7LH and user group ids such as S0614TZR7, got "carol"');
    const groupWithoutToken = await runCli(['serve', '--port', '0', '--slack-approvers', 'U0APPROVER,S0FINANCE'], {
      cwd: dir,
      env: { ...process.env, ASCEND_SLACK_SIGNING_SECRET: 'x'.repeat(32), ASCEND_SLACK_BOT_TOKEN: '' },
    });
    expect(groupWithoutToken.code).toBe(2);
    expect(groupWithoutToken.stderr).toContain('ASCEND_SLACK_BOT_TOKEN');
  }, 30_000);
});
