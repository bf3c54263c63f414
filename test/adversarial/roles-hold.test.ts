/**
 * Roles hold. On a real `ascend serve`: an agent key can never decide an approval (not even the
 * one its own call asked for), grant, revoke a grant, block or unblock an agent, manage webhooks,
 * read the audit trail, its verification, the statistics or the live events; an approver key
 * cannot block agents or manage webhooks; every refusal changes nothing. A revoked key is refused
 * (after the key cache time; waited for, never assumed), its open event stream is ended, and it
 * cannot sign in to the dashboard; an agent key never gets a dashboard session, and a request
 * carrying an agent key beside an approver's session cookie is judged by the key.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callDigest } from '../../src/core/call-digest.js';
import { eventually, runCli, tempDir } from '../helpers.js';
import { api, disposeServer, startServerProcess, webhookReceiver, type ServerProcess } from '../server/helpers.js';

let server: ServerProcess;
let receiver: Awaited<ReturnType<typeof webhookReceiver>>;
/** A webhook an admin made, that agents and approvers then try to touch. */
let webhookId: string;

beforeAll(async () => {
  receiver = await webhookReceiver();
  server = await startServerProcess({ args: ['--allow-private-webhooks'] });
  const made = await api(server, 'POST', '/v1/webhooks', server.keys.admin, { url: receiver.url, events: ['action.failed'] });
  expect(made.status).toBe(200);
  webhookId = made.body.webhookId as string;
}, 60_000);

afterAll(async () => {
  await disposeServer(server);
  await receiver?.close();
});

function evaluateBody(agentId: string, actionType: string, parameters: Record<string, unknown>) {
  return { agentId, actionType, resource: 'prod', parameters, digest: callDigest({ agentId, actionType, resource: 'prod', parameters }) };
}

/** A pending approval asked for by the agent key's own call. */
async function pendingApproval(agentId = `roles-${randomUUID().slice(0, 8)}`): Promise<{ approvalId: string; agentId: string }> {
  const d = await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, evaluateBody(agentId, 'payments.transfer', { amount: 5000 }));
  expect(d.status).toBe(200);
  expect(d.body.decision).toBe('pending');
  return { approvalId: d.body.approvalRequestId as string, agentId };
}

function expectForbidden(answer: { status: number; body: any }, what: string): void {
  expect(answer.status, `${what}: ${JSON.stringify(answer.body)}`).toBe(403);
  expect(answer.body.error.code).toBe('authorization_error');
}

/** Audit events about `approvalId`, read with the approver key. */
async function decisionsRecordedFor(approvalId: string): Promise<string[]> {
  const audit = await api(server, 'GET', '/v1/audit?limit=5000&type=approval.approved&type=approval.rejected&type=grant.created', server.keys.approver);
  expect(audit.status).toBe(200);
  return (audit.body.events as Array<{ type: string; approvalId: string | null }>).filter((e) => e.approvalId === approvalId).map((e) => e.type);
}

