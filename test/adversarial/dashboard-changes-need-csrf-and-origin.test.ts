/**
 * Dashboard changes need the CSRF token and the server's own origin. Against a real `ascend
 * serve`, a person signed in to the dashboard (approver or admin key) holds a session cookie that
 * is HttpOnly and SameSite=Strict; every change made with it — approve, reject, revoke a grant,
 * block an agent, add a webhook, sign out — is refused without the session's CSRF token in its
 * header (missing, wrong, another session's, or put anywhere else), and from a foreign `Origin`
 * even with the token. What a cross-site page can send without asking (a form post, a GET) changes
 * nothing, no answer lets another origin read it (no CORS), and sign-in from another origin is
 * refused. Behind https (`--public-url`) the cookie is also `Secure`.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callDigest } from '../../src/core/call-digest.js';
import { api, disposeServer, startServerProcess, webhookReceiver, type ServerProcess } from '../server/helpers.js';

let server: ServerProcess;
let receiver: Awaited<ReturnType<typeof webhookReceiver>>;
beforeAll(async () => {
  receiver = await webhookReceiver();
  server = await startServerProcess({ args: ['--allow-private-webhooks'] });
}, 60_000);
afterAll(async () => {
  await disposeServer(server);
  await receiver?.close();
});

interface Session {
  cookie: string;
  csrf: string;
  setCookie: string;
}

async function signIn(apiKey: string, on: ServerProcess = server, headers: Record<string, string> = {}): Promise<Session> {
  const r = await fetch(`${on.url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ apiKey }) });
  expect(r.status).toBe(200);
  const setCookie = r.headers.get('set-cookie')!;
  const { csrfToken } = (await r.json()) as { csrfToken: string };
  return { cookie: setCookie.split(';')[0]!, csrf: csrfToken, setCookie };
}

/** A request made with the session cookie only (as a browser would), plus `headers`. */
async function withSession(s: Session, method: string, path: string, body: unknown, headers: Record<string, string> = {}, on: ServerProcess = server) {
  const r = await fetch(on.url + path, {
    method,
    headers: { cookie: s.cookie, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text ? (JSON.parse(text) as any) : undefined };
}

function evaluateBody(agentId: string, actionType: string, parameters: Record<string, unknown>) {
  return { agentId, actionType, resource: 'prod', parameters, digest: callDigest({ agentId, actionType, resource: 'prod', parameters }) };
}

async function pendingApproval(agentId = `csrf-${randomUUID().slice(0, 8)}`): Promise<{ approvalId: string; agentId: string }> {
  const d = await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, evaluateBody(agentId, 'payments.transfer', { amount: 5000 }));
  expect(d.body.decision).toBe('pending');
  return { approvalId: d.body.approvalRequestId as string, agentId };
}

const statusOf = async (approvalId: string): Promise<string> => (await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver)).body.status;

/**
 * Each way a change can arrive without the session's own token from the server's own page:
 * every one must be refused with 403 (`authorization_error`).
 */
function forgeries(s: Session, other: Session): Array<[string, Record<string, string>]> {
  return [
    ['no CSRF token', {}],
    ['an empty CSRF token', { 'x-ascend-csrf': '' }],
    ['a made-up CSRF token', { 'x-ascend-csrf': 'x'.repeat(s.csrf.length) }],
    ['the token with one character changed', { 'x-ascend-csrf': s.csrf.slice(0, -1) + (s.csrf.endsWith('A') ? 'B' : 'A') }],
    ['the token cut short', { 'x-ascend-csrf': s.csrf.slice(0, 10) }],
    ["another session's token", { 'x-ascend-csrf': other.csrf }],
    ['the token in another header', { 'x-csrf-token': s.csrf }],
    ['the token as a cookie', { cookie: `${s.cookie}; x-ascend-csrf=${s.csrf}` }],
    ['the right token from a foreign origin', { 'x-ascend-csrf': s.csrf, origin: 'https://evil.example' }],
    ['the right token from an opaque origin', { 'x-ascend-csrf': s.csrf, origin: 'null' }],
    ['the right token from another port of this host', { 'x-ascend-csrf': s.csrf, origin: `http://127.0.0.1:${Number(new URL(server.url).port) + 1}` }],
    ['the right token from another name of this host', { 'x-ascend-csrf': s.csrf, origin: `http://localhost:${new URL(server.url).port}` }],
    ['the right token from a look-alike origin', { 'x-ascend-csrf': s.csrf, origin: `${server.url}.evil.example` }],
  ];
}

