/**
 * Who may do what on a real `ascend serve`: API keys (missing, malformed, unknown, revoked),
 * roles on every route, organisations that never see each other, and HMAC request signing
 * (tampered, moved, stale, replayed, missing when required).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AscendClient, AuthenticationError } from '../../src/index.js';
import { callDigest } from '../../src/core/call-digest.js';
import { signRequest } from '../../src/core/signing.js';
import { captureLogs, eventually, runCli, tempDir } from '../helpers.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from './helpers.js';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServerProcess();
});
afterAll(async () => {
  await disposeServer(server);
});

function evaluateBody(agentId: string, actionType: string, parameters: Record<string, unknown>) {
  return { agentId, actionType, resource: 'prod', parameters, digest: callDigest({ agentId, actionType, resource: 'prod', parameters }) };
}

async function pendingApproval(key = server.keys.agent, agentId = 'agent-a'): Promise<{ approvalId: string; actionId: string }> {
  const d = await api(server, 'POST', '/v1/actions/evaluate', key, evaluateBody(agentId, 'payments.transfer', { amount: 5000 + Math.random() }));
  expect(d.body.decision).toBe('pending');
  return { approvalId: d.body.approvalRequestId, actionId: d.body.actionId };
}

describe('API keys', () => {
  it('refuses a missing, malformed or unknown key with 401 and one error shape', async () => {
    for (const key of [undefined, 'not-a-key', `ak_0000000000000000_${'a'.repeat(43)}`, `${server.keys.agent.apiKey.slice(0, -1)}${server.keys.agent.apiKey.endsWith('x') ? 'y' : 'x'}`]) {
      const r = await api(server, 'GET', '/v1/approvals', key);
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('authentication_error');
      expect(typeof r.body.error.message).toBe('string');
    }
  });

  it('a key revoked with `ascend keys revoke` is refused within about a second', async () => {
    const dir = server.dir;
    const made = await runCli(['keys', 'create', '--role', 'approver', '--name', 'temp', '--json', '--db', `sqlite:${server.dbPath}`], { cwd: dir });
    expect(made.code, made.stderr).toBe(0);
    const created = JSON.parse(made.stdout) as { apiKey: string; keyId: string; secretHash?: string };
    expect(created.secretHash).toBeUndefined(); // never printed
    expect((await api(server, 'GET', '/v1/approvals', created.apiKey)).status).toBe(200);
    const listed = await runCli(['keys', 'list', '--db', `sqlite:${server.dbPath}`], { cwd: dir });
    expect(listed.stdout).toContain(created.keyId);
    expect(listed.stdout).not.toContain(created.apiKey);
    const revoked = await runCli(['keys', 'revoke', created.keyId, '--db', `sqlite:${server.dbPath}`], { cwd: dir });
    expect(revoked.code, revoked.stderr).toBe(0);
    // The server re-reads a key within its cache time (1 s): wait for that, not for a fixed time.
    const after = await eventually(async () => {
      const r = await api(server, 'GET', '/v1/approvals', created.apiKey);
      return r.status === 401 ? r : undefined;
    });
    expect(after.body.error.message).toContain('revoked');
  });

  it('keys create refuses an unknown role with a usage error', async () => {
    const r = await runCli(['keys', 'create', '--role', 'superuser', '--db', `sqlite:${server.dbPath}`], { cwd: server.dir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--role must be one of agent, approver, admin');
  });
});

describe('roles', () => {
  it('an agent key can never approve or reject, not even its own action; an approver cannot evaluate', async () => {
    const { approvalId } = await pendingApproval();
    for (const verb of ['approve', 'reject']) {
      const r = await api(server, 'POST', `/v1/approvals/${approvalId}/${verb}`, server.keys.agent, {});
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe('authorization_error');
    }
    const still = await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver);
    expect(still.body.status).toBe('pending');
    const evaluate = await api(server, 'POST', '/v1/actions/evaluate', server.keys.approver, evaluateBody('x', 'db.query', { sql: 'select 1' }));
    expect(evaluate.status).toBe(403);
  });

  it('only admins block agents and verify the audit in detail; approvers read the audit and its chain status; agents do not', async () => {
    expect((await api(server, 'POST', '/v1/agents/agent-a/block', server.keys.approver, {})).status).toBe(403);
    expect((await api(server, 'GET', '/v1/audit/verify', server.keys.approver)).status).toBe(403);
    expect((await api(server, 'GET', '/v1/audit/status', server.keys.agent)).status).toBe(403);
    const status = await api(server, 'GET', '/v1/audit/status', server.keys.approver);
    expect(status.status).toBe(200);
    expect(Object.keys(status.body).sort()).toEqual(['checkedAt', 'ok']); // nothing about other organisations' rows
    expect(status.body.ok).toBe(true);
    expect((await api(server, 'GET', '/v1/audit', server.keys.agent)).status).toBe(403);
    expect((await api(server, 'GET', '/v1/audit', server.keys.approver)).status).toBe(200);
    const verify = await api(server, 'GET', '/v1/audit/verify', server.keys.admin);
    expect(verify.status).toBe(200);
    expect(verify.body.ok).toBe(true);
  });

  it('the kill switch over HTTP denies the blocked agent on its next call', async () => {
    const allowed = await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, evaluateBody('killable', 'db.query', { sql: 'select 1' }));
    expect(allowed.body.decision).toBe('allowed');
    const blocked = await api(server, 'POST', '/v1/agents/killable/block', server.keys.admin, { reason: 'runaway loop' });
    expect(blocked.status).toBe(200);
    expect(blocked.body.blocked).toBe(true);
    const next = await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, evaluateBody('killable', 'db.query', { sql: 'select 1' }));
    expect(next.body.decision).toBe('denied');
    expect(next.body.reason).toContain('runaway loop');
  });
});

describe('organisations', () => {
  it('never see or decide each other’s agents, actions, approvals or audit', async () => {
    const { approvalId, actionId } = await pendingApproval(server.keys.agent, 'shared-name');
    // The other organisation may use the same agent id: it is a different agent.
    const theirs = await api(server, 'POST', '/v1/actions/evaluate', server.keys.otherAgent, evaluateBody('shared-name', 'db.query', { sql: 'select 1' }));
    expect(theirs.body.decision).toBe('allowed');
    expect(theirs.body.agentId).toBe('shared-name');

    expect((await api(server, 'GET', `/v1/actions/${actionId}`, server.keys.otherAgent)).status).toBe(404);
    expect((await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.otherApprover)).status).toBe(404);
    const approve = await api(server, 'POST', `/v1/approvals/${approvalId}/approve`, server.keys.otherApprover, {});
    expect(approve.status).toBe(404);
    const list = await api(server, 'GET', '/v1/approvals', server.keys.otherApprover);
    expect(list.body.approvals.map((a: { approvalId: string }) => a.approvalId)).not.toContain(approvalId);
    const audit = await api(server, 'GET', '/v1/audit?limit=5000', server.keys.otherApprover);
    expect(audit.body.events.length).toBeGreaterThan(0);
    expect(audit.body.events.every((e: { agentId: string | null }) => e.agentId?.startsWith('other::'))).toBe(true);
    // Still pending for its own organisation.
    expect((await api(server, 'GET', `/v1/approvals/${approvalId}`, server.keys.approver)).body.status).toBe('pending');
    // "::" would let an agent id reach into another organisation: refused.
    const sneaky = await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, evaluateBody('other::shared-name', 'db.query', { sql: 'select 1' }));
    expect(sneaky.status).toBe(400);
    expect(sneaky.body.error.details.issues[0].path).toBe('body.agentId');
    // Naming another organisation's agent in a path or query is refused, by every role.
    expect((await api(server, 'GET', '/v1/agents/other::shared-name', server.keys.approver)).status).toBe(400);
    expect((await api(server, 'GET', '/v1/approvals?agentId=other::shared-name', server.keys.approver)).status).toBe(400);
    expect((await api(server, 'GET', '/v1/audit?agentId=other::shared-name', server.keys.approver)).status).toBe(400);
    expect((await api(server, 'POST', '/v1/agents/other::shared-name/block', server.keys.admin, {})).status).toBe(400);
    // (the refused block created nothing: their agent has no registration, blocked or not)
    expect((await api(server, 'GET', '/v1/agents/shared-name', server.keys.otherApprover)).status).toBe(404);
    // API key events belong to no organisation's audit view.
    const mine = await api(server, 'GET', '/v1/audit?limit=5000', server.keys.approver);
    expect(mine.body.events.some((e: { type: string }) => e.type.startsWith('key.'))).toBe(false);
    // An Idempotency-Key naming another organisation's action reveals nothing: it is a fresh key here.
    const stolen = await api(server, 'POST', '/v1/actions/evaluate', server.keys.otherAgent, evaluateBody('shared-name', 'db.query', { sql: 'select 1' }), { 'idempotency-key': actionId });
    expect(stolen.status).toBe(200);
    expect(stolen.body).toMatchObject({ actionId, decision: 'allowed', actionType: 'db.query' });
    expect(JSON.stringify(stolen.body)).not.toContain('payments.transfer');
    expect((await api(server, 'GET', `/v1/actions/${actionId}`, server.keys.agent)).body.action.actionType).toBe('payments.transfer');
  });
});

describe('request signing', () => {
  const signer = () => server.keys.signer;

  async function signed(method: string, pathWithQuery: string, body: unknown, mutate?: (h: Record<string, string>, text: string) => string) {
    let text = body === undefined ? '' : JSON.stringify(body);
    const headers = signRequest(signer().signingSecret!, { method, pathWithQuery, ...(body === undefined ? {} : { body: text }) });
    if (mutate) text = mutate(headers, text);
    return api(server, method, pathWithQuery, signer(), body === undefined ? undefined : text, headers);
  }

  it('a key that must sign is refused unsigned, accepted signed (the client signs for you)', async () => {
    const unsigned = await api(server, 'POST', '/v1/actions/evaluate', signer(), evaluateBody('s1', 'db.query', { sql: 'select 1' }));
    expect(unsigned.status).toBe(401);
    expect(unsigned.body.error.message).toContain('must be signed');
    const ok = await signed('POST', '/v1/actions/evaluate', evaluateBody('s1', 'db.query', { sql: 'select 1' }));
    expect(ok.status).toBe(200);
    const client = new AscendClient({
      agentId: 's2',
      apiUrl: server.url,
      apiKey: signer().apiKey,
      signingSecret: signer().signingSecret!,
      dataDir: tempDir(),
      logDestination: captureLogs().destination,
    });
    try {
      expect(await client.govern({ actionType: 'db.query', parameters: { sql: 'select 1' } }, () => 'ran')).toBe('ran');
      const wrong = new AscendClient({ agentId: 's2', apiUrl: server.url, apiKey: signer().apiKey, signingSecret: 'w'.repeat(32), dataDir: tempDir(), logDestination: captureLogs().destination });
      await expect(wrong.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' } })).rejects.toBeInstanceOf(AuthenticationError);
      await wrong.close();
    } finally {
      await client.close();
    }
  });

  it('refuses a changed body, a moved path, a stale timestamp and a replay', async () => {
    const body = evaluateBody('s1', 'db.query', { sql: 'select 1' });
    const tampered = await signed('POST', '/v1/actions/evaluate', body, (_h, text) => text.replace('select 1', 'select 2'));
    expect(tampered.status).toBe(401);
    const headers = signRequest(signer().signingSecret!, { method: 'GET', pathWithQuery: '/v1/approvals' });
    const moved = await api(server, 'GET', '/v1/agents', signer(), undefined, headers);
    expect(moved.status).toBe(401);
    const stale = signRequest(signer().signingSecret!, { method: 'GET', pathWithQuery: '/v1/agents' }, Date.now() - 10 * 60_000);
    const staleAnswer = await api(server, 'GET', '/v1/agents', signer(), undefined, stale);
    expect(staleAnswer.status).toBe(401);
    expect(staleAnswer.body.error.message).toContain("away from the server's clock");
    const fresh = signRequest(signer().signingSecret!, { method: 'GET', pathWithQuery: '/v1/agents' });
    expect((await api(server, 'GET', '/v1/agents', signer(), undefined, fresh)).status).toBe(200);
    const replay = await api(server, 'GET', '/v1/agents', signer(), undefined, fresh);
    expect(replay.status).toBe(401);
    expect(replay.body.error.message).toContain('Replayed');
  });

  it('with --require-signing the server refuses every unsigned request', async () => {
    const strict = await startServerProcess({ args: ['--require-signing'] });
    try {
      const r = await api(strict, 'GET', '/v1/agents', strict.keys.approver);
      expect(r.status).toBe(401);
      expect(r.body.error.message).toContain('must be signed');
    } finally {
      await disposeServer(strict);
    }
  });
});