describe('an agent key can never decide, grant or revoke', () => {
  it('cannot approve or reject the approval its own call asked for, however the request is dressed', async () => {
    const { approvalId, agentId } = await pendingApproval();
    const attempts: Array<[string, unknown]> = [
      ['approve', {}],
      ['reject', {}],
      ['approve', { grantMinutes: 60 }],
      ['approve', { decidedBy: 'alice', channel: 'cli', comment: 'fine by me' }],
      ['approve', { channel: 'dashboard' }],
    ];
    for (const [verb, body] of attempts) {
      expectForbidden(await api(server, 'POST', `/v1/approvals/${approvalId}/${verb}`, server.keys.agent, body), `${verb} ${JSON.stringify(body)}`);
    }
    // Other spellings of the route never reach a decision either.
    for (const path of [
      `/v1/approvals/${approvalId}/approve/`,
      `/v1//approvals/${approvalId}/approve`,
      `/V1/approvals/${approvalId}/approve`,
      `/v1/approvals/${approvalId}/APPROVE`,
      `/v1/approvals/${approvalId}%2Fapprove`,
      `/v1/approvals/${approvalId}/approve?as=admin`,
    ]) {
      const r = await api(server, 'POST', path, server.keys.agent, {});
      expect([403, 404], `${path}: ${r.status}`).toContain(r.status);
    }
    for (const method of ['GET', 'PUT', 'PATCH']) {
      const r = await fetch(`${server.url}/v1/approvals/${approvalId}/approve`, { method, headers: { authorization: `Bearer ${server.keys.agent.apiKey}` } });
      expect(r.status, method).toBeGreaterThanOrEqual(400);
    }

    const still = await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver);
    expect(still.body.status).toBe('pending');
    expect(await decisionsRecordedFor(approvalId)).toEqual([]);
    const grants = await api(server, 'GET', `/v1/grants?agentId=${agentId}`, server.keys.approver);
    expect(grants.body.grants).toEqual([]);
  });

  it('cannot revoke a grant a person made (an approver can: the route is there)', async () => {
    const { approvalId, agentId } = await pendingApproval();
    const approved = await api(server, 'POST', `/v1/approvals/${approvalId}/approve`, server.keys.approver, { grantMinutes: 30 });
    expect(approved.status).toBe(200);
    const listed = await api(server, 'GET', `/v1/grants?agentId=${agentId}&active=true`, server.keys.agent);
    expect(listed.status).toBe(200); // reading grants is every role's
    expect(listed.body.grants).toHaveLength(1);
    const grantId = listed.body.grants[0].grantId as string;

    expectForbidden(await api(server, 'DELETE', `/v1/grants/${grantId}`, server.keys.agent), 'revoke grant');
    const stillActive = await api(server, 'GET', `/v1/grants?agentId=${agentId}&active=true`, server.keys.approver);
    expect(stillActive.body.grants.map((g: { grantId: string }) => g.grantId)).toEqual([grantId]);

    const revoked = await api(server, 'DELETE', `/v1/grants/${grantId}`, server.keys.approver);
    expect(revoked.status).toBe(200);
    expect((await api(server, 'GET', `/v1/grants?agentId=${agentId}&active=true`, server.keys.approver)).body.grants).toEqual([]);
  });
});

describe('the kill switch is the admin’s', () => {
  it('neither an agent key nor an approver key can block or unblock an agent; each refusal changes nothing', async () => {
    const agentId = `kill-${randomUUID().slice(0, 8)}`;
    const allowed = () => api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, evaluateBody(agentId, 'db.query', { sql: 'select 1' }));
    expect((await allowed()).body.decision).toBe('allowed');

    for (const key of [server.keys.agent, server.keys.approver]) {
      expectForbidden(await api(server, 'POST', `/v1/agents/${agentId}/block`, key, { reason: 'hostile' }), `${key.record.role} block`);
    }
    expect((await allowed()).body.decision).toBe('allowed');
    // The refused blocks created nothing: the agent (which never registered) has no record, blocked or not.
    expect((await api(server, 'GET', `/v1/agents/${agentId}`, server.keys.approver)).status).toBe(404);

    const blocked = await api(server, 'POST', `/v1/agents/${agentId}/block`, server.keys.admin, { reason: 'runaway' });
    expect(blocked.status).toBe(200);
    for (const key of [server.keys.agent, server.keys.approver]) {
      expectForbidden(await api(server, 'POST', `/v1/agents/${agentId}/unblock`, key, {}), `${key.record.role} unblock`);
    }
    const stillBlocked = await allowed();
    expect(stillBlocked.body.decision).toBe('denied');
    expect(stillBlocked.body.reason).toContain('runaway');

    expect((await api(server, 'POST', `/v1/agents/${agentId}/unblock`, server.keys.admin, {})).status).toBe(200);
    expect((await allowed()).body.decision).toBe('allowed');
  });
});

