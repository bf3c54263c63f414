import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ApprovalTimeoutError,
  AscendClient,
  AuthorizationError,
  ConflictError,
  NotFoundError,
  ValidationError,
  openSqliteStore,
  defaultDbPath,
} from '../../src/index.js';
import { captureLogs, eventually, tempDir, TEST_POLICY, writePolicy } from '../helpers.js';

const clients: AscendClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});

function makeClient(opts: Partial<ConstructorParameters<typeof AscendClient>[0]> = {}) {
  const dir = tempDir();
  const policy = writePolicy(dir, TEST_POLICY);
  const logs = captureLogs();
  const client = new AscendClient({
    agentId: 'agent-1',
    policy,
    dataDir: path.join(dir, '.ascend'),
    logDestination: logs.destination,
    ...opts,
  });
  clients.push(client);
  return { client, dir, policy, dataDir: path.join(dir, '.ascend'), logs };
}

describe('evaluateAction', () => {
  it('allows, denies and holds calls as the policy says, explaining each', async () => {
    const { client } = makeClient();
    const allowed = await client.evaluateAction({ actionType: 'db.query', resource: 'prod', parameters: { sql: 'SELECT 1' } });
    expect(allowed.decision).toBe('allowed');
    expect(allowed.matchedRules).toEqual(['reads']);
    expect(allowed.actionId).toMatch(/[0-9a-f-]{36}/);

    const denied = await client.evaluateAction({ actionType: 'db.execute', resource: 'prod', parameters: { sql: 'DROP TABLE users' } });
    expect(denied.decision).toBe('denied');
    expect(denied.matchedRules).toContain('no-drops');
    expect(denied.reason).toContain('Dropping tables is never allowed');
    expect(denied.riskFactors.length).toBeGreaterThan(0);

    const pending = await client.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 5000 } });
    expect(pending.decision).toBe('pending');
    expect(pending.approvalRequestId).toBeTruthy();
    expect(pending.requiredApprovers).toEqual(['finance']);
    const approval = await client.checkApproval(pending.approvalRequestId!);
    expect(approval.status).toBe('pending');
    expect(approval.actionId).toBe(pending.actionId);

    const unknown = await client.evaluateAction({ actionType: 'email.send' });
    expect(unknown.decision).toBe('denied');
    expect(unknown.policyViolations.map((v) => v.code)).toContain('default_deny');
  });

  it('rejects bad input with the field at fault', async () => {
    const { client } = makeClient();
    const err = await client.evaluateAction({ actionType: '' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues[0]!.path).toBe('actionType');
    const err2 = await client.evaluateAction({ actionType: 'x', parameters: 'nope' as never }).catch((e: unknown) => e);
    expect((err2 as ValidationError).issues[0]!.path).toBe('parameters');
    expect(() => new AscendClient({ agentId: '' })).toThrow(/agentId/);
    expect(() => new AscendClient({ agentId: 'a', audit: { durability: 'eventually' as never } })).toThrow(/audit\.durability/);
  });

  it('denies every call, naming file and line, when the policy does not load', async () => {
    const dir = tempDir();
    const policy = writePolicy(dir, 'version: 1\ndefault: deny\nrules:\n  - id: r\n    actions: ["x"]\n    efect: allow\n');
    const client = new AscendClient({ agentId: 'a', policy, dataDir: path.join(dir, '.ascend'), logLevel: 'silent' });
    clients.push(client);
    const d = await client.evaluateAction({ actionType: 'x' });
    expect(d.decision).toBe('denied');
    expect(d.policyViolations[0]!.code).toBe('policy_error');
    expect(d.reason).toContain('ascend.policy.yaml:6');
  });
});

