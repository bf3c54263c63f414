/**
 * The dashboard's server side over real HTTP against a real `ascend serve` process: sign-in
 * sessions (cookie flags, agent keys refused, CSRF and Origin on changes, revocation ends a
 * session), the statistics behind the charts, and signed one-click approval links delivered in
 * webhook payloads (confirm page that never decides on GET, single use, expiry, tampering).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callDigest } from '../../src/core/call-digest.js';
import { countEvaluations } from '../../src/server/routes/stats.js';
import { approvalLinksFor, checkLink } from '../../src/server/dashboard/links.js';
import type { AuditEvent } from '../../src/core/types.js';
import { eventuallyPasses } from '../helpers.js';
import { api, disposeServer, startServerProcess, webhookReceiver, type ServerProcess } from './helpers.js';

let server: ServerProcess;
/** Credentials seen by the tests: none may appear in the server's log. */
const secretsSeen: string[] = [];
beforeAll(async () => {
  server = await startServerProcess({ args: ['--allow-private-webhooks', '--webhook-retry-ms', '50'] });
});
afterAll(async () => {
  await disposeServer(server);
});

function evaluateBody(agentId: string, actionType: string, parameters: Record<string, unknown>) {
  return { agentId, actionType, resource: 'prod', parameters, digest: callDigest({ agentId, actionType, resource: 'prod', parameters }) };
}

async function pendingApproval(agentId = 'dash-agent', amount = 5000 + Math.random()): Promise<string> {
  const d = await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, evaluateBody(agentId, 'payments.transfer', { amount }));
  expect(d.body.decision).toBe('pending');
  return d.body.approvalRequestId as string;
}

interface Browserless {
  cookie: string;
  csrf: string;
  setCookie: string;
}

