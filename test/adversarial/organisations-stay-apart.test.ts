/**
 * Organisations stay apart. On a real `ascend serve`, keys of organisation `other` cannot read,
 * wait on, decide, expire, spend, complete, list or see in the audit trail, the statistics or the
 * live event stream anything of organisation `default` — with ids learnt or guessed. Another
 * organisation's record answers 404 exactly like an id that never existed (so existence does not
 * leak), and nothing it tries changes the record. Agent ids naming an organisation (`::`) are
 * refused wherever an agent id is taken, and an organisation name cannot carry `::` either.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callDigest } from '../../src/core/call-digest.js';
import { eventually, runCli, tempDir } from '../helpers.js';
import { api, disposeServer, startServerProcess, webhookReceiver, type ServerProcess } from '../server/helpers.js';

let server: ServerProcess;
let receiver: Awaited<ReturnType<typeof webhookReceiver>>;
let cliDir: string;
/** An admin key of organisation `other`, made with the real CLI. */
let otherAdmin: string;
/** A marker only organisation `default` ever writes. */
const marker = `secret-${randomUUID().slice(0, 8)}`;
/** An agent id only organisation `default` uses. */
const secretAgent = `agent-${marker}`;
/** A webhook of organisation `default`. */
let webhookId: string;

beforeAll(async () => {
  cliDir = tempDir();
  receiver = await webhookReceiver();
  server = await startServerProcess({ args: ['--allow-private-webhooks'] });
  const made = await runCli(['keys', 'create', '--role', 'admin', '--org', 'other', '--name', 'other-root', '--json', '--db', `sqlite:${server.dbPath}`], { cwd: cliDir });
  expect(made.code, made.stderr).toBe(0);
  otherAdmin = (JSON.parse(made.stdout) as { apiKey: string }).apiKey;
  const hook = await api(server, 'POST', '/v1/webhooks', server.keys.admin, { url: receiver.url, events: ['action.failed'] });
  expect(hook.status).toBe(200);
  webhookId = hook.body.webhookId as string;
}, 60_000);

afterAll(async () => {
  await disposeServer(server);
  await receiver?.close();
  if (cliDir) fs.rmSync(cliDir, { recursive: true, force: true });
});

function evaluateBody(agentId: string, actionType: string, parameters: Record<string, unknown>) {
  return { agentId, actionType, resource: 'prod', parameters, digest: callDigest({ agentId, actionType, resource: 'prod', parameters }) };
}

/** A call of organisation `default`'s secret agent (or another of its agents); `decision` is checked. */
async function mine(actionType: string, parameters: Record<string, unknown>, decision: string, agentId = secretAgent): Promise<{ actionId: string; approvalId?: string; digest: string }> {
  const body = evaluateBody(agentId, actionType, parameters);
  const d = await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, body);
  expect(d.status).toBe(200);
  expect(d.body.decision).toBe(decision);
  return { actionId: d.body.actionId, ...(d.body.approvalRequestId ? { approvalId: d.body.approvalRequestId } : {}), digest: body.digest };
}

/**
 * Ask for `path` (with `id` in it) and for the same path with an id that never existed; both
 * must be the same 404, apart from the id itself.
 */
async function expectSameAsNeverExisted(key: string, method: string, path: (id: string) => string, id: string, body?: unknown | ((id: string) => unknown)): Promise<void> {
  const bodyFor = (x: string): unknown => (typeof body === 'function' ? (body as (id: string) => unknown)(x) : body);
  const real = await api(server, method, path(id), key, bodyFor(id));
  const ghostId = randomUUID();
  const ghost = await api(server, method, path(ghostId), key, bodyFor(ghostId));
  expect(real.status, `${method} ${path(id)}: ${JSON.stringify(real.body)}`).toBe(404);
  expect(ghost.status).toBe(404);
  expect(JSON.stringify(real.body).replaceAll(id, 'ID')).toBe(JSON.stringify(ghost.body).replaceAll(ghostId, 'ID'));
}