describe('the session cookie', () => {
  it('is HttpOnly, SameSite=Strict, for the whole site, bounded in time, and carries no key', async () => {
    const s = await signIn(server.keys.approver.apiKey);
    const flags = s.setCookie.split(';').map((p) => p.trim());
    expect(flags[0]).toMatch(/^ascend_session=[^;]+$/);
    expect(flags).toContain('HttpOnly');
    expect(flags).toContain('SameSite=Strict');
    expect(flags).toContain('Path=/');
    expect(flags.some((f) => /^Domain=/i.test(f))).toBe(false); // host-only
    const maxAge = Number(flags.find((f) => f.startsWith('Max-Age='))?.slice('Max-Age='.length));
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(24 * 3600);
    expect(s.setCookie).not.toContain(server.keys.approver.apiKey);
    // The key's secret part: all after `ak_<id>_` (the secret itself may contain `_`).
    const secret = /^ak_[0-9a-f]+_(.+)$/.exec(server.keys.approver.apiKey)![1]!;
    expect(s.setCookie).not.toContain(secret);
    expect(s.setCookie).not.toContain(s.csrf); // the token is not in the cookie a cross-site request would carry

    const end = await fetch(`${server.url}/ui/session/end`, { method: 'POST', headers: { cookie: s.cookie, 'x-ascend-csrf': s.csrf, origin: server.url } });
    expect(end.status).toBe(204);
    const cleared = end.headers.get('set-cookie')!;
    expect(cleared).toContain('HttpOnly');
    expect(cleared).toContain('SameSite=Strict');
    expect(cleared).toContain('Max-Age=0');
  });

  it('behind https (--public-url) is also Secure, and only that origin may make changes', async () => {
    const behindTls = await startServerProcess({ args: ['--public-url', 'https://ascend.example.com'] });
    try {
      const s = await signIn(behindTls.keys.approver.apiKey, behindTls);
      expect(s.setCookie.split(';').map((p) => p.trim())).toContain('Secure');
      const d = await api(behindTls, 'POST', '/v1/actions/evaluate', behindTls.keys.agent, evaluateBody('tls-bot', 'payments.transfer', { amount: 5000 }));
      const approvalId = d.body.approvalRequestId as string;
      const foreign = await withSession(s, 'POST', `/v1/approvals/${approvalId}/approve`, {}, { 'x-ascend-csrf': s.csrf, origin: 'https://evil.example' }, behindTls);
      expect(foreign.status).toBe(403);
      const http = await withSession(s, 'POST', `/v1/approvals/${approvalId}/approve`, {}, { 'x-ascend-csrf': s.csrf, origin: 'http://ascend.example.com' }, behindTls);
      expect(http.status).toBe(403); // the public origin is https: its http twin is another origin
      expect((await api(behindTls, 'GET', `/v1/approvals/${approvalId}`, behindTls.keys.approver)).body.status).toBe('pending');
      const ok = await withSession(s, 'POST', `/v1/approvals/${approvalId}/approve`, {}, { 'x-ascend-csrf': s.csrf, origin: 'https://ascend.example.com' }, behindTls);
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ status: 'approved', channel: 'dashboard' });
    } finally {
      await disposeServer(behindTls);
    }
  }, 90_000);
});

describe('approving and rejecting from the dashboard', () => {
  it('is refused without the session’s CSRF token from this server’s origin, and then changes nothing', async () => {
    const s = await signIn(server.keys.approver.apiKey);
    const other = await signIn(server.keys.approver.apiKey);
    const { approvalId } = await pendingApproval();
    for (const verb of ['approve', 'reject']) {
      for (const [what, headers] of forgeries(s, other)) {
        const r = await withSession(s, 'POST', `/v1/approvals/${approvalId}/${verb}`, { comment: what, grantMinutes: verb === 'approve' ? 60 : undefined }, headers);
        expect(r.status, `${verb} with ${what}: ${JSON.stringify(r.body)}`).toBe(403);
        expect(r.body.error.code).toBe('authorization_error');
      }
      // The token in the query string or the body is not the header.
      const inQuery = await withSession(s, 'POST', `/v1/approvals/${approvalId}/${verb}?x-ascend-csrf=${encodeURIComponent(s.csrf)}&csrf=${encodeURIComponent(s.csrf)}`, {});
      expect(inQuery.status).toBe(403);
      const inBody = await withSession(s, 'POST', `/v1/approvals/${approvalId}/${verb}`, { csrf: s.csrf, 'x-ascend-csrf': s.csrf });
      expect([400, 403]).toContain(inBody.status);
    }
    expect(await statusOf(approvalId)).toBe('pending');
    const audit = await api(server, 'GET', `/v1/audit?limit=5000&type=approval.approved&type=approval.rejected`, server.keys.approver);
    expect(audit.body.events.some((e: { approvalId: string }) => e.approvalId === approvalId)).toBe(false);

    // With its own token, from this server's page (or with no Origin, as some same-origin requests come), it is taken.
    const ok = await withSession(s, 'POST', `/v1/approvals/${approvalId}/reject`, { comment: 'no' }, { 'x-ascend-csrf': s.csrf, origin: server.url });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: 'rejected', channel: 'dashboard', decidedBy: 'alice' });
  });

  it('what a cross-site page can send without asking (a form post, a text post, a GET) changes nothing', async () => {
    const s = await signIn(server.keys.approver.apiKey);
    const { approvalId } = await pendingApproval();
    for (const [type, body] of [
      ['application/x-www-form-urlencoded', 'comment=ok&grantMinutes=60'],
      ['text/plain', JSON.stringify({ comment: 'ok' })],
      ['multipart/form-data; boundary=xyz', '--xyz\r\nContent-Disposition: form-data; name="comment"\r\n\r\nok\r\n--xyz--\r\n'],
    ] as const) {
      const r = await fetch(`${server.url}/v1/approvals/${approvalId}/approve`, { method: 'POST', headers: { cookie: s.cookie, 'content-type': type, origin: 'https://evil.example' }, body });
      expect([403, 415], type).toContain(r.status);
    }
    for (const method of ['GET', 'HEAD']) {
      const r = await fetch(`${server.url}/v1/approvals/${approvalId}/approve`, { method, headers: { cookie: s.cookie } });
      expect(r.status, method).toBe(404);
    }
    expect(await statusOf(approvalId)).toBe('pending');
  });

  it('no answer lets another origin read it: no CORS headers, no preflight allowed', async () => {
    const s = await signIn(server.keys.approver.apiKey);
    const read = await withSession(s, 'GET', '/v1/approvals', undefined, { origin: 'https://evil.example' });
    expect(read.headers.get('access-control-allow-origin')).toBeNull();
    expect(read.headers.get('access-control-allow-credentials')).toBeNull();
    const me = await withSession(s, 'GET', '/ui/session', undefined, { origin: 'https://evil.example' });
    expect(me.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(`${server.url}/v1/approvals/x/approve`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-ascend-csrf, content-type' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect(preflight.headers.get('access-control-allow-headers')).toBeNull();
  });
});

