/**
 * Edit and approve under attack. An agent (or anyone holding its key) tries to get more from an
 * edited approval than the one edited call a person approved: run the original call, run other
 * arguments under the approval, spend it twice or in a race, claim an approval with no edits or
 * another agent's. Every attempt is sent as raw HTTP to a real server, as an attacker would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { callDigest } from '../../src/core/call-digest.js';
import { applyEdits } from '../../src/core/argument-edits.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from '../server/helpers.js';
import path from 'node:path';
import { parsePolicy, type CompiledPolicy } from '../../src/engine/index.js';
import { LocalTransport } from '../../src/transport/local.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { EvaluationRequest } from '../../src/decision/request.js';
import { tempDir, TEST_POLICY } from '../helpers.js';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServerProcess();
});
afterAll(async () => {
  await disposeServer(server);
});

const AGENT = 'edit-target';

/** POST /v1/actions/evaluate as the agent, with its own digest of `parameters`. */
async function evaluate(parameters: Record<string, unknown>, editOf?: { approvalId: string; digest: string }, agentId = AGENT, key = server.keys.agent) {
  const body = {
    agentId,
    actionType: 'payments.transfer',
    parameters,
    digest: callDigest({ agentId, actionType: 'payments.transfer', resource: '', parameters }),
    ...(editOf ? { editOf } : {}),
  };
  return api(server, 'POST', '/v1/actions/evaluate', key, body, { 'idempotency-key': randomUUID() });
}

/** A pending transfer approved by a person with `edits`; returns its id, digest and arguments. */
async function editedApproval(amount: number, edits: { path: string[]; value?: unknown; remove?: true }[], agentId = AGENT) {
  const parameters = { amount, account: 'US-1' };
  const pending = await evaluate(parameters, undefined, agentId);
  expect(pending.body.decision).toBe('pending');
  const approvalId = pending.body.approvalRequestId as string;
  const approved = await api(server, 'POST', `/v1/approvals/${approvalId}/approve`, server.keys.approver, { edits });
  expect(approved.status, JSON.stringify(approved.body)).toBe(200);
  return { approvalId, digest: callDigest({ agentId, actionType: 'payments.transfer', resource: '', parameters }), parameters, edited: applyEdits(parameters, edits) };
}