describe("another organisation's approvals", () => {
  it('cannot be read, waited on, approved, rejected, expired or spent: 404 as for an id that never existed', async () => {
    const pending = await mine('payments.transfer', { amount: 5000, note: marker }, 'pending');
    const approved = await mine('payments.transfer', { amount: 6000, note: marker }, 'pending');
    expect((await api(server, 'POST', `/v1/approvals/${approved.approvalId}/approve`, server.keys.approver, {})).status).toBe(200);
    const { otherAgent, otherApprover } = server.keys;

    for (const id of [pending.approvalId!, approved.approvalId!]) {
      for (const key of [otherAgent.apiKey, otherApprover.apiKey, otherAdmin]) {
        await expectSameAsNeverExisted(key, 'GET', (x) => `/v1/approvals/${x}`, id);
        await expectSameAsNeverExisted(key, 'GET', (x) => `/v1/approvals/${x}/wait?timeoutMs=20000`, id);
      }
      for (const key of [otherApprover.apiKey, otherAdmin]) {
        await expectSameAsNeverExisted(key, 'POST', (x) => `/v1/approvals/${x}/approve`, id, { grantMinutes: 60 });
        await expectSameAsNeverExisted(key, 'POST', (x) => `/v1/approvals/${x}/reject`, id, {});
      }
      for (const key of [otherAgent.apiKey, otherAdmin]) {
        await expectSameAsNeverExisted(key, 'POST', (x) => `/v1/approvals/${x}/expire`, id);
        await expectSameAsNeverExisted(key, 'POST', (x) => `/v1/approvals/${x}/consume`, id, { digest: approved.digest });
      }
    }

    // Nothing changed: still pending, still unspent (its own agent can spend it), no grant made.
    expect((await api(server, 'GET', `/v1/approvals/${pending.approvalId}`, server.keys.approver)).body.status).toBe('pending');
    const spend = await api(server, 'POST', `/v1/approvals/${approved.approvalId}/consume`, server.keys.agent, { digest: approved.digest });
    expect(spend.body.consumed).toBe(true);
    expect((await api(server, 'GET', `/v1/grants?agentId=${secretAgent}`, server.keys.approver)).body.grants).toEqual([]);
  });

  it('ids changed in spelling (case, "::", encodings) never reach the record', async () => {
    const pending = await mine('payments.transfer', { amount: 7000, note: marker }, 'pending');
    const id = pending.approvalId!;
    const variants = [id.toUpperCase(), `default::${id}`, `::${id}`, encodeURIComponent(`default::${id}`), `${id}%00`, `%20${id}`, `${id}/`, `${id}%2F`];
    for (const variant of variants) {
      for (const [key, suffix] of [
        [server.keys.otherApprover.apiKey, ''],
        [server.keys.otherApprover.apiKey, '/approve'],
        [server.keys.otherAgent.apiKey, '/expire'],
      ] as const) {
        const r = await api(server, suffix === '' ? 'GET' : 'POST', `/v1/approvals/${variant}${suffix}`, key, suffix === '' ? undefined : {});
        expect([400, 404], `${variant}${suffix}: ${r.status}`).toContain(r.status);
      }
    }
    for (const variant of [pending.actionId.toUpperCase(), `default::${pending.actionId}`, encodeURIComponent(`::${pending.actionId}`)]) {
      const r = await api(server, 'GET', `/v1/actions/${variant}`, server.keys.otherAgent.apiKey);
      expect([400, 404], `${variant}: ${r.status}`).toContain(r.status);
    }
    expect((await api(server, 'GET', `/v1/approvals/${id}`, server.keys.approver)).body.status).toBe('pending');
  });
});