describe('webhooks are the admin’s', () => {
  it('agent and approver keys cannot create, list, remove or inspect webhooks', async () => {
    for (const key of [server.keys.agent, server.keys.approver]) {
      const role = key.record.role;
      expectForbidden(await api(server, 'POST', '/v1/webhooks', key, { url: receiver.url, events: ['action.evaluated'], approvalLinks: true }), `${role} create`);
      expectForbidden(await api(server, 'GET', '/v1/webhooks', key), `${role} list`);
      expectForbidden(await api(server, 'DELETE', `/v1/webhooks/${webhookId}`, key), `${role} remove`);
      expectForbidden(await api(server, 'GET', `/v1/webhooks/${webhookId}/deliveries`, key), `${role} deliveries`);
    }
    const listed = await api(server, 'GET', '/v1/webhooks', server.keys.admin);
    expect(listed.status).toBe(200);
    expect(listed.body.webhooks).toHaveLength(1);
    expect(listed.body.webhooks[0]).toMatchObject({ webhookId, approvalLinks: false });
    expect(listed.body.webhooks[0].disabledAt).toBeUndefined();
  });
});

describe('the audit trail is not an agent’s to read, and its verification is the admin’s', () => {
  it('an agent key reads no audit, audit status or verification, statistics, live events or metrics', async () => {
    for (const path of ['/v1/audit', '/v1/audit?limit=1', '/v1/audit/status', '/v1/audit/verify', '/v1/stats', '/v1/events', '/metrics']) {
      const r = await fetch(server.url + path, { headers: { authorization: `Bearer ${server.keys.agent.apiKey}` } });
      const text = await r.text(); // a stream answered 403 before it starts: the body ends
      expect(r.status, `${path}: ${text}`).toBe(403);
      expect(JSON.parse(text).error.code).toBe('authorization_error');
    }
  });

  it('an approver key cannot read the verification nor the metrics; the admin can', async () => {
    expectForbidden(await api(server, 'GET', '/v1/audit/verify', server.keys.approver), 'approver verify');
    expect((await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.keys.approver.apiKey}` } })).status).toBe(403);
    const verify = await api(server, 'GET', '/v1/audit/verify', server.keys.admin);
    expect(verify.status).toBe(200);
    expect(verify.body.ok).toBe(true);
  });
});

describe('a revoked key is refused', () => {
  it('once its cache time has passed: for requests, for its open event stream, and for a dashboard sign-in', async () => {
    const db = `sqlite:${server.dbPath}`;
    const cwd = tempDir();
    const make = async (role: string): Promise<{ apiKey: string; keyId: string }> => {
      const made = await runCli(['keys', 'create', '--role', role, '--name', `doomed-${role}`, '--json', '--db', db], { cwd });
      expect(made.code, made.stderr).toBe(0);
      return JSON.parse(made.stdout) as { apiKey: string; keyId: string };
    };
    const agentKey = await make('agent');
    const approverKey = await make('approver');
    const { approvalId } = await pendingApproval();
    expect((await api(server, 'POST', '/v1/actions/evaluate', agentKey.apiKey, evaluateBody('doomed', 'db.query', { sql: 'select 1' }))).status).toBe(200);
    expect((await api(server, 'GET', '/v1/approvals', approverKey.apiKey)).status).toBe(200);

    const streamAbort = new AbortController();
    const stream = await fetch(`${server.url}/v1/events`, { headers: { authorization: `Bearer ${approverKey.apiKey}` }, signal: streamAbort.signal });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    let streamed = '';
    const streamEnded = (async () => {
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) return;
        streamed += new TextDecoder().decode(chunk.value);
      }
    })().catch(() => undefined);

    try {
      for (const key of [agentKey, approverKey]) {
        const revoked = await runCli(['keys', 'revoke', key.keyId, '--db', db], { cwd });
        expect(revoked.code, revoked.stderr).toBe(0);
      }
      // The key cache (about a second) bounds how long a revoked key keeps working: wait for the
      // refusal with a generous deadline rather than assume how fast it comes.
      await eventually(async () => (await api(server, 'GET', '/v1/approvals', approverKey.apiKey)).status === 401, 20_000, 100);
      await eventually(async () => (await api(server, 'POST', '/v1/actions/evaluate', agentKey.apiKey, evaluateBody('doomed', 'db.query', { sql: 'select 1' }))).status === 401, 20_000, 100);

      const refusedDecision = await api(server, 'POST', `/v1/approvals/${approvalId}/approve`, approverKey.apiKey, {});
      expect(refusedDecision.status).toBe(401);
      expect(refusedDecision.body.error.message).toContain('revoked');
      const refusedCall = await api(server, 'POST', '/v1/actions/evaluate', agentKey.apiKey, evaluateBody('doomed', 'db.query', { sql: 'select 1' }));
      expect(refusedCall.status).toBe(401);
      expect(refusedCall.body.error.code).toBe('authentication_error');
      expect((await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver)).body.status).toBe('pending');

      const signIn = await fetch(`${server.url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: approverKey.apiKey }) });
      expect(signIn.status).toBe(401);
      expect(signIn.headers.get('set-cookie')).toBeNull();

      await eventually(() => streamed.includes('revoked'), 20_000, 50);
      expect(streamed).toContain('event: error');
      await streamEnded;
    } finally {
      streamAbort.abort();
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  }, 90_000);
});