describe('every other change from the dashboard', () => {
  it('revoking a grant, blocking an agent, adding a webhook and signing out need the token and this origin', async () => {
    const approver = await signIn(server.keys.approver.apiKey);
    const admin = await signIn(server.keys.admin.apiKey);
    const other = await signIn(server.keys.admin.apiKey);

    const { approvalId, agentId } = await pendingApproval();
    expect((await api(server, 'POST', `/v1/approvals/${approvalId}/approve`, server.keys.approver, { grantMinutes: 30 })).status).toBe(200);
    const grantId = (await api(server, 'GET', `/v1/grants?agentId=${agentId}&active=true`, server.keys.approver)).body.grants[0].grantId as string;

    const changes: Array<{ what: string; session: Session; method: string; path: string; body?: unknown }> = [
      { what: 'revoke a grant', session: approver, method: 'DELETE', path: `/v1/grants/${grantId}` },
      { what: 'block an agent', session: admin, method: 'POST', path: `/v1/agents/${agentId}/block`, body: { reason: 'csrf' } },
      { what: 'add a webhook', session: admin, method: 'POST', path: '/v1/webhooks', body: { url: receiver.url, events: ['approval.requested'], approvalLinks: true } },
      { what: 'sign out', session: admin, method: 'POST', path: '/ui/session/end', body: {} },
    ];
    for (const change of changes) {
      for (const [what, headers] of forgeries(change.session, other)) {
        const r = await withSession(change.session, change.method, change.path, change.body, headers);
        expect(r.status, `${change.what} with ${what}: ${JSON.stringify(r.body)}`).toBe(403);
      }
    }

    // Nothing changed: the grant is active, the agent not blocked, no webhook made, the session alive.
    expect((await api(server, 'GET', `/v1/grants?agentId=${agentId}&active=true`, server.keys.approver)).body.grants).toHaveLength(1);
    const call = await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, evaluateBody(agentId, 'db.query', { sql: 'select 1' }));
    expect(call.body.decision).toBe('allowed');
    expect((await api(server, 'GET', '/v1/webhooks', server.keys.admin)).body.webhooks).toEqual([]);
    expect((await withSession(admin, 'GET', '/ui/session', undefined)).status).toBe(200);

    // With the token from this origin the same changes go through.
    for (const change of changes) {
      const r = await withSession(change.session, change.method, change.path, change.body, { 'x-ascend-csrf': change.session.csrf, origin: server.url });
      expect(r.status, `${change.what}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
    }
    expect((await withSession(admin, 'GET', '/ui/session', undefined)).status).toBe(401);
  });

  it('signing in from another origin is refused (no session is planted)', async () => {
    for (const origin of ['https://evil.example', 'null']) {
      const r = await fetch(`${server.url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json', origin }, body: JSON.stringify({ apiKey: server.keys.approver.apiKey }) });
      expect(r.status, origin).toBe(403);
      expect(r.headers.get('set-cookie')).toBeNull();
    }
    const form = await fetch(`${server.url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `apiKey=${server.keys.approver.apiKey}` });
    expect(form.status).toBe(415);
    expect(form.headers.get('set-cookie')).toBeNull();
    const same = await signIn(server.keys.approver.apiKey, server, { origin: server.url });
    expect(same.setCookie).toContain('HttpOnly');
  });
});