describe("another organisation's actions", () => {
  it('cannot be read, completed, failed or given an uploaded outcome: 404 as for an id that never existed', async () => {
    const allowed = await mine('db.query', { sql: `select '${marker}'` }, 'allowed');
    const key = server.keys.otherAgent.apiKey;
    await expectSameAsNeverExisted(key, 'GET', (x) => `/v1/actions/${x}`, allowed.actionId);
    await expectSameAsNeverExisted(otherAdmin, 'GET', (x) => `/v1/actions/${x}`, allowed.actionId);
    await expectSameAsNeverExisted(key, 'POST', (x) => `/v1/actions/${x}/complete`, allowed.actionId, { result: 'forged', durationMs: 1 });
    await expectSameAsNeverExisted(key, 'POST', (x) => `/v1/actions/${x}/fail`, allowed.actionId, { error: 'forged', durationMs: 1 });
    await expectSameAsNeverExisted(key, 'POST', () => '/v1/actions/upload', allowed.actionId, (actionId: string) => ({
      kind: 'outcome',
      outcome: { actionId, status: 'failed', error: 'forged', durationMs: 1, recordedAt: new Date().toISOString() },
    }));

    const read = await api(server, 'GET', `/v1/actions/${allowed.actionId}`, server.keys.agent);
    expect(read.status).toBe(200);
    expect(read.body.outcome).toBeUndefined();
    // Its own agent can still record the outcome: the forged ones took nothing.
    const done = await api(server, 'POST', `/v1/actions/${allowed.actionId}/complete`, server.keys.agent, { result: 'ok', durationMs: 3 });
    expect(done.body.recorded).toBe(true);
  });
});

describe('lists, audit, statistics and agents', () => {
  it('show another organisation nothing of this one, by listing or by filter', async () => {
    const stats = async () => (await api(server, 'GET', '/v1/stats?hours=1&buckets=1', server.keys.otherApprover)).body.totals as Record<string, number>;
    const before = await stats();
    const pending = await mine('payments.transfer', { amount: 8000, note: marker }, 'pending');
    const allowed = await mine('db.query', { sql: `select '${marker}'` }, 'allowed');
    await mine(`${marker}.op`, { note: marker }, 'denied');
    // A grant (to another of our agents, so later calls of the secret agent still ask a person).
    const grantFrom = await mine('payments.transfer', { amount: 9000, note: marker }, 'pending', `${secretAgent}-granted`);
    expect((await api(server, 'POST', `/v1/approvals/${grantFrom.approvalId}/approve`, server.keys.approver, { grantMinutes: 30 })).status).toBe(200);
    expect((await api(server, 'GET', `/v1/grants?agentId=${secretAgent}-granted`, server.keys.approver)).body.grants).toHaveLength(1);

    for (const key of [server.keys.otherAgent.apiKey, server.keys.otherApprover.apiKey, otherAdmin]) {
      for (const path of ['/v1/approvals?limit=1000', '/v1/approvals?status=pending&limit=1000', '/v1/approvals?status=approved&limit=1000', `/v1/approvals?agentId=${secretAgent}`]) {
        const r = await api(server, 'GET', path, key);
        expect(r.status).toBe(200);
        expect(JSON.stringify(r.body), path).not.toContain(marker);
        expect(r.body.approvals.map((a: { approvalId: string }) => a.approvalId)).not.toContain(pending.approvalId);
      }
      const agents = await api(server, 'GET', '/v1/agents', key);
      expect(agents.status).toBe(200);
      expect(JSON.stringify(agents.body)).not.toContain(marker);
      expect((await api(server, 'GET', `/v1/agents/${secretAgent}`, key)).status).toBe(404);
      for (const path of ['/v1/grants', '/v1/grants?active=true', `/v1/grants?agentId=${secretAgent}-granted`]) {
        const grants = await api(server, 'GET', path, key);
        expect(grants.status).toBe(200);
        expect(JSON.stringify(grants.body), path).not.toContain(marker);
      }
    }

    for (const key of [server.keys.otherApprover.apiKey, otherAdmin]) {
      for (const path of [
        '/v1/audit?limit=5000',
        '/v1/audit?limit=5000&order=desc',
        `/v1/audit?agentId=${secretAgent}`,
        `/v1/audit?actionId=${allowed.actionId}`,
        `/v1/audit?actionType=${marker}.op`,
        '/v1/audit?decision=pending&limit=5000',
      ]) {
        const audit = await api(server, 'GET', path, key);
        expect(audit.status, path).toBe(200);
        expect(JSON.stringify(audit.body), path).not.toContain(marker);
        expect(audit.body.events.every((e: { agentId: string | null }) => e.agentId?.startsWith('other::')), path).toBe(true);
      }
    }

    // The statistics count none of it; the other organisation's own call is counted (the count moves).
    expect(await stats()).toEqual(before);
    expect((await api(server, 'POST', '/v1/actions/evaluate', server.keys.otherAgent, evaluateBody('their-bot', 'db.query', { sql: 'select 1' }))).body.decision).toBe('allowed');
    const after = await stats();
    expect(after.allowed).toBe(before.allowed! + 1);
  });

  it("the live event stream carries only the organisation's own events", async () => {
    const abort = new AbortController();
    const response = await fetch(`${server.url}/v1/events`, { headers: { authorization: `Bearer ${server.keys.otherApprover.apiKey}` }, signal: abort.signal });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    let text = '';
    const pump = (async () => {
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) return;
        text += new TextDecoder().decode(chunk.value);
      }
    })().catch(() => undefined);
    try {
      await eventually(() => text.includes('event: ready'), 20_000, 20);
      await mine('db.query', { sql: `select '${marker}-live'` }, 'allowed');
      await mine('payments.transfer', { amount: 9500, note: `${marker}-live` }, 'pending');
      // Their own call after ours: once it is on their stream, ours would have been too.
      const theirs = `theirs-${randomUUID().slice(0, 8)}`;
      expect((await api(server, 'POST', '/v1/actions/evaluate', server.keys.otherAgent, evaluateBody(theirs, 'db.query', { sql: 'select 2' }))).status).toBe(200);
      await eventually(() => text.includes(theirs), 20_000, 20);
      expect(text).not.toContain(marker);
      const agentIds = [...text.matchAll(/"agentId":"([^"]*)"/g)].map((m) => m[1]);
      expect(agentIds.length).toBeGreaterThan(0);
      expect(agentIds.every((id) => id!.startsWith('other::'))).toBe(true);
    } finally {
      abort.abort();
      await pump;
    }
  });
});

