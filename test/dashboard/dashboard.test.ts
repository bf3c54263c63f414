/**
 * The dashboard as a person uses it, in a real Chromium against real `ascend serve` / `ascend ui`
 * processes, with real agents waiting on their calls: sign in, see a request appear live,
 * approve / reject / grant, the agent proceeding within a second, the audit page saying who
 * decided and when, one-click links (valid and expired), phone width, and visits without a
 * session refused. Screenshots land in `test-results/screenshots/`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AscendClient, type DecisionResult } from '../../src/index.js';
import { CLI_MAIN, TEST_POLICY, TSX_IMPORT, WOKEN_WITHIN_MS, captureLogs, eventually, tempDir, writePolicy } from '../helpers.js';
import { api, disposeServer, startServerProcess, webhookReceiver, type ServerProcess } from '../server/helpers.js';
import { accessibilityViolations, launchBrowser, newPage, screenshot, signIn } from './browser.js';
import { slackStandIn } from '../fixtures/chat-stand-ins.js';

let browser: Browser;
let server: ServerProcess;
const clients: AscendClient[] = [];

beforeAll(async () => {
  [browser, server] = await Promise.all([launchBrowser(), startServerProcess()]);
}, 60_000);
afterAll(async () => {
  for (const c of clients) await c.close();
  await browser?.close();
  await disposeServer(server);
});

/** An agent talking to the server over HTTP. */
function agent(agentId: string, url = server.url, apiKey = server.keys.agent.apiKey): AscendClient {
  const client = new AscendClient({ agentId, apiUrl: url, apiKey, dataDir: tempDir(), logDestination: captureLogs().destination });
  clients.push(client);
  return client;
}

/** A large transfer: the test policy holds it for a person. */
function transfer(client: AscendClient, amount: number, to = 'acme-supplies'): Promise<DecisionResult> {
  return client.evaluateAction({ actionType: 'payments.transfer', resource: 'acct-42', parameters: { amount, to, memo: 'invoice 7781' }, waitForApproval: true, approvalTimeoutMs: 30_000 });
}

/** The pending card of a call, once it is on the page. */
async function cardFor(page: Page, text: string) {
  const card = page.locator('article.approval').filter({ hasText: text });
  await card.waitFor({ state: 'visible', timeout: 10_000 });
  return card;
}

/** Wait until the table shows rows and every row's text passes `check` (the filtered answer arrived). */
async function rowsSatisfy(rows: Locator, check: (text: string) => boolean): Promise<void> {
  let texts: string[] = [];
  await eventually(
    async () => {
      texts = await rows.allTextContents();
      return texts.length > 0 && texts.every(check);
    },
    { timeoutMs: 10_000, everyMs: 50, message: () => `rows never matched: ${JSON.stringify(texts.slice(0, 3))}` },
  );
}

