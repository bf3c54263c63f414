/**
 * Edit and approve, embedded: a person changes a pending call's arguments before approving it;
 * the tool runs with the edited arguments, decided by the policy again, digested and recorded,
 * and the audit shows the original, the edit and who made it.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient, AuthorizationError, ValidationError, openSqliteStore, defaultDbPath, type DecisionResult } from '../../src/index.js';
import { applyEdits, argumentEdits, checkEdits, parseSetEdit } from '../../src/core/argument-edits.js';
import { eventually, tempDir, TEST_POLICY, writePolicy } from '../helpers.js';

const clients: AscendClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});

const POLICY_WITH_CAP = `${TEST_POLICY}
  - id: no-huge-transfers
    actions: ["payments.transfer"]
    when: "parameters.amount > 100000"
    effect: deny
    reason: Transfers over 100000 are never made by an agent
`;

function setUp(policyYaml = POLICY_WITH_CAP) {
  const dir = tempDir();
  const policy = writePolicy(dir, policyYaml);
  const dataDir = path.join(dir, '.ascend');
  const agent = new AscendClient({ agentId: 'agent-1', policy, dataDir, logLevel: 'silent' });
  const approver = new AscendClient({ agentId: 'approver-tool', policy, dataDir, logLevel: 'silent' });
  clients.push(agent, approver);
  return { agent, approver, dataDir };
}

/** The first pending approval's id, once the agent's call is waiting. */
async function pendingApproval(dataDir: string): Promise<string> {
  const store = openSqliteStore(defaultDbPath(dataDir));
  try {
    return await eventually(async () => (await store.listApprovals({ status: 'pending' }))[0]?.approvalId);
  } finally {
    await store.close();
  }
}