describe('govern', () => {
  it('runs an allowed tool once and records completion with duration', async () => {
    const { client, dataDir } = makeClient();
    let runs = 0;
    const out = await client.govern({ actionType: 'db.query', resource: 'prod', parameters: { sql: 'select * from t' } }, () => {
      runs++;
      return { rows: 3 };
    });
    expect(out).toEqual({ rows: 3 });
    expect(runs).toBe(1);
    await client.close();
    const store = openSqliteStore(defaultDbPath(dataDir));
    const events = await store.readAudit();
    expect(events.map((e) => e.type)).toEqual(['action.evaluated', 'action.completed']);
    expect(events[1]!.data).toMatchObject({ status: 'completed', result: { rows: 3 } });
    expect((await store.verifyAudit()).ok).toBe(true);
    await store.close();
  });

  it('never runs a denied tool and throws AuthorizationError with the violations', async () => {
    const { client } = makeClient();
    let ran = false;
    const err = await client
      .govern({ actionType: 'db.execute', parameters: { sql: 'drop table x' } }, () => {
        ran = true;
      })
      .catch((e: unknown) => e);
    expect(ran).toBe(false);
    expect(err).toBeInstanceOf(AuthorizationError);
    expect((err as AuthorizationError).decision).toBe('denied');
    expect((err as AuthorizationError).policyViolations.map((v) => v.code)).toContain('rule_denied');
  });

  it('records a tool failure and rethrows the tool error unchanged', async () => {
    const { client, dataDir } = makeClient();
    const boom = new Error('connection reset');
    await expect(client.govern({ actionType: 'db.query', parameters: { sql: 'select 1' } }, () => Promise.reject(boom))).rejects.toBe(boom);
    await client.close();
    const store = openSqliteStore(defaultDbPath(dataDir));
    const failed = (await store.readAudit()).find((e) => e.type === 'action.failed');
    expect(failed?.data).toMatchObject({ status: 'failed', error: 'Error: connection reset' });
    await store.close();
  });

  it('logActionCompleted refuses an unknown action id', async () => {
    const { client } = makeClient();
    await expect(client.logActionCompleted({ actionId: 'nope' })).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('approvals', () => {
  it('an approval authorizes the exact call once, then is consumed', async () => {
    const { client } = makeClient();
    const call = { actionType: 'payments.transfer', resource: 'acct-1', parameters: { amount: 5000, to: 'bob' } };
    const first = await client.evaluateAction(call);
    expect(first.decision).toBe('pending');
    await client.approve(first.approvalRequestId!, { decidedBy: 'alice', comment: 'ok' });

    // A different call (other amount) cannot use it.
    const other = await client.evaluateAction({ ...call, parameters: { amount: 5001, to: 'bob' } });
    expect(other.decision).toBe('pending');

    const again = await client.evaluateAction(call);
    expect(again.decision).toBe('allowed');
    expect(again.conditions).toContain('approved');
    expect(again.approvedBy).toMatchObject({ decidedBy: 'alice', channel: 'api' });

    const third = await client.evaluateAction(call);
    expect(third.decision).toBe('pending');
    expect((await client.checkApproval(first.approvalRequestId!)).consumedAt).toBeTruthy();
  });

  it('two processes making the approved call at once: exactly one spends the approval', async () => {
    const { client, policy, dataDir } = makeClient();
    const twin = new AscendClient({ agentId: 'agent-1', policy, dataDir, logLevel: 'silent' });
    clients.push(twin);
    const call = { actionType: 'payments.transfer', resource: 'acct-1', parameters: { amount: 5000, to: 'bob' } };
    const first = await client.evaluateAction(call);
    await client.approve(first.approvalRequestId!, { decidedBy: 'alice' });
    const results = await Promise.all([client.evaluateAction(call), twin.evaluateAction(call), client.evaluateAction(call)]);
    expect(results.map((r) => r.decision).sort()).toEqual(['allowed', 'pending', 'pending']);
    const reader = openSqliteStore(defaultDbPath(dataDir));
    expect(await reader.readAudit({ types: ['approval.consumed'] })).toHaveLength(1);
    expect((await reader.verifyAudit()).ok).toBe(true);
    await reader.close();
  });

  it('a waiting call resumes when approved in process and the tool runs once', async () => {
    const { client, dataDir } = makeClient();
    let runs = 0;
    const running = client.govern({ actionType: 'payments.transfer', parameters: { amount: 2000 } }, () => ++runs);
    const reader = openSqliteStore(defaultDbPath(dataDir));
    const approval = await eventually(async () => (await reader.listApprovals({ status: 'pending' }))[0]);
    await reader.close();
    await client.approve(approval.approvalId, { decidedBy: 'alice' });
    await expect(running).resolves.toBe(1);
  });

  it('a rejection denies with the approver and comment in the reason', async () => {
    const { client } = makeClient({
      onApprovalRequired: () => ({ approved: false, decidedBy: 'bob', comment: 'not today' }),
    });
    let ran = false;
    const err = await client
      .govern({ actionType: 'payments.transfer', parameters: { amount: 9000 } }, () => {
        ran = true;
      })
      .catch((e: unknown) => e);
    expect(ran).toBe(false);
    expect(err).toBeInstanceOf(AuthorizationError);
    expect((err as Error).message).toContain('Rejected by bob via callback: not today');
  });

  it('the onApprovalRequired callback can approve, recorded with channel callback', async () => {
    const { client } = makeClient({ onApprovalRequired: () => ({ approved: true, decidedBy: 'ops-bot' }) });
    const d = await client.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 9000 }, waitForApproval: true });
    expect(d.decision).toBe('allowed');
    expect(d.approvedBy).toMatchObject({ decidedBy: 'ops-bot', channel: 'callback' });
  });

  it('a timeout denies (even in fail-open mode), expires the request, and a late yes is refused', async () => {
    for (const failMode of ['closed', 'open'] as const) {
      const { client } = makeClient({ failMode });
      let ran = false;
      const started = Date.now();
      const err = await client
        .govern({ actionType: 'payments.transfer', parameters: { amount: 5000 }, approvalTimeoutMs: 150 }, () => {
          ran = true;
        })
        .catch((e: unknown) => e);
      expect(ran).toBe(false);
      expect(err).toBeInstanceOf(ApprovalTimeoutError);
      expect(Date.now() - started).toBeLessThan(10_000); // the call's 150 ms, not the policy's 60 s
      const id = (err as ApprovalTimeoutError).approvalRequestId;
      expect((await client.checkApproval(id)).status).toBe('expired');
      await expect(client.approve(id, { decidedBy: 'late' })).rejects.toBeInstanceOf(ConflictError);
    }
  });

  it('a grant lets the same agent and action through without a person until revoked', async () => {
    const { client, dataDir } = makeClient();
    const first = await client.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 5000 } });
    await client.approve(first.approvalRequestId!, { decidedBy: 'alice', grantMinutes: 10 });
    const next = await client.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 7000, to: 'carol' } });
    expect(next.decision).toBe('allowed');
    expect(next.conditions).toContain('grant');
    const grantId = next.approvedBy!.grantId!;
    const store = openSqliteStore(defaultDbPath(dataDir));
    expect((await store.listGrants({ activeAt: new Date().toISOString() })).map((g) => g.grantId)).toContain(grantId);
    await store.revokeGrant(grantId, 'alice', new Date().toISOString());
    await store.close();
    const after = await client.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 7000, to: 'carol' } });
    expect(after.decision).toBe('pending');
  });

  it('a grant never turns a denial into an allow', async () => {
    const { client } = makeClient();
    const first = await client.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 5000 } });
    await client.approve(first.approvalRequestId!, { decidedBy: 'alice', grantMinutes: 10 });
    const d = await client.evaluateAction({ actionType: 'db.execute', parameters: { sql: 'drop table t' } });
    expect(d.decision).toBe('denied');
  });
});

