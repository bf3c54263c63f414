/**
 * An idempotency key reveals nothing about another organisation. Action ids are each
 * organisation's own: an `Idempotency-Key` equal to another organisation's action id (one it
 * chose as a key, or one the server made) is answered exactly as an unused key is — a fresh
 * decision of the caller's own call under that id — and each organisation keeps reading,
 * completing and auditing its own action under the shared id. Real `ascend serve` over SQLite.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callDigest } from '../../src/core/call-digest.js';
import type { NewApiKey } from '../../src/server/api-keys.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from '../server/helpers.js';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServerProcess();
}, 60_000);
afterAll(async () => {
  await disposeServer(server);
});

function body(agentId: string, actionType: string, parameters: Record<string, unknown>) {
  return { agentId, actionType, resource: '', parameters, digest: callDigest({ agentId, actionType, resource: '', parameters }) };
}

function evaluate(key: NewApiKey, call: ReturnType<typeof body>, idempotencyKey?: string) {
  return api(server, 'POST', '/v1/actions/evaluate', key, call, idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey });
}

/** The parts of an answer that do not depend on when it was made. */
function shape(answer: { status: number; body: any }) {
  const { decidedAt: _at, actionId: _id, ...rest } = answer.body ?? {};
  return { status: answer.status, body: rest };
}

const freshKey = (): string => `probe-${randomBytes(10).toString('hex')}`;

describe('an idempotency key reveals nothing about another organisation', () => {
  it("another organisation's action id, sent as a key, is answered as an unused key is", async () => {
    const { agent: mine, otherAgent: theirs } = server.keys;
    // Organisation "other" records two actions: one under a key it chose, one under an id the server made.
    const chosen = freshKey();
    expect((await evaluate(theirs, body('payer', 'payments.transfer', { amount: 5000 }), chosen)).body.decision).toBe('pending');
    const made = (await evaluate(theirs, body('payer', 'payments.transfer', { amount: 6000 }))).body.actionId as string;

    const call = body('reader', 'db.query', { sql: 'select 1' });
    // What an unused key gets: the decision, the same again for a retry, a 409 for another call.
    const unusedKey = freshKey();
    const unused = [
      await evaluate(mine, call, unusedKey),
      await evaluate(mine, call, unusedKey),
      await evaluate(mine, body('reader', 'db.query', { sql: 'select 2' }), unusedKey),
    ].map(shape);
    expect(unused.map((a) => a.status)).toEqual([200, 200, 409]);
    for (const probe of [chosen, made]) {
      const answers = [
        await evaluate(mine, call, probe),
        await evaluate(mine, call, probe),
        await evaluate(mine, body('reader', 'db.query', { sql: 'select 2' }), probe),
      ];
      expect(answers[0]!.body.actionId).toBe(probe);
      expect(answers.map(shape)).toEqual(unused.map((a) => (a.status === 409 ? { ...a, body: { error: { ...a.body.error, message: a.body.error.message.replace(unusedKey, probe), details: { idempotencyKey: probe } } } } : a)));
    }
  });

  it('the other way round too, and each organisation reads, completes and audits its own action under the shared id', async () => {
    const { agent: mine, otherAgent: theirs, approver: myApprover, otherApprover: theirApprover } = server.keys;
    const shared = freshKey();
    const first = await evaluate(mine, body('twin', 'db.query', { sql: 'select 1' }), shared);
    expect(first.body).toMatchObject({ decision: 'allowed', actionId: shared });
    const second = await evaluate(theirs, body('twin', 'db.query', { sql: 'DROP TABLE users' }), shared);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ decision: 'denied', actionId: shared });

    expect((await api(server, 'GET', `/v1/actions/${shared}`, mine)).body.action).toMatchObject({ actionId: shared, agentId: 'twin', decision: 'allowed' });
    expect((await api(server, 'GET', `/v1/actions/${shared}`, theirs)).body.action).toMatchObject({ actionId: shared, agentId: 'twin', decision: 'denied' });

    const done = await api(server, 'POST', `/v1/actions/${shared}/complete`, mine, { durationMs: 3 });
    expect(done.body).toMatchObject({ recorded: true, outcome: { actionId: shared, status: 'completed' } });
    // Denied, so it cannot have run: their outcome is refused for their own action, not ours.
    expect((await api(server, 'POST', `/v1/actions/${shared}/complete`, theirs, { durationMs: 3 })).status).toBe(409);
    expect((await api(server, 'GET', `/v1/actions/${shared}`, mine)).body.outcome).toMatchObject({ actionId: shared, status: 'completed' });
    expect((await api(server, 'GET', `/v1/actions/${shared}`, theirs)).body.outcome).toBeUndefined();

    const myAudit = (await api(server, 'GET', `/v1/audit?actionId=${shared}`, myApprover)).body.events as Array<{ type: string; agentId: string; data: { decision?: string } }>;
    expect(myAudit.map((e) => e.type)).toEqual(['action.evaluated', 'action.completed']);
    expect(myAudit[0]!.data.decision).toBe('allowed');
    const theirAudit = (await api(server, 'GET', `/v1/audit?actionId=${shared}`, theirApprover)).body.events as Array<{ type: string; agentId: string; data: { decision?: string } }>;
    expect(theirAudit.map((e) => e.type)).toEqual(['action.evaluated']);
    expect(theirAudit[0]!.data.decision).toBe('denied');
    expect(theirAudit.every((e) => e.agentId === 'other::twin')).toBe(true);
  });

  it("an approval request leaves with the organisation's own action id", async () => {
    const key = freshKey();
    const pending = await evaluate(server.keys.otherAgent, body('payer', 'payments.transfer', { amount: 7000 }), key);
    const approval = await api(server, 'GET', `/v1/approvals/${pending.body.approvalRequestId}`, server.keys.otherApprover);
    expect(approval.body).toMatchObject({ actionId: key, agentId: 'payer', status: 'pending' });
    const listed = await api(server, 'GET', '/v1/approvals?status=pending&agentId=payer', server.keys.otherApprover);
    expect(listed.body.approvals.find((a: { approvalId: string }) => a.approvalId === pending.body.approvalRequestId)).toMatchObject({ actionId: key });
  });
});