async function signIn(apiKey: string): Promise<Browserless> {
  const r = await fetch(`${server.url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey }) });
  expect(r.status).toBe(200);
  const setCookie = r.headers.get('set-cookie')!;
  const body = (await r.json()) as { csrfToken: string };
  secretsSeen.push(apiKey, setCookie.split(';')[0]!.split('=')[1]!, body.csrfToken);
  return { cookie: setCookie.split(';')[0]!, csrf: body.csrfToken, setCookie };
}

async function withSession(s: Browserless, method: string, path: string, body?: unknown, extra: Record<string, string> = {}) {
  const r = await fetch(server.url + path, {
    method,
    headers: { cookie: s.cookie, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...extra },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined };
}

describe('dashboard sessions', () => {
  it('serves the page with a strict content security policy and no data without a session', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const plain = await fetch(`${server.url}/ui/assets/app.js`, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-encoding')).toBeNull();
    const js = await plain.text();
    const zipped = await fetch(`${server.url}/ui/assets/app.js`); // fetch asks for gzip and inflates it
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    expect(await zipped.text()).toBe(js);
    expect((await fetch(`${server.url}/ui/assets/app.js`, { headers: { 'if-none-match': plain.headers.get('etag')! } })).status).toBe(304);
    expect((await fetch(`${server.url}/ui/assets/..%2f..%2fpackage.json`)).status).toBe(404);
    expect((await fetch(`${server.url}/ui/session`)).status).toBe(401);
    expect((await fetch(`${server.url}/v1/approvals`, { headers: { cookie: 'ascend_session=forged.value' } })).status).toBe(401);
  });

  it('signs in an approver with an HttpOnly, SameSite=Strict cookie; an agent key cannot sign in', async () => {
    const s = await signIn(server.keys.approver.apiKey);
    expect(s.setCookie).toMatch(/HttpOnly/);
    expect(s.setCookie).toMatch(/SameSite=Strict/);
    expect(s.setCookie).toMatch(/Path=\//);
    expect(s.setCookie).not.toContain(server.keys.approver.apiKey);
    const me = await withSession(s, 'GET', '/ui/session');
    expect(me.body).toMatchObject({ name: 'alice', role: 'approver', org: 'default' });

    const agent = await fetch(`${server.url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: server.keys.agent.apiKey }) });
    expect(agent.status).toBe(403);
    expect(agent.headers.get('set-cookie')).toBeNull();
    expect(((await agent.json()) as { error: { message: string } }).error.message).toMatch(/agent key cannot sign in/);
    const bad = await fetch(`${server.url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: 'nope' }) });
    expect(bad.status).toBe(401);
    const empty = await fetch(`${server.url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { error: { details: { issues: Array<{ path: string }> } } }).error.details.issues[0]!.path).toBe('body.apiKey');
  });

  it('changes need the CSRF token and a same-origin page; with them the approval is recorded as the dashboard', async () => {
    const s = await signIn(server.keys.approver.apiKey);
    const approvalId = await pendingApproval();
    const noToken = await withSession(s, 'POST', `/v1/approvals/${approvalId}/approve`, { comment: 'ok' });
    expect(noToken.status).toBe(403);
    const wrong = await withSession(s, 'POST', `/v1/approvals/${approvalId}/approve`, {}, { 'x-ascend-csrf': 'x'.repeat(43) });
    expect(wrong.status).toBe(403);
    const crossSite = await withSession(s, 'POST', `/v1/approvals/${approvalId}/approve`, {}, { 'x-ascend-csrf': s.csrf, origin: 'https://evil.example' });
    expect(crossSite.status).toBe(403);
    expect((await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver)).body.status).toBe('pending');

    const ok = await withSession(s, 'POST', `/v1/approvals/${approvalId}/approve`, { comment: 'looks right', channel: 'api' }, { 'x-ascend-csrf': s.csrf, origin: server.url });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: 'approved', decidedBy: 'alice', channel: 'dashboard', comment: 'looks right' });
  });

  it('a key that must sign cannot sign in, and a key cannot claim the dashboard channel', async () => {
    const { generateApiKey } = await import('../../src/server/api-keys.js');
    const { openDatabase, parseDatabaseTarget } = await import('../../src/server/database.js');
    const key = generateApiKey({ name: 'careful', role: 'approver', org: 'default', createdBy: 'test', requireSigning: true });
    const store = await openDatabase(parseDatabaseTarget(`sqlite:${server.dbPath}`, process.cwd()));
    try {
      await store.createApiKey(key.record);
    } finally {
      await store.close();
    }
    const r = await fetch(`${server.url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: key.apiKey }) });
    expect(r.status).toBe(403);
    expect(r.headers.get('set-cookie')).toBeNull();
    const approvalId = await pendingApproval();
    const claimed = await api(server, 'POST', `/v1/approvals/${approvalId}/approve`, server.keys.approver, { channel: 'dashboard' });
    expect(claimed.status).toBe(400);
    expect(claimed.body.error.details.issues[0].path).toBe('body.channel');
    expect((await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver)).body.status).toBe('pending');
  });

  it('another session\'s CSRF token does not work, and signing out ends the session', async () => {
    const a = await signIn(server.keys.approver.apiKey);
    const b = await signIn(server.keys.approver.apiKey);
    const approvalId = await pendingApproval();
    expect((await withSession(a, 'POST', `/v1/approvals/${approvalId}/reject`, {}, { 'x-ascend-csrf': b.csrf })).status).toBe(403);
    const end = await fetch(`${server.url}/ui/session/end`, { method: 'POST', headers: { cookie: a.cookie, 'x-ascend-csrf': a.csrf, 'content-type': 'application/json' }, body: '{}' });
    expect(end.status).toBe(204);
    expect(end.headers.get('set-cookie')).toMatch(/Max-Age=0/);
    expect((await withSession(a, 'GET', '/v1/approvals')).status).toBe(401);
    expect((await withSession(b, 'GET', '/v1/approvals')).status).toBe(200);
  });

  it("revoking the key ends its sessions, including an open event stream's", async () => {
    const { generateApiKey } = await import('../../src/server/api-keys.js');
    const { openDatabase, parseDatabaseTarget } = await import('../../src/server/database.js');
    const key = generateApiKey({ name: 'temp-approver', role: 'approver', org: 'default', createdBy: 'test' });
    const store = await openDatabase(parseDatabaseTarget(`sqlite:${server.dbPath}`, process.cwd()));
    try {
      await store.createApiKey(key.record);
      const s = await signIn(key.apiKey);
      expect((await withSession(s, 'GET', '/v1/agents')).status).toBe(200);
      const stream = await fetch(`${server.url}/v1/events`, { headers: { cookie: s.cookie } });
      expect(stream.status).toBe(200);
      const reader = stream.body!.getReader();
      await store.revokeApiKey(key.record.keyId, 'test', new Date().toISOString());
      await eventuallyPasses(async () => expect((await withSession(s, 'GET', '/v1/agents')).status).toBe(401), 10_000);
      let text = '';
      while (!text.includes('revoked')) {
        const chunk = await reader.read();
        if (chunk.done) break;
        text += new TextDecoder().decode(chunk.value);
      }
      expect(text).toContain('event: error');
    } finally {
      await store.close();
    }
  });
});

describe('dashboard data', () => {
  it('stats count the organisation\'s evaluations by decision and risk', async () => {
    const s = await signIn(server.keys.approver.apiKey);
    const before = await withSession(s, 'GET', '/v1/stats?hours=1&buckets=6');
    expect(before.status).toBe(200);
    await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, evaluateBody('stats-agent', 'db.query', { sql: 'select 1' }));
    await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, evaluateBody('stats-agent', 'db.query', { sql: 'drop table t' }));
    await api(server, 'POST', '/v1/actions/evaluate', server.keys.otherAgent, evaluateBody('stats-other', 'db.query', { sql: 'select 1' }));
    const after = await withSession(s, 'GET', '/v1/stats?hours=1&buckets=6');
    expect(after.body.decisions).toHaveLength(6);
    expect(after.body.risk).toHaveLength(10);
    expect(after.body.totals.allowed - before.body.totals.allowed).toBe(1); // the other org's is not counted
    expect(after.body.totals.denied - before.body.totals.denied).toBe(1);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    expect(sum(after.body.risk)).toBe(after.body.totals.allowed + after.body.totals.denied + after.body.totals.pending);
    expect((await withSession(s, 'GET', '/v1/stats?hours=0')).status).toBe(400);
    expect((await api(server, 'GET', '/v1/stats', server.keys.agent)).status).toBe(403);
  });

  it('countEvaluations buckets by time and risk and ignores what falls outside', () => {
    const from = Date.parse('2026-01-01T00:00:00Z');
    const ev = (minutes: number, decision: string, riskScore: number) =>
      ({ ts: new Date(from + minutes * 60_000).toISOString(), data: { decision, riskScore } }) as unknown as AuditEvent;
    const counted = countEvaluations([ev(1, 'allowed', 5), ev(61, 'denied', 95), ev(62, 'pending', 100), ev(-5, 'allowed', 0), ev(200, 'allowed', 0)], from, 3_600_000, 2);
    expect(counted.decisions.map((b) => [b.allowed, b.denied, b.pending])).toEqual([[1, 0, 0], [0, 1, 1]]);
    expect(counted.risk[0]).toBe(1);
    expect(counted.risk[9]).toBe(2);
    expect(counted.totals).toEqual({ allowed: 1, denied: 1, pending: 1 });
  });

  it('the audit pages older with beforeSeq', async () => {
    const newest = await api(server, 'GET', '/v1/audit?order=desc&limit=3', server.keys.approver);
    const seqs = newest.body.events.map((e: AuditEvent) => e.seq);
    const older = await api(server, 'GET', `/v1/audit?order=desc&limit=3&beforeSeq=${Math.min(...seqs)}`, server.keys.approver);
    expect(older.body.events.length).toBeGreaterThan(0);
    for (const e of older.body.events as AuditEvent[]) expect(e.seq).toBeLessThan(Math.min(...seqs));
  });
});


describe('one-click approval links', () => {
  let sink: Awaited<ReturnType<typeof webhookReceiver>>;
  beforeAll(async () => {
    sink = await webhookReceiver();
    const hook = await api(server, 'POST', '/v1/webhooks', server.keys.admin, { url: sink.url, events: ['approval.requested'], approvalLinks: true });
    expect(hook.status).toBe(200);
    expect(hook.body.approvalLinks).toBe(true);
    expect(JSON.stringify(hook.body)).not.toMatch(/linkSecret/);
    const listed = await api(server, 'GET', '/v1/webhooks', server.keys.admin);
    expect(JSON.stringify(listed.body)).not.toMatch(/linkSecret|"secret"/);
  });
  afterAll(async () => {
    await sink.close();
  });

  async function linksOf(approvalId: string): Promise<{ approve: string; reject: string; expiresAt: string }> {
    let links: { approve: string; reject: string; expiresAt: string } | undefined;
    await eventuallyPasses(() => {
      const payload = sink.bodies.map((b) => JSON.parse(b)).find((p) => p.approvalId === approvalId);
      expect(payload?.links).toBeDefined();
      links = payload.links;
    }, 5000);
    for (const link of [links!.approve, links!.reject]) secretsSeen.push(new URL(link).searchParams.get('sig')!);
    return links!;
  }

  it('a webhook without approvalLinks gets no links', async () => {
    const plain = await webhookReceiver();
    try {
      const hook = await api(server, 'POST', '/v1/webhooks', server.keys.admin, { url: plain.url, events: ['approval.requested'] });
      expect(hook.body.approvalLinks).toBe(false);
      const approvalId = await pendingApproval('no-link-agent');
      await eventuallyPasses(() => expect(plain.bodies.some((b) => JSON.parse(b).approvalId === approvalId)).toBe(true), 10_000);
      for (const body of plain.bodies) expect(JSON.parse(body).links).toBeUndefined();
      await api(server, 'DELETE', `/v1/webhooks/${hook.body.webhookId}`, server.keys.admin);
    } finally {
      await plain.close();
    }
  });

  it('a GET shows the request and never decides; the button POST approves once, and the record says it was the link', async () => {
    const approvalId = await pendingApproval('link-agent');
    const links = await linksOf(approvalId);
    expect(links.approve.startsWith(`${server.url}/ui/links/${approvalId}/approve?`)).toBe(true);

    const page = await fetch(links.approve);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Approve this call?');
    expect(html).toContain('payments.transfer');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect((await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver)).body.status).toBe('pending');

    const tooLong = await fetch(links.approve, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `comment=${'x'.repeat(4097)}` });
    expect(tooLong.status).toBe(400);
    expect(await tooLong.text()).toContain('comment is too long');
    expect((await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver)).body.status).toBe('pending');
    const done = await fetch(links.approve, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'comment=from+chat' });
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('approved');
    const record = (await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver)).body;
    expect(record).toMatchObject({ status: 'approved', channel: 'link', comment: 'from chat' });
    expect(record.decidedBy).toMatch(/^one-click link \(webhook /);

    // Single use: this link and the other verdict's now only report the decision.
    const again = await fetch(links.approve, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    expect(again.status).toBe(409);
    const reject = await fetch(links.reject, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    expect(reject.status).toBe(409);
    expect(await reject.text()).toContain('Already decided');
    expect((await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver)).body.status).toBe('approved');
  });

  it('refuses a tampered link (other approval, other verdict, longer expiry) and an expired one', async () => {
    const approvalId = await pendingApproval('link-agent-2');
    const other = await pendingApproval('link-agent-3');
    const links = await linksOf(approvalId);
    const url = new URL(links.reject);
    const swapped = new URL(url);
    swapped.pathname = `/ui/links/${other}/reject`;
    const verdict = new URL(url);
    verdict.pathname = `/ui/links/${approvalId}/approve`;
    const longer = new URL(url);
    longer.searchParams.set('exp', String(Number(url.searchParams.get('exp')) + 3_600_000));
    for (const bad of [swapped, verdict, longer]) {
      const r = await fetch(bad, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
      expect(r.status).toBe(403);
    }
    expect((await fetch(`${server.url}/ui/links/${approvalId}/reject`)).status).toBe(400);
    for (const id of [approvalId, other]) expect((await api(server, 'GET', `/v1/approvals/${id}`, server.keys.approver)).body.status).toBe('pending');

    // An expired link, signed exactly as the server signs: refused with 410.
    const webhook = { webhookId: 'w1', org: 'default', url: 'http://x', events: [], secret: 's'.repeat(16), linkSecret: 'k'.repeat(43), createdAt: '', createdBy: '' };
    const now = Date.now();
    const made = approvalLinksFor('http://h', webhook, { approvalId: 'a1', expiresAt: new Date(now + 1000).toISOString() }, now)!;
    const p = new URL(made.approve);
    const params = { approvalId: 'a1', verdict: 'approve' as const, webhookId: 'w1', expMs: Number(p.searchParams.get('exp')), signature: p.searchParams.get('sig')! };
    expect(checkLink(webhook, params, now)).toEqual({ ok: true });
    expect(checkLink(webhook, params, now + 1001)).toMatchObject({ ok: false, status: 410 });
    expect(checkLink({ ...webhook, linkSecret: 'j'.repeat(43) }, params, now)).toMatchObject({ ok: false, status: 403 });
    expect(approvalLinksFor('http://h', webhook, { approvalId: 'a1', expiresAt: new Date(now - 1).toISOString() }, now)).toBeUndefined();
  });
});

describe('logs', () => {
  it('no API key, session cookie, CSRF token or link signature reaches the server log', async () => {
    // A failing request with credentials in it, to give the log a chance to leak them.
    await fetch(`${server.url}/ui/links/x/approve?w=nope&exp=1&sig=${secretsSeen.at(-1)}`);
    expect(secretsSeen.length).toBeGreaterThan(6);
    const logs = server.logs();
    expect(logs).toContain('dashboard sign-in'); // the log is captured
    for (const secret of secretsSeen) expect(logs).not.toContain(secret);
  });
});