describe('kill switch', () => {
  it("a block from another connection denies the agent's next call, with the reason", async () => {
    const { client, dataDir } = makeClient();
    expect((await client.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' } })).decision).toBe('allowed');
    const store = openSqliteStore(defaultDbPath(dataDir));
    await store.setAgentBlocked('agent-1', true, 'runaway loop', 'ops', new Date().toISOString());
    const d = await client.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' } });
    expect(d.decision).toBe('denied');
    expect(d.policyViolations.map((v) => v.code)).toContain('agent_blocked');
    expect(d.reason).toContain('runaway loop');
    await store.setAgentBlocked('agent-1', false, 'fixed', 'ops', new Date().toISOString());
    await store.close();
    expect((await client.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' } })).decision).toBe('allowed');
  });
});

describe('registration', () => {
  it('enforces allowedResources and capabilities', async () => {
    const { client } = makeClient();
    await client.register({ agentType: 'analyst', capabilities: ['db.*'], allowedResources: ['analytics_*'] });
    const ok = await client.evaluateAction({ actionType: 'db.query', resource: 'analytics_eu', parameters: { sql: 'select 1' } });
    expect(ok.decision).toBe('allowed');
    const wrongResource = await client.evaluateAction({ actionType: 'db.query', resource: 'billing', parameters: { sql: 'select 1' } });
    expect(wrongResource.decision).toBe('denied');
    expect(wrongResource.policyViolations.map((v) => v.code)).toContain('resource_not_allowed');
    const wrongCapability = await client.evaluateAction({ actionType: 'payments.transfer', resource: 'analytics_eu', parameters: { amount: 1 } });
    expect(wrongCapability.policyViolations.map((v) => v.code)).toContain('capability_missing');
  });
});

describe('durability', () => {
  it('batched mode commits queued records on flush and close', async () => {
    const { client, dataDir } = makeClient({ audit: { durability: 'batched', flushIntervalMs: 60_000 } });
    for (let i = 0; i < 10; i++) {
      await client.govern({ actionType: 'db.query', parameters: { sql: `select ${i}` } }, () => i);
    }
    const reader = openSqliteStore(defaultDbPath(dataDir));
    const before = (await reader.readAudit()).length;
    await client.flush();
    const after = (await reader.readAudit()).length;
    expect(before).toBeLessThan(20);
    expect(after).toBe(20);
    expect((await reader.verifyAudit()).ok).toBe(true);
    await reader.close();
  });

  it('pending decisions commit at once even in batched mode', async () => {
    const { client, dataDir } = makeClient({ audit: { durability: 'batched', flushIntervalMs: 60_000 } });
    const d = await client.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 5000 } });
    const reader = openSqliteStore(defaultDbPath(dataDir));
    expect((await reader.getApproval(d.approvalRequestId!))?.status).toBe('pending');
    await reader.close();
  });
});

describe('answers the policy does not accept', () => {
  it("an in-process 'mcp-elicitation' yes does not approve a call the policy keeps for a person", async () => {
    const dir = tempDir();
    const client = new AscendClient({
      agentId: 'agent-1',
      policy: writePolicy(dir, TEST_POLICY.replace('rules:', 'approvals:\n  elicitationMaxRisk: null\nrules:')),
      dataDir: path.join(dir, '.ascend'),
      logDestination: captureLogs().destination,
      onApprovalRequired: () => ({ approved: true, decidedBy: 'some-client', channel: 'mcp-elicitation' }),
    });
    clients.push(client);
    const d = await client.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 5000 }, waitForApproval: true, approvalTimeoutMs: 300 });
    expect(d.decision).toBe('denied');
    expect(d.conditions).toContain('approval_timeout');
  });
});