describe('edit and approve (embedded)', () => {
  it('runs the tool with the edited arguments, keeps the secret it never showed, and records original, edit and editor', async () => {
    const { agent, approver, dataDir } = setUp();
    const seen: Record<string, unknown>[] = [];
    let decided: DecisionResult | undefined;
    const running = agent.govern(
      { actionType: 'payments.transfer', resource: 'bank', parameters: { amount: 5000, account: 'US-1', apiKey: 'sk_live_real_secret_value', memo: { note: 'rent' } } },
      (decision, parameters) => {
        decided = decision;
        seen.push(parameters);
        return 'sent';
      },
    );
    const approvalId = await pendingApproval(dataDir);
    const approval = await approver.checkApproval(approvalId);
    expect(approval.parameters.apiKey).toBe('[REDACTED]'); // the approver never sees it
    await approver.approve(approvalId, { decidedBy: 'alice', comment: 'use the EU account', edits: [{ path: ['account'], value: 'EU-9' }, { path: ['memo', 'note'], value: 'rent (EU)' }] });
    expect(await running).toBe('sent');

    expect(seen).toEqual([{ amount: 5000, account: 'EU-9', apiKey: 'sk_live_real_secret_value', memo: { note: 'rent (EU)' } }]);
    expect(decided!.conditions).toEqual(expect.arrayContaining(['edited', 'approved']));
    expect(decided!.approvedBy?.decidedBy).toBe('alice');
    expect(decided!.reason).toBe('Approved with edits by alice via api: use the EU account');
    expect(decided!.approvalRequestId).toBe(approvalId);

    const store = openSqliteStore(defaultDbPath(dataDir));
    try {
      const original = await store.getAction(approval.actionId);
      expect(original?.decision).toBe('pending');
      expect(original?.parameters).toMatchObject({ account: 'US-1', apiKey: '[REDACTED]' });
      const edited = await store.getAction(decided!.actionId);
      expect(edited?.decision).toBe('allowed');
      expect(edited?.parameters).toEqual({ amount: 5000, account: 'EU-9', apiKey: '[REDACTED]', memo: { note: 'rent (EU)' } });
      expect(edited?.approvalId).toBe(approvalId);
      expect(edited?.digest).not.toBe(original?.digest);
      expect((await store.getOutcome(decided!.actionId))?.status).toBe('completed');
      const events = await store.readAudit({ limit: 1000 });
      const approved = events.find((e) => e.type === 'approval.approved' && e.approvalId === approvalId);
      expect(approved?.actor).toBe('alice');
      expect(approved?.data).toMatchObject({ edits: [{ path: ['account'], value: 'EU-9' }, { path: ['memo', 'note'], value: 'rent (EU)' }], comment: 'use the EU account' });
      expect(events.some((e) => e.type === 'approval.consumed' && e.approvalId === approvalId)).toBe(true);
      expect(JSON.stringify(events)).not.toContain('sk_live_real_secret_value');
      expect((await store.verifyAudit()).ok).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('an edit cannot make a denied call run: the edited call is decided by the policy again', async () => {
    const { agent, approver, dataDir } = setUp();
    let ran = false;
    const running = agent.govern({ actionType: 'payments.transfer', parameters: { amount: 5000, account: 'US-1' } }, () => (ran = true));
    const approvalId = await pendingApproval(dataDir);
    await approver.approve(approvalId, { decidedBy: 'mallory', edits: [{ path: ['amount'], value: 500000 }] });
    const refused = await running.catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AuthorizationError);
    expect((refused as AuthorizationError).policyViolations.map((v) => v.ruleId ?? v.code)).toContain('no-huge-transfers');
    expect(ran).toBe(false);
    // And the approval is spent: it covers exactly one call.
    expect((await approver.checkApproval(approvalId)).consumedAt).toBeDefined();
  });

  it('an edit that lowers a call below the approval threshold still runs once, as edited', async () => {
    const { agent, approver, dataDir } = setUp();
    const seen: unknown[] = [];
    const running = agent.govern({ actionType: 'payments.transfer', parameters: { amount: 5000 } }, (_d, p) => seen.push(p));
    const approvalId = await pendingApproval(dataDir);
    await approver.approve(approvalId, { decidedBy: 'alice', edits: [{ path: ['amount'], value: 900 }] });
    await running;
    expect(seen).toEqual([{ amount: 900 }]);
    expect((await approver.checkApproval(approvalId)).consumedAt).toBeDefined();
  });

  it('an in-process approver can edit too (ApprovalAnswer.edits)', async () => {
    const { agent } = setUp();
    const seen: unknown[] = [];
    await agent.govern(
      { actionType: 'payments.transfer', parameters: { amount: 5000, account: 'US-1' }, onApprovalRequired: () => ({ approved: true, decidedBy: 'ops', edits: [{ path: ['account'], remove: true }] }) },
      (_d, p) => seen.push(p),
    );
    expect(seen).toEqual([{ amount: 5000 }]);
  });

  it('refuses edits of redacted arguments, secrets put in by an edit, edits with a rejection or a grant', async () => {
    const { agent, approver } = setUp();
    const pending = await agent.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 5000, token: 'tok_real', card: { password: 'x' } } });
    const id = pending.approvalRequestId!;
    const attempt = (edits: { path: string[]; value?: unknown; remove?: true }[], extra: object = {}) =>
      approver.approve(id, { decidedBy: 'alice', edits, ...extra }).then(
        () => 'approved',
        (e: unknown) => e,
      );
    for (const edits of [[{ path: ['token'], value: 'tok_other' }], [{ path: ['card', 'password'], value: 'y' }], [{ path: ['token'], remove: true as const }]]) {
      const err = await attempt(edits);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).message).toMatch(/redacted/);
    }
    const secret = await attempt([{ path: ['apiKey'], value: 'sk_new' }]);
    expect(secret).toBeInstanceOf(ValidationError);
    expect((secret as ValidationError).message).toMatch(/secret/);
    const nested = await attempt([{ path: ['extra'], value: { password: 'p' } }]);
    expect(nested).toBeInstanceOf(ValidationError);
    const missing = await attempt([{ path: ['nope', 'deeper'], value: 1 }]);
    expect((missing as ValidationError).message).toMatch(/nope does not exist/);
    const withGrant = await attempt([{ path: ['amount'], value: 1 }], { grantMinutes: 5 });
    expect(withGrant).toBeInstanceOf(ValidationError);
    expect((await approver.checkApproval(id)).status).toBe('pending'); // nothing was decided
  });

  it('with approvals.allowEdits: false, edits are refused and an edited call is denied', async () => {
    const { agent, approver } = setUp(`${POLICY_WITH_CAP}\napprovals:\n  allowEdits: false\n`);
    const pending = await agent.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 5000 } });
    const err = await approver.approve(pending.approvalRequestId!, { decidedBy: 'alice', edits: [{ path: ['amount'], value: 10 }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toContain('allowEdits: false');
    expect((await approver.checkApproval(pending.approvalRequestId!)).status).toBe('pending');
  });
});