describe("another organisation's admin", () => {
  it("blocks only its own agent of the same name, and cannot see or remove this organisation's webhooks or grants", async () => {
    const check = () => mine('db.query', { sql: 'select 1' }, 'allowed');
    await check();
    const blocked = await api(server, 'POST', `/v1/agents/${secretAgent}/block`, otherAdmin, { reason: 'not yours' });
    expect(blocked.status).toBe(200);
    expect(blocked.body.agentId).toBe(secretAgent); // their agent of that name, as they call it
    await check(); // ours is not blocked
    expect((await api(server, 'GET', `/v1/agents/${secretAgent}`, server.keys.approver)).body.blocked).not.toBe(true);

    const theirHooks = await api(server, 'GET', '/v1/webhooks', otherAdmin);
    expect(theirHooks.status).toBe(200);
    expect(theirHooks.body.webhooks).toEqual([]);
    await expectSameAsNeverExisted(otherAdmin, 'DELETE', (x) => `/v1/webhooks/${x}`, webhookId);
    await expectSameAsNeverExisted(otherAdmin, 'GET', (x) => `/v1/webhooks/${x}/deliveries`, webhookId);
    const ours = await api(server, 'GET', '/v1/webhooks', server.keys.admin);
    expect(ours.body.webhooks.find((w: { webhookId: string }) => w.webhookId === webhookId).disabledAt).toBeUndefined();

    const grantee = `${secretAgent}-granted-too`;
    const granted = await mine('payments.transfer', { amount: 9900, note: marker }, 'pending', grantee);
    expect((await api(server, 'POST', `/v1/approvals/${granted.approvalId}/approve`, server.keys.approver, { grantMinutes: 30 })).status).toBe(200);
    const grants = (await api(server, 'GET', `/v1/grants?agentId=${grantee}&active=true`, server.keys.approver)).body.grants as Array<{ grantId: string }>;
    expect(grants.length).toBeGreaterThan(0);
    for (const { grantId } of grants) {
      for (const key of [server.keys.otherApprover.apiKey, otherAdmin]) await expectSameAsNeverExisted(key, 'DELETE', (x) => `/v1/grants/${x}`, grantId);
    }
    expect((await api(server, 'GET', `/v1/grants?agentId=${grantee}&active=true`, server.keys.approver)).body.grants).toHaveLength(grants.length);
  });
});