describe('dashboard sessions are not for agent keys', () => {
  it('an agent key cannot sign in, however the sign-in is dressed', async () => {
    for (const body of [
      { apiKey: server.keys.agent.apiKey },
      { apiKey: server.keys.agent.apiKey, role: 'approver' },
      { apiKey: ` ${server.keys.agent.apiKey} ` },
    ]) {
      const r = await fetch(`${server.url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(r.status).toBe(403);
      expect(r.headers.get('set-cookie')).toBeNull();
      expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/agent key cannot sign in/);
    }
  });

  it('a forged session cookie naming the agent key as an approver is refused', async () => {
    const payload = { v: 1, sid: 'forged-session-id', kid: server.keys.agent.record.keyId, name: 'bot', role: 'approver', org: 'default', exp: Date.now() + 3_600_000 };
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    const { approvalId } = await pendingApproval();
    // A genuine session's signature on another payload does not carry over.
    const signIn = await fetch(`${server.url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: server.keys.approver.apiKey }) });
    const genuine = signIn.headers.get('set-cookie')!.split(';')[0]!.split('=')[1]!;
    const genuineMac = genuine.slice(genuine.indexOf('.') + 1);
    for (const cookie of [`${body}.${'A'.repeat(43)}`, `${body}.${genuineMac}`, body]) {
      const r = await fetch(`${server.url}/v1/approvals/${approvalId}/approve`, {
        method: 'POST',
        headers: { cookie: `ascend_session=${cookie}`, 'content-type': 'application/json', 'x-ascend-csrf': 'A'.repeat(43) },
        body: '{}',
      });
      expect(r.status).toBe(401);
    }
    expect((await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver)).body.status).toBe('pending');
  });

  it("an agent key sent beside an approver's session cookie and CSRF token is still an agent key", async () => {
    const signIn = await fetch(`${server.url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: server.keys.approver.apiKey }) });
    expect(signIn.status).toBe(200);
    const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
    const { csrfToken } = (await signIn.json()) as { csrfToken: string };
    const { approvalId } = await pendingApproval();
    const r = await api(server, 'POST', `/v1/approvals/${approvalId}/approve`, server.keys.agent, {}, { cookie, 'x-ascend-csrf': csrfToken, origin: server.url });
    expectForbidden(r, 'agent key with an approver cookie');
    expect((await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver)).body.status).toBe('pending');
  });
});