describe('dashboard in a real browser', () => {
  it('an approver signs in, sees the request appear live, approves; the agent proceeds at once; the audit shows who and when', async () => {
    const { context, page } = await newPage(browser);
    try {
      await signIn(page, server.url, server.keys.approver.apiKey);
      await page.getByText('No requests are waiting.').waitFor();
      await screenshot(page, 'pending-empty');

      const decision = transfer(agent('billing-agent'), 5200);
      const card = await cardFor(page, '5200'); // arrived over SSE: the page was not reloaded
      await expect(card.getByText('payments.transfer').first().isVisible()).resolves.toBe(true);
      await expect(card.textContent()).resolves.toContain('large-transfers'); // the matched rule
      await screenshot(page, 'pending-request');

      await card.getByLabel('Comment').fill('Checked against PO 7781');
      const clickedAt = Date.now();
      await card.getByRole('button', { name: 'Approve' }).click();
      const result = await decision;
      const resumedMs = Date.now() - clickedAt;
      expect(result.decision).toBe('allowed');
      expect(result.approvedBy).toMatchObject({ decidedBy: 'alice', channel: 'dashboard' });
      expect(resumedMs).toBeLessThan(WOKEN_WITHIN_MS); // woken in its long-poll, not at its end (25 s)
      await card.waitFor({ state: 'detached', timeout: 5000 });

      await page.getByRole('link', { name: /Audit/ }).click();
      const row = page.locator('tr[data-seq]').filter({ hasText: 'approval.approved' }).first();
      await row.waitFor({ timeout: 10_000 });
      const text = (await row.textContent()) ?? '';
      expect(text).toContain('alice');
      expect(text).toContain('dashboard');
      const decided = await api(server, 'GET', `/v1/approvals/${result.approvalRequestId}`, server.keys.approver);
      const at = await row.locator('time').first().getAttribute('datetime');
      expect(at !== null && Math.abs(Date.parse(at) - Date.parse(decided.body.decidedAt)) < 1000).toBe(true);
      await page.locator('#chain-status').filter({ hasText: 'Chain verified' }).waitFor({ timeout: 10_000 });
      await screenshot(page, 'audit');
    } finally {
      await context.close();
    }
  });

  it('a rejection with a comment denies the waiting agent', async () => {
    const { context, page } = await newPage(browser);
    try {
      await signIn(page, server.url, server.keys.approver.apiKey);
      const decision = transfer(agent('rogue-agent'), 9100, 'unknown-offshore');
      const card = await cardFor(page, 'unknown-offshore');
      await card.getByLabel('Comment').fill('Unknown payee');
      await card.getByRole('button', { name: 'Reject' }).click();
      const result = await decision;
      expect(result.decision).toBe('denied');
      expect(result.policyViolations.map((v) => v.code)).toContain('approval_rejected');
      const record = await api(server, 'GET', `/v1/approvals/${result.approvalRequestId}`, server.keys.approver);
      expect(record.body).toMatchObject({ status: 'rejected', decidedBy: 'alice', channel: 'dashboard', comment: 'Unknown payee' });
    } finally {
      await context.close();
    }
  });

  it('edit and approve: the approver changes an argument, and the agent runs the edited call', async () => {
    const { context, page } = await newPage(browser);
    try {
      await signIn(page, server.url, server.keys.approver.apiKey);
      const decision = transfer(agent('edit-agent'), 6300, 'acme-us');
      const card = await cardFor(page, 'acme-us');
      await card.getByText('Edit arguments before approving').click();
      const editor = card.getByLabel('Arguments to run with (JSON)');
      await editor.fill('{ "amount": 6300, "to": ');
      await card.getByRole('button', { name: 'Approve' }).click();
      await page.getByRole('alert').filter({ hasText: 'not JSON' }).waitFor({ timeout: 5000 });
      expect((await api(server, 'GET', '/v1/approvals?status=pending&agentId=edit-agent', server.keys.approver)).body.approvals).toHaveLength(1);

      await page.getByRole('button', { name: 'Dismiss' }).click();
      await editor.fill(JSON.stringify({ amount: 6300, to: 'acme-eu', memo: 'invoice 7781' }, null, 2));
      await card.getByLabel('Comment').fill('Pay the EU entity');
      await screenshot(page, 'pending-edit');
      await card.getByRole('button', { name: 'Approve' }).click();
      const result = await decision;
      expect(result.decision).toBe('allowed');
      expect(result.conditions).toContain('edited');
      expect(result.editedParameters).toEqual({ amount: 6300, to: 'acme-eu', memo: 'invoice 7781' });
      const record = await api(server, 'GET', `/v1/approvals/${result.approvalRequestId}`, server.keys.approver);
      expect(record.body).toMatchObject({ status: 'approved', channel: 'dashboard', edits: [{ path: ['to'], value: 'acme-eu' }] });
    } finally {
      await context.close();
    }
  });

  it('approve with a grant: the next identical call goes through without a person', async () => {
    const { context, page } = await newPage(browser);
    const client = agent('payroll-agent');
    try {
      await signIn(page, server.url, server.keys.approver.apiKey);
      const first = transfer(client, 4000, 'payroll');
      const card = await cardFor(page, 'payroll-agent');
      await card.getByLabel('Grant minutes').fill('15');
      await card.getByRole('button', { name: 'Approve' }).click();
      expect((await first).decision).toBe('allowed');

      const started = Date.now();
      const second = await transfer(client, 4000, 'payroll');
      expect(second.decision).toBe('allowed');
      expect(second.conditions).toContain('grant');
      expect(second.approvedBy?.grantId).toBeDefined();
      expect(Date.now() - started).toBeLessThan(10_000); // nobody was waited for (that is up to 30 s)
      const pending = await api(server, 'GET', '/v1/approvals?status=pending&agentId=payroll-agent', server.keys.approver);
      expect(pending.body.approvals).toHaveLength(0);
      // The grant is listed on the page and can be revoked there.
      const grantRow = page.locator('[data-grant-id]').filter({ hasText: 'payroll-agent' });
      await grantRow.waitFor({ timeout: 10_000 });
      await grantRow.getByRole('button', { name: 'Revoke' }).click();
      await grantRow.waitFor({ state: 'detached', timeout: 10_000 });
      const grants = await api(server, 'GET', '/v1/grants?active=true&agentId=payroll-agent', server.keys.approver);
      expect(grants.body.grants).toHaveLength(0);
    } finally {
      await context.close();
    }
  });

  it('without a session nothing is shown or served, and an agent key cannot sign in', async () => {
    const { context, page } = await newPage(browser);
    const held = await agent('secret-agent').evaluateAction({ actionType: 'payments.transfer', resource: 'acct-1', parameters: { amount: 7000 }, waitForApproval: false });
    expect(held.decision).toBe('pending'); // there is something to hide
    try {
      await page.goto(`${server.url}/`);
      await page.getByLabel('API key').waitFor();
      expect(await page.locator('article.approval').count()).toBe(0);
      const status = await page.evaluate(async () => (await fetch('/v1/approvals?status=pending')).status);
      expect(status).toBe(401);

      await page.getByLabel('API key').fill(server.keys.agent.apiKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').filter({ hasText: 'agent key cannot sign in' }).waitFor({ timeout: 5000 });
      expect((await context.cookies()).filter((c) => c.name === 'ascend_session')).toHaveLength(0);
      await screenshot(page, 'sign-in-refused');
    } finally {
      await context.close();
    }
  });

  it('the session cookie is HttpOnly and SameSite=Strict, and the page works at phone width', async () => {
    const { context, page } = await newPage(browser, { width: 375, height: 812 });
    try {
      await signIn(page, server.url, server.keys.approver.apiKey);
      const decision = transfer(agent('mobile-agent'), 2500, 'phone-vendor');
      const card = await cardFor(page, 'phone-vendor');
      const cookie = (await context.cookies()).find((c) => c.name === 'ascend_session');
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
      expect(await page.evaluate('document.cookie')).not.toContain('ascend_session');
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
      expect(overflow).toBeLessThanOrEqual(0);
      await screenshot(page, 'pending-phone');
      // Keyboard only: focus the button and press Enter.
      await card.getByRole('button', { name: 'Approve' }).focus();
      await page.keyboard.press('Enter');
      expect((await decision).decision).toBe('allowed');
    } finally {
      await context.close();
    }
  });

  it('every page passes axe-core accessibility checks (no serious or critical violations)', async () => {
    const { context, page } = await newPage(browser, { width: 1280, height: 860 }, { bypassCSP: true });
    try {
      await signIn(page, server.url, server.keys.admin.apiKey);
      const a11yAgent = agent('a11y-agent');
      await a11yAgent.register({ agentType: 'billing' });
      const held = await a11yAgent.evaluateAction({ actionType: 'payments.transfer', resource: 'acct-3', parameters: { amount: 6100 }, waitForApproval: false });
      expect(held.decision).toBe('pending');
      await cardFor(page, 'a11y-agent');
      const found: Record<string, string[]> = {};
      found.pending = await accessibilityViolations(page);
      for (const [name, ready] of [
        ['Audit', 'tr[data-seq]'],
        ['Agents', 'tr[data-agent-id]'],
        ['Activity', 'svg[role="img"]'],
        ['Policy', '#policy-version'],
        ['Webhooks', '#webhook-url'],
      ] as const) {
        await page.getByRole('link', { name: new RegExp(name) }).click();
        await page.locator(ready).first().waitFor({ timeout: 10_000 });
        found[name] = await accessibilityViolations(page);
      }
      const { page: signInPage } = { page: await context.newPage() };
      await context.clearCookies();
      await signInPage.goto(`${server.url}/`);
      await signInPage.getByLabel('API key').waitFor();
      found.signIn = await accessibilityViolations(signInPage);
      expect(found).toEqual({ pending: [], Audit: [], Agents: [], Activity: [], Policy: [], Webhooks: [], signIn: [] });
      // The checker does find problems: a control without a label is one.
      await signInPage.setContent('<html lang="en"><title>t</title><main><input type="text"></main></html>');
      expect((await accessibilityViolations(signInPage)).join()).toMatch(/label/);
    } finally {
      await context.close();
    }
  });

  it('an admin adds a Slack webhook from the Webhooks page; a waiting call reaches Slack with buttons; a bad one is refused naming the field; Remove removes it', async () => {
    const slack = await slackStandIn();
    const own = await startServerProcess({ args: ['--allow-private-webhooks', '--webhook-retry-ms', '50'] });
    const { context, page } = await newPage(browser);
    try {
      await signIn(page, own.url, own.keys.admin.apiKey);
      await page.getByRole('link', { name: 'Webhooks' }).click();
      await page.getByText('No webhooks yet.').waitFor({ timeout: 10_000 });
      // Interactive buttons need the server's Slack app, which this one has not: refused, naming the field.
      await page.getByLabel('URL').fill(slack.url);
      await page.getByLabel('Format').selectOption('slack');
      await page.getByLabel(/buttons decide inside Slack/).check();
      await page.getByRole('button', { name: 'Add webhook' }).click();
      await page.getByRole('alert').filter({ hasText: 'interactive' }).waitFor({ timeout: 5000 });
      expect((await api(own, 'GET', '/v1/webhooks', own.keys.admin)).body.webhooks).toHaveLength(0);

      await page.getByLabel(/buttons decide inside Slack/).uncheck();
      await page.getByRole('button', { name: 'Add webhook' }).click();
      const row = page.locator('tr[data-webhook-id]').filter({ hasText: slack.url });
      await row.waitFor({ timeout: 10_000 });
      expect(await row.textContent()).toContain('one-click links');
      await screenshot(page, 'webhooks');

      const waiting = agent('slack-form-agent', own.url, own.keys.agent.apiKey).evaluateAction({ actionType: 'payments.transfer', resource: 'acct-5', parameters: { amount: 5100 }, waitForApproval: false });
      expect((await waiting).decision).toBe('pending');
      // The request itself, with its buttons (the default events also bring the decision's message).
      const request = await eventually(() => slack.messages.find((m) => JSON.stringify(m).includes('slack-form-agent') && JSON.stringify(m).includes('Approve…')), 15_000);
      expect(JSON.stringify(request)).toContain('acct-5');
      expect(slack.refusals).toEqual([]);

      await row.getByRole('button', { name: 'Remove' }).click();
      await page.getByText('No webhooks yet.').waitFor({ timeout: 10_000 });
      const [removed] = (await api(own, 'GET', '/v1/webhooks', own.keys.admin)).body.webhooks;
      expect(removed).toMatchObject({ url: slack.url, disabledAt: expect.any(String) }); // its delivery history stays
    } finally {
      await context.close();
      await disposeServer(own);
      await slack.close();
    }
  });

  it('an admin blocks an agent from the Agents page: its next call is denied, with the reason; unblocking lets it through', async () => {
    const { context, page } = await newPage(browser);
    const runaway = agent('runaway-agent');
    await runaway.register({ agentType: 'ops' });
    try {
      const read = { actionType: 'db.query', resource: 'prod', parameters: { sql: 'select 1' } };
      expect((await runaway.evaluateAction(read)).decision).toBe('allowed');
      await signIn(page, server.url, server.keys.admin.apiKey);
      await page.getByRole('link', { name: /Agents/ }).click();
      const row = page.locator('tr[data-agent-id="runaway-agent"]');
      await row.getByRole('button', { name: 'Block' }).click();
      await row.getByLabel('Reason').fill('looping on refunds');
      await row.getByRole('button', { name: 'Block agent' }).click();
      await row.getByRole('button', { name: 'Unblock' }).waitFor({ timeout: 10_000 });
      const denied = await runaway.evaluateAction(read);
      expect(denied.decision).toBe('denied');
      expect(denied.policyViolations.map((v) => v.code)).toContain('agent_blocked');
      expect(denied.reason).toContain('looping on refunds');
      await row.getByRole('button', { name: 'Unblock' }).click();
      await row.getByRole('button', { name: 'Block' }).waitFor({ timeout: 10_000 });
      expect((await runaway.evaluateAction(read)).decision).toBe('allowed');
    } finally {
      await context.close();
    }
  });

  it('the audit page filters by agent, event type, action and decision', async () => {
    const { context, page } = await newPage(browser);
    try {
      await signIn(page, server.url, server.keys.approver.apiKey);
      await page.getByRole('link', { name: /Audit/ }).click();
      await page.locator('tr[data-seq]').first().waitFor({ timeout: 10_000 });
      await page.getByLabel('Agent').fill('rogue-agent');
      await page.getByLabel('Event type').selectOption('approval.rejected');
      await page.getByRole('button', { name: 'Apply' }).click();
      const rows = page.locator('tr[data-seq]');
      await rowsSatisfy(rows, (t) => t.includes('approval.rejected'));
      const texts = await rows.allTextContents();
      expect(texts.length).toBe(1);
      expect(texts[0]).toContain('rogue-agent');
      expect(texts[0]).toContain('Unknown payee');

      // The kill-switch test left a denied db.query by runaway-agent.
      await page.getByRole('button', { name: 'Clear' }).click();
      await page.getByLabel('Action').fill('db.query');
      await page.getByLabel('Decision').selectOption('denied');
      await page.getByRole('button', { name: 'Apply' }).click();
      await rowsSatisfy(rows, (t) => t.includes('denied') && t.includes('db.query'));
      expect((await rows.allTextContents()).some((t) => t.includes('runaway-agent'))).toBe(true);
      // Each decision names the policy that made it (the full version on hover).
      const version = rows.first().locator('.policy-version');
      expect(await version.textContent()).toMatch(/^policy sha256:[0-9a-f]{12}$/);
      expect(await version.getAttribute('title')).toMatch(/^sha256:[0-9a-f]{64}$/);
    } finally {
      await context.close();
    }
  });

  it("the Agents page shows each budget's use, and a used-up budget's next free unit", async () => {
    const policy = `${TEST_POLICY}
  - id: mail-budget
    actions: ["email.send"]
    limit: { count: 3, per: 1h }
    effect: deny
  - id: mail
    actions: ["email.send"]
    effect: allow
`;
    const limited = await startServerProcess({ policy });
    const { context, page } = await newPage(browser);
    try {
      const mailer = agent('mailer-agent', limited.url, limited.keys.agent.apiKey);
      await mailer.register({ agentType: 'mail' });
      const send = () => mailer.evaluateAction({ actionType: 'email.send', resource: 'smtp', parameters: { to: 'a@example.com' } });
      for (let i = 0; i < 2; i++) expect((await send()).decision).toBe('allowed');
      await signIn(page, limited.url, limited.keys.approver.apiKey);
      await page.getByRole('link', { name: /Agents/ }).click();
      const budget = page.locator('tr[data-agent-id="mailer-agent"] [data-rule-id="mail-budget"]');
      await budget.waitFor({ timeout: 10_000 });
      expect(await budget.textContent()).toContain('2 / 3 per 1h');
      expect((await send()).decision).toBe('allowed');
      expect((await send()).decision).toBe('denied');
      // The page reloads as calls are made: used up, with when the next unit frees.
      await page.locator('tr[data-agent-id="mailer-agent"] .budget-spent').waitFor({ timeout: 10_000 });
      const text = (await budget.textContent()) ?? '';
      expect(text).toContain('3 / 3 per 1h');
      expect(text).toContain('next unit at');
      await screenshot(page, 'agents-budgets');
    } finally {
      await context.close();
      await disposeServer(limited);
    }
  });

  it('the Policy page shows the version in force, a change that did not load, and the history of switches', async () => {
    const own = await startServerProcess();
    // bypassCSP: only so that the accessibility checker can be injected into the page.
    const { context, page } = await newPage(browser, undefined, { bypassCSP: true });
    try {
      const file = path.join(own.dir, 'ascend.policy.yaml');
      const started = fs.readFileSync(file, 'utf8');
      await signIn(page, own.url, own.keys.approver.apiKey);
      await page.getByRole('link', { name: /Policy/ }).click();
      const version = page.locator('#policy-version');
      await version.waitFor({ timeout: 10_000 });
      const first = (await version.textContent()) ?? '';
      expect(first).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(await page.getByText('No switch since the audit trail began').isVisible()).toBe(true);

      fs.writeFileSync(file, `${started}# reviewed\n`);
      await page.locator('table.policy-history tr[data-seq]').first().waitFor({ timeout: 10_000 });
      expect(await version.textContent()).not.toBe(first);
      expect(await page.locator('table.policy-history tr[data-seq]').first().textContent()).toContain(first.slice(0, 19));

      fs.writeFileSync(file, 'version: 1\nrules:\n  - id: x\n    efect: allow\n');
      const failure = page.locator('#policy-load-error');
      await failure.waitFor({ timeout: 10_000 });
      expect(await failure.textContent()).toMatch(/ascend\.policy\.yaml:4:5 \(rule "x"\): unknown key "efect"/);
      expect(await failure.textContent()).toContain('the policy above stays in force');
      await screenshot(page, 'policy');

      // What if: a candidate that refuses reads, replayed over the calls made here.
      for (let i = 0; i < 3; i++) {
        const r = await api(own, 'POST', '/v1/actions/evaluate', own.keys.agent, { agentId: 'reader', actionType: 'db.query', resource: 'prod', parameters: { sql: 'SELECT 1' }, digest: 'd'.repeat(64) });
        expect(r.body.decision).toBe('allowed');
      }
      await page.getByLabel('Candidate policy').fill('version: 1\ndefault: deny\nrules: []\n');
      await page.getByRole('button', { name: 'Replay' }).click();
      const summary = page.locator('#whatif-summary');
      await summary.waitFor({ timeout: 10_000 });
      expect(await summary.textContent()).toMatch(/^Replayed 3 recorded calls: 3 would change\.$/);
      expect(await page.locator('#whatif-transitions').textContent()).toContain('allowed → denied3');
      expect(await page.locator('#whatif-rules').textContent()).toContain('(default)');
      expect(await accessibilityViolations(page)).toEqual([]);
      await screenshot(page, 'policy-what-if');
      await page.getByLabel('Candidate policy').fill('version: 1\nrules:\n  - id: x\n    efect: allow\n');
      await page.getByRole('button', { name: 'Replay' }).click();
      await page.locator('#whatif-error').waitFor({ timeout: 10_000 });
      expect(await page.locator('#whatif-error').textContent()).toMatch(/candidate \(dashboard\):4:5/);
    } finally {
      await context.close();
      await disposeServer(own);
    }
  });

  it('shows agents and the activity charts', async () => {
    const { context, page } = await newPage(browser);
    await agent('reporting-agent').register({ agentType: 'analytics', capabilities: ['db.query'], allowedResources: ['reports/*'] });
    try {
      await signIn(page, server.url, server.keys.admin.apiKey);
      await page.getByRole('link', { name: /Agents/ }).click();
      await page.getByText('reporting-agent').first().waitFor({ timeout: 10_000 });
      await screenshot(page, 'agents');
      await page.getByRole('link', { name: /Activity/ }).click();
      const charts = page.locator('svg[role="img"]');
      await charts.first().waitFor({ timeout: 10_000 });
      expect(await charts.count()).toBeGreaterThanOrEqual(2);
      const label = (await charts.first().getAttribute('aria-label')) ?? '';
      expect(label.length).toBeGreaterThan(10);
      await screenshot(page, 'activity');
    } finally {
      await context.close();
    }
  });
});


describe('one-click links in a real browser', () => {
  let linkServer: ServerProcess;
  let sink: Awaited<ReturnType<typeof webhookReceiver>>;
  beforeAll(async () => {
    // Approvals expire after 3 s here, and their links with them.
    linkServer = await startServerProcess({ policy: TEST_POLICY.replace('approvalTimeoutSeconds: 60', 'approvalTimeoutSeconds: 3'), args: ['--allow-private-webhooks'] });
    sink = await webhookReceiver();
    const hook = await api(linkServer, 'POST', '/v1/webhooks', linkServer.keys.admin, { url: sink.url, events: ['approval.requested'], approvalLinks: true });
    expect(hook.status).toBe(200);
  }, 60_000);
  afterAll(async () => {
    await sink?.close();
    await disposeServer(linkServer);
  });

  async function requestWithLinks(agentId: string): Promise<{ approvalId: string; approve: string; reject: string }> {
    const client = agent(agentId, linkServer.url, linkServer.keys.agent.apiKey);
    const d = await client.evaluateAction({ actionType: 'payments.transfer', resource: 'acct-1', parameters: { amount: 3000 }, waitForApproval: false });
    expect(d.decision).toBe('pending');
    const links = await eventually(
      () => sink.bodies.map((b) => JSON.parse(b) as { approvalId: string; links?: { approve: string; reject: string } }).find((p) => p.approvalId === d.approvalRequestId)?.links,
      { timeoutMs: 5000, everyMs: 20, message: () => 'no webhook with links arrived' },
    );
    return { approvalId: d.approvalRequestId!, ...links };
  }

  it('a link opens a confirmation page; its one button approves, once', async () => {
    const { approvalId, approve } = await requestWithLinks('chat-agent');
    const { context, page } = await newPage(browser);
    try {
      await page.goto(approve);
      await page.getByRole('heading', { name: 'Approve this call?' }).waitFor();
      await screenshot(page, 'link-confirm');
      expect((await api(linkServer, 'GET', `/v1/approvals/${approvalId}`, linkServer.keys.approver)).body.status).toBe('pending');
      await page.getByRole('button', { name: 'Approve' }).click();
      await page.getByRole('heading', { name: 'Approved' }).waitFor();
      const record = (await api(linkServer, 'GET', `/v1/approvals/${approvalId}`, linkServer.keys.approver)).body;
      expect(record).toMatchObject({ status: 'approved', channel: 'link' });
      await page.goto(approve);
      await page.getByRole('heading', { name: 'Already decided' }).waitFor();
    } finally {
      await context.close();
    }
  });

  it('an expired link is refused and decides nothing', async () => {
    const { approvalId, approve } = await requestWithLinks('late-agent');
    // The server's clock is this machine's: wait until it is past the expiry the link carries
    // (the approval's: 3 s after the request), not for a guess of how long that is.
    const expiresAtMs = Number(new URL(approve).searchParams.get('exp'));
    await eventually(() => Date.now() > expiresAtMs, { timeoutMs: 10_000, everyMs: 20 });
    const { context, page } = await newPage(browser);
    try {
      const response = await page.goto(approve);
      expect(response?.status()).toBe(410);
      await page.getByText('This link has expired.').waitFor();
      await screenshot(page, 'link-expired');
      expect((await api(linkServer, 'GET', `/v1/approvals/${approvalId}`, linkServer.keys.approver)).body.status).not.toBe('approved');
    } finally {
      await context.close();
    }
  });
});

describe('ascend ui over an embedded database', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGTERM');
  });

  it('prints a sign-in link; an approval there wakes an embedded agent in another process promptly', async () => {
    const dir = tempDir('ascend-ui-');
    const policy = writePolicy(dir, TEST_POLICY);
    const embedded = new AscendClient({ agentId: 'laptop-agent', policy, dataDir: dir, logDestination: captureLogs().destination });
    clients.push(embedded);

    child = spawn(process.execPath, ['--import', TSX_IMPORT, CLI_MAIN, 'ui', '--port', '0', '--data-dir', dir, '--by', 'dana'], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const login = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`ascend ui did not start: ${out}`)), 15_000);
      child!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const match = /(http:\/\/127\.0\.0\.1:\d+\/ui\/login\?token=\S+)/.exec(out);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
    });
    const base = new URL(login).origin;
    const { context, page } = await newPage(browser);
    try {
      // Without the token: refused.
      expect((await page.goto(`${base}/ui/login?token=wrong`))?.status()).toBe(401);
      await page.goto(login);
      await page.getByText('dana').first().waitFor({ timeout: 10_000 });

      const decision = embedded.evaluateAction({ actionType: 'payments.transfer', resource: 'acct-7', parameters: { amount: 8800 }, waitForApproval: true, approvalTimeoutMs: 30_000 });
      const card = await cardFor(page, 'laptop-agent');
      await screenshot(page, 'ascend-ui');
      const clickedAt = Date.now();
      await card.getByRole('button', { name: 'Approve' }).click();
      const result = await decision;
      expect(result.decision).toBe('allowed');
      expect(result.approvedBy).toMatchObject({ decidedBy: 'dana', channel: 'dashboard' });
      expect(Date.now() - clickedAt).toBeLessThan(WOKEN_WITHIN_MS);
      expect(fs.existsSync(path.join(dir, 'ascend.db'))).toBe(true);
    } finally {
      await context.close();
    }
  });
});
