/**
 * Approvals by email: `ascend serve --smtp-url` sends each approval request of an email webhook
 * (`format: "email"`, `url: "mailto:…"`) through a real SMTP server on 127.0.0.1, as text and
 * HTML with the signed approve / reject links; following the link from the email runs the
 * waiting call. Nothing the call carries becomes a header, a tag or a link.
 */
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { mailHeader, mailPart, smtpReceiver, type SmtpReceiver } from '../fixtures/smtp-receiver.js';
import { captureLogs, eventually, tempDir, TEST_POLICY } from '../helpers.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from './helpers.js';

let server: ServerProcess;
let smtp: SmtpReceiver;
const clients: AscendClient[] = [];

beforeAll(async () => {
  smtp = await smtpReceiver();
  // Whatever no rule names asks a person, so any action type reaches an approver's inbox.
  const policy = TEST_POLICY.replace('default: deny', 'default: require_approval');
  server = await startServerProcess({ policy, args: ['--webhook-retry-ms', '50'], env: { ASCEND_SMTP_URL: smtp.url, ASCEND_SMTP_FROM: 'Ascend <ascend@example.com>' } });
  const made = await api(server, 'POST', '/v1/webhooks', server.keys.admin, { url: 'mailto:finance@example.com,ops@example.com', format: 'email', events: ['approval.requested'] });
  expect(made.status).toBe(200);
  expect(made.body).toMatchObject({ format: 'email', approvalLinks: true });
}, 60_000);
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await disposeServer(server);
  await smtp?.close();
});

function agent(agentId: string): AscendClient {
  const client = new AscendClient({ agentId, apiUrl: server.url, apiKey: server.keys.agent.apiKey, dataDir: path.join(tempDir(), '.ascend'), logDestination: captureLogs().destination });
  clients.push(client);
  return client;
}

describe('approvals by email', () => {
  it('the email reaches both approvers, and its approve link runs the waiting call once', async () => {
    let ran = 0;
    const call = agent('mail-agent').govern({ actionType: 'payments.transfer', resource: 'acct-3', parameters: { amount: 6000 } }, () => {
      ran++;
      return 'sent';
    });
    const approvalId = await eventually(async () => (await api(server, 'GET', '/v1/approvals?status=pending&agentId=mail-agent', server.keys.approver)).body.approvals?.[0]?.approvalId as string | undefined, 15_000);
    const mail = await eventually(() => smtp.mails.find((m) => mailPart(m.raw, 'text/plain').includes(approvalId)), 15_000);
    expect(mail.from).toBe('ascend@example.com');
    expect(mail.to.sort()).toEqual(['finance@example.com', 'ops@example.com']);
    expect(mailHeader(mail.raw, 'Subject')).toBe('Approval needed: an agent asks to run a tool call: payments.transfer by mail-agent');
    const text = mailPart(mail.raw, 'text/plain');
    for (const expected of ['Agent: mail-agent', 'Resource: acct-3', '"amount": 6000', 'Risk: ']) expect(text).toContain(expected);
    const approve = /^Approve: (\S+)$/m.exec(text)![1]!;
    expect(approve.startsWith(`${server.url}/ui/links/${approvalId}/approve?`)).toBe(true);
    expect(mailPart(mail.raw, 'text/html')).toContain(`href="${approve.replace(/&/g, '&amp;')}"`);

    expect((await fetch(approve)).status).toBe(200); // the page; a GET decides nothing
    expect(ran).toBe(0);
    const confirmed = await fetch(approve, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'comment=by+mail' });
    expect(confirmed.status).toBe(200);
    expect(await call).toBe('sent');
    expect(ran).toBe(1);
    expect((await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver)).body).toMatchObject({ status: 'approved', channel: 'link', comment: 'by mail' });
  }, 60_000);

  it('nothing the call carries becomes a header, a tag or a link', async () => {
    // A line break in an action type never gets this far (no-call-disguises-itself-to-an-approver);
    // the subject is kept to one line all the same (chat-messages.test.ts).
    const decision = agent('mail-agent-2').evaluateAction({
      actionType: 'payments.refund Bcc: thief@example.net',
      resource: '<a href="https://evil.example/x">click</a>',
      parameters: { amount: 7000, note: '<script>alert(1)</script>' },
    });
    const id = await eventually(async () => (await api(server, 'GET', '/v1/approvals?status=pending&agentId=mail-agent-2', server.keys.approver)).body.approvals?.[0]?.approvalId as string | undefined, 15_000);
    const mail = await eventually(() => smtp.mails.find((m) => mailPart(m.raw, 'text/plain').includes(id)), 15_000);
    expect(mail.to.sort()).toEqual(['finance@example.com', 'ops@example.com']);
    const head = mail.raw.slice(0, mail.raw.indexOf('\r\n\r\n'));
    expect(head).not.toMatch(/^Bcc:/im);
    expect(mailHeader(mail.raw, 'Subject')).toBe('Approval needed: an agent asks to run a tool call: payments.refund Bcc: thief@example.net by mail-agent-2');
    expect(mail.to).not.toContain('thief@example.net');
    const html = mailPart(mail.raw, 'text/html');
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('href="https://evil.example');
    expect(html).toContain('&lt;script&gt;');
    const hrefs = [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!);
    expect(hrefs).toHaveLength(2);
    for (const href of hrefs) expect(href.startsWith(`${server.url}/ui/links/${id}/`)).toBe(true);
    await api(server, 'POST', `/v1/approvals/${id}/reject`, server.keys.approver, {});
    expect((await decision).decision).toBe('pending');
  }, 60_000);

  it('an email webhook needs a server with SMTP and a mailto: url of addresses, each naming the field', async () => {
    const notMail = await api(server, 'POST', '/v1/webhooks', server.keys.admin, { url: 'https://example.com/hook', format: 'email' });
    expect(notMail.status).toBe(400);
    expect(JSON.stringify(notMail.body)).toContain('body.url');
    const badAddress = await api(server, 'POST', '/v1/webhooks', server.keys.admin, { url: 'mailto:finance@example.com,not-an-address', format: 'email' });
    expect(badAddress.status).toBe(400);
    expect(JSON.stringify(badAddress.body)).toContain('\\"not-an-address\\" is not an address');
    const mailtoAsJson = await api(server, 'POST', '/v1/webhooks', server.keys.admin, { url: 'mailto:finance@example.com' });
    expect(mailtoAsJson.status).toBe(400);
    expect(JSON.stringify(mailtoAsJson.body)).toContain('a mailto: url needs format \\"email\\"');

    const plain = await startServerProcess({ args: ['--allow-private-webhooks'] });
    try {
      const noSmtp = await api(plain, 'POST', '/v1/webhooks', plain.keys.admin, { url: 'mailto:finance@example.com', format: 'email' });
      expect(noSmtp.status).toBe(400);
      expect(JSON.stringify(noSmtp.body)).toContain('--smtp-url');
    } finally {
      await disposeServer(plain);
    }
  }, 60_000);
});