describe('agent ids naming an organisation', () => {
  it('are refused with 400 naming the field wherever an agent id is taken', async () => {
    const named = ['default::x', `default::${secretAgent}`, `::${secretAgent}`, 'other::their-bot'];
    for (const agentId of named) {
      for (const key of [server.keys.agent, server.keys.otherAgent]) {
        const evaluate = await api(server, 'POST', '/v1/actions/evaluate', key, evaluateBody(agentId, 'db.query', { sql: 'select 1' }));
        expect(evaluate.status, agentId).toBe(400);
        expect(evaluate.body.error.details.issues[0].path).toBe('body.agentId');
        const register = await api(server, 'POST', '/v1/agents', key, { agentId, agentName: 'sneaky' });
        expect(register.status).toBe(400);
        expect(register.body.error.details.issues[0].path).toBe('body.agentId');
      }
      const encoded = encodeURIComponent(agentId);
      for (const [key, method, path] of [
        [server.keys.otherApprover.apiKey, 'GET', `/v1/agents/${encoded}`],
        [server.keys.otherApprover.apiKey, 'GET', `/v1/approvals?agentId=${encoded}`],
        [server.keys.otherApprover.apiKey, 'GET', `/v1/grants?agentId=${encoded}`],
        [server.keys.otherApprover.apiKey, 'GET', `/v1/audit?agentId=${encoded}`],
        [otherAdmin, 'POST', `/v1/agents/${encoded}/block`],
        [otherAdmin, 'POST', `/v1/agents/${encoded}/unblock`],
      ] as const) {
        const r = await api(server, method, path, key, method === 'POST' ? {} : undefined);
        expect(r.status, `${method} ${path}`).toBe(400);
        expect(r.body.error.code).toBe('validation_error');
      }
    }
    // Still ours, and not blocked by any of it.
    await mine('db.query', { sql: 'select 1' }, 'allowed');
  });

  it('an organisation name cannot carry "::" (or anything but a plain name)', async () => {
    for (const org of ['default::x', 'a::b', '::', 'Other Org']) {
      const r = await runCli(['keys', 'create', '--role', 'admin', '--org', org, '--name', 'x', '--db', `sqlite:${server.dbPath}`], { cwd: cliDir });
      expect(r.code, org).toBe(2);
      expect(r.stderr).toContain('--org must be');
      expect(r.stdout).not.toContain('ak_');
    }
  }, 120_000);
});

describe('the policy, shared by every organisation', () => {
  it("another organisation's admin cannot push it, nor read its text or history; it still sees the version and replays its own calls", async () => {
    const policyText = fs.readFileSync(`${server.dir}/ascend.policy.yaml`, 'utf8');
    const push = await api(server, 'POST', '/v1/policy', otherAdmin, { text: 'version: 1\ndefault: allow\nrules: []\n' });
    expect(push.status).toBe(403);
    expect(push.body.error.message).toContain('only keys of the default organisation');
    expect((await api(server, 'GET', '/v1/policy/text', otherAdmin)).status).toBe(403);
    expect((await api(server, 'GET', '/v1/policy/history', otherAdmin)).status).toBe(403);
    // Nothing changed: the default organisation's calls are decided as before.
    const status = await api(server, 'GET', '/v1/policy', otherAdmin);
    expect(status.status).toBe(200);
    expect((await api(server, 'GET', '/v1/policy/text', server.keys.admin)).body.text).toBe(policyText);
    expect(status.body.pushed).toBeNull();
    const replay = await api(server, 'POST', '/v1/policy/replay', otherAdmin, { text: policyText });
    expect(replay.status).toBe(200);
    expect(JSON.stringify(replay.body)).not.toContain(marker);
  });
});