describe('an edited approval runs only the edited call', () => {
  it('never lets the original, unedited call run', async () => {
    const { approvalId, digest, parameters } = await editedApproval(5001, [{ path: ['account'], value: 'EU-9' }]);
    const again = await evaluate(parameters);
    expect(again.body.decision).toBe('pending'); // asks a person again: the edit was not "yes" to this
    expect(again.body.approvalRequestId).not.toBe(approvalId);
    const consumed = await api(server, 'POST', `/v1/approvals/${approvalId}/consume`, server.keys.agent, { digest });
    expect(consumed.body.consumed).toBe(false);
    // Claiming the edit with the original arguments is refused too.
    const asOriginal = await evaluate(parameters, { approvalId, digest });
    expect(asOriginal.body.decision).toBe('denied');
    expect(asOriginal.body.policyViolations.map((v: { code: string }) => v.code)).toContain('edit_unusable');
  });

  it('refuses arguments other than the ones the person approved, then allows exactly those, once', async () => {
    const { approvalId, digest, edited } = await editedApproval(5002, [{ path: ['account'], value: 'EU-9' }]);
    for (const other of [{ ...edited, account: 'EVIL-1' }, { ...edited, extra: true }, { ...edited, amount: 5003 }, { amount: 5002 }]) {
      const forged = await evaluate(other, { approvalId, digest });
      expect(forged.body.decision, JSON.stringify(other)).toBe('denied');
      expect(forged.body.reason).toContain('not the ones the approver approved');
    }
    const real = await evaluate(edited, { approvalId, digest });
    expect(real.body.decision).toBe('allowed');
    expect(real.body.conditions).toEqual(expect.arrayContaining(['edited', 'approved']));
    const replay = await evaluate(edited, { approvalId, digest });
    expect(replay.body.decision).toBe('denied');
    expect(replay.body.reason).toMatch(/already used/);
  });

  it('lets exactly one of several racing edited calls through', async () => {
    const { approvalId, digest, edited } = await editedApproval(5004, [{ path: ['amount'], value: 400 }]);
    const answers = await Promise.all(Array.from({ length: 6 }, () => evaluate(edited, { approvalId, digest })));
    expect(answers.map((a) => a.status).every((s) => s === 200)).toBe(true);
    expect(answers.filter((a) => a.body.decision === 'allowed')).toHaveLength(1);
  });

  it('refuses a claim on an approval without edits, with a wrong digest, or of another agent', async () => {
    const parameters = { amount: 5005, account: 'US-1' };
    const pending = await evaluate(parameters);
    const approvalId = pending.body.approvalRequestId as string;
    await api(server, 'POST', `/v1/approvals/${approvalId}/approve`, server.keys.approver, {});
    const digest = callDigest({ agentId: AGENT, actionType: 'payments.transfer', resource: '', parameters });
    const noEdits = await evaluate({ ...parameters, account: 'EU-9' }, { approvalId, digest });
    expect(noEdits.body.decision).toBe('denied');
    expect(noEdits.body.reason).toContain('not approved with edits');

    const theirs = await editedApproval(5006, [{ path: ['account'], value: 'EU-9' }], 'someone-else');
    const stolen = await evaluate(theirs.edited, { approvalId: theirs.approvalId, digest: theirs.digest });
    expect(stolen.body.decision).toBe('denied');
    expect(stolen.body.reason).toContain('No approval');

    const mine = await editedApproval(5007, [{ path: ['account'], value: 'EU-9' }]);
    const wrongDigest = await evaluate(mine.edited, { approvalId: mine.approvalId, digest: 'a'.repeat(64) });
    expect(wrongDigest.body.decision).toBe('denied');
    expect(wrongDigest.body.reason).toContain('different call');
    // Still usable by the real edited call after all those attempts.
    expect((await evaluate(mine.edited, { approvalId: mine.approvalId, digest: mine.digest })).body.decision).toBe('allowed');
  });

  it('answers a malformed editOf with a 400 naming the field', async () => {
    const bad = await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, {
      agentId: AGENT,
      actionType: 'payments.transfer',
      parameters: {},
      digest: 'b'.repeat(64),
      editOf: { approvalId: 'x', digest: 'nothex' },
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('editOf.digest');
  });
});

describe('a policy that forbids edits after the edit was made', () => {
  it('denies the edited call: the policy in force when it runs decides', async () => {
    const holder: { current: CompiledPolicy | Error } = { current: parsePolicy(TEST_POLICY, 'allow-edits.yaml') };
    const store = openSqliteStore(path.join(tempDir(), 'ascend.db'));
    const transport = new LocalTransport({ policy: holder, openStore: () => store });
    try {
      const request = (parameters: Record<string, unknown>, extra: Partial<EvaluationRequest> = {}): EvaluationRequest => ({
        agentId: 'edit-policy-agent',
        actionType: 'payments.transfer',
        resource: '',
        parameters,
        redactedParameters: parameters,
        context: {},
        requireHumanApproval: false,
        digest: callDigest({ agentId: 'edit-policy-agent', actionType: 'payments.transfer', resource: '', parameters }),
        ...extra,
      });
      const original = request({ amount: 5000, account: 'US-1' });
      const pending = await transport.evaluate(original);
      expect(pending.decision).toBe('pending');
      await transport.decideApproval({ approvalId: pending.approvalRequestId!, status: 'approved', decidedBy: 'alice', channel: 'api', edits: [{ path: ['account'], value: 'EU-9' }] });
      holder.current = parsePolicy(`${TEST_POLICY}\napprovals:\n  allowEdits: false\n`, 'no-edits.yaml');
      const edited = await transport.evaluate(request({ amount: 5000, account: 'EU-9' }, { editOf: { approvalId: pending.approvalRequestId!, digest: original.digest } }));
      expect(edited.decision).toBe('denied');
      expect(edited.reason).toContain('allowEdits: false');
      expect(edited.policyViolations.map((v) => v.code)).toContain('edit_unusable');
    } finally {
      await transport.close();
    }
  });
});