describe('argument edits', () => {
  it('apply in order, leave the input alone, and name the edit that does not fit', () => {
    const args = { a: 1, list: [1, 2, 3], nested: { b: 'x' } };
    expect(applyEdits(args, [{ path: ['list', '1'], value: 9 }, { path: ['list', '3'], value: 4 }, { path: ['nested', 'c'], value: true }, { path: ['a'], remove: true }])).toEqual({
      list: [1, 9, 3, 4],
      nested: { b: 'x', c: true },
    });
    expect(args).toEqual({ a: 1, list: [1, 2, 3], nested: { b: 'x' } });
    expect(() => applyEdits(args, [{ path: ['a'], value: 2 }, { path: ['a', 'b'], value: 1 }])).toThrow(/edits\.1: a is not an object/);
    expect(() => applyEdits(args, [{ path: ['list', '7'], value: 1 }])).toThrow(/no index 7/);
    expect(() => applyEdits(args, [{ path: [], value: 1 }])).toThrow(/empty/);
  });

  it('argumentEdits turns wanted arguments into edits that reproduce them', () => {
    const from = { amount: 5, account: 'US', memo: { a: 1, b: 2 }, tags: ['x'] };
    const to = { amount: 6, memo: { a: 1, c: 3 }, tags: ['x', 'y'], region: 'eu' };
    const edits = argumentEdits(from, to);
    expect(applyEdits(from, edits)).toEqual(to);
    expect(edits).toContainEqual({ path: ['account'], remove: true });
    expect(edits).toContainEqual({ path: ['memo', 'c'], value: 3 });
  });

  it('parseSetEdit reads --set path=value as JSON, or as text', () => {
    expect(parseSetEdit('items.0.qty=5')).toEqual({ path: ['items', '0', 'qty'], value: 5 });
    expect(parseSetEdit('region=eu-west-1')).toEqual({ path: ['region'], value: 'eu-west-1' });
    expect(parseSetEdit('flags={"a":true}')).toEqual({ path: ['flags'], value: { a: true } });
    expect(() => parseSetEdit('novalue')).toThrow(/path=value/);
  });

  it('checkEdits returns the arguments as the approver will see them', () => {
    expect(checkEdits({ amount: 5, token: '[REDACTED]' }, [{ path: ['amount'], value: 6 }])).toEqual({ amount: 6, token: '[REDACTED]' });
  });
});

describe('the dashboard\'s edits', () => {
  it('editsBetween in the browser gives the same edits as argumentEdits', async () => {
    // @ts-expect-error: a plain browser ES module without type declarations
    const { editsBetween } = (await import('../../src/server/dashboard/public/edits.js')) as { editsBetween: typeof argumentEdits };
    const cases: Array<[Record<string, unknown>, Record<string, unknown>]> = [
      [{ a: 1 }, { a: 1 }],
      [{ a: 1, b: { c: 2, d: [1, 2] } }, { b: { c: 3, d: [1, 2, 3] }, e: null }],
      [{ to: 'us', memo: 'x', token: '[REDACTED]' }, { to: 'eu', memo: 'x', token: '[REDACTED]' }],
      [{ nested: { deep: { x: 1 } } }, { nested: { deep: 'flat' } }],
      [{ list: [{ a: 1 }] }, { list: [{ a: 2 }] }],
    ];
    for (const [from, to] of cases) {
      expect(editsBetween(from, to)).toEqual(argumentEdits(from, to));
      expect(applyEdits(from, editsBetween(from, to))).toEqual(to);
    }
  });
});

describe('edits and prototype keys', () => {
  it('an edit at "__proto__" sets an own argument, never the object\'s prototype', () => {
    const edited = applyEdits({ a: 1 }, [{ path: ['__proto__'], value: { polluted: true } }]);
    expect(Object.getPrototypeOf(edited)).toBe(Object.prototype);
    expect(Object.hasOwn(edited, '__proto__')).toBe(true);
    expect((edited as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
