/**
 * The Store contract: what every Store implementation (SQLite and PostgreSQL) must do.
 * Run it with `storeContract('name', () => openFreshStore())`; each test gets a fresh store.
 * `databaseContract` adds what needs the whole database: more stores on it, and its own driver
 * to tamper with the audit trail.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from '../../src/core/canonical.js';
import { ConflictError, NotFoundError, StaleDecisionError, StoreError, ValidationError } from '../../src/core/errors.js';
import { type FlushReport, HARD_LIMIT_FACTOR } from '../../src/store/batch.js';
import type { DurabilityOptions, Store } from '../../src/store/store.js';
import type { AuditEvent } from '../../src/core/types.js';
import { eventually } from '../helpers.js';
import { at, eventTypes, makeAction, makeOutcome, makePending, writeSome } from './records.js';

const GENESIS = '0'.repeat(64);

/** Recompute an event's hash from the definition, independently of any implementation. */
export function expectedHash(e: AuditEvent): string {
  const { hash: _hash, ...rest } = e;
  return sha256Hex(
    e.prevHash +
      canonicalJson({
        seq: rest.seq,
        ts: rest.ts,
        type: rest.type,
        agentId: rest.agentId,
        actionId: rest.actionId,
        approvalId: rest.approvalId,
        actor: rest.actor,
        data: rest.data,
        prevHash: rest.prevHash,
      }),
  );
}

const agentInput = {
  agentId: 'agent-a',
  agentName: 'Agent A',
  agentType: 'support',
  capabilities: ['database.*'],
  allowedResources: ['production_db'],
  metadata: { team: 'care', tier: 2 },
};

/** Register the contract tests for a Store produced by `open` (a fresh, empty store per test). */
export function storeContract(name: string, open: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    describe('agents', () => {
      it('registers an agent and lists it', async () => {
        const agent = await store.upsertAgent(agentInput, at(0));
        expect(agent).toEqual({ ...agentInput, blocked: false, registeredAt: at(0), updatedAt: at(0), version: expect.any(Number) });
        expect(agent.version).toBeGreaterThan(0);
        expect(await store.getAgent('agent-a')).toEqual(agent);
        expect(await store.getAgent('nobody')).toBeUndefined();
        await store.upsertAgent({ ...agentInput, agentId: 'agent-0' }, at(0));
        expect((await store.listAgents()).map((a) => a.agentId)).toEqual(['agent-0', 'agent-a']);
      });

      it('updates a registration, keeping registeredAt and the block', async () => {
        await store.upsertAgent(agentInput, at(0));
        await store.setAgentBlocked('agent-a', true, 'runaway loop', 'ops@example.com', at(5));
        const updated = await store.upsertAgent({ ...agentInput, agentName: 'Agent A2', capabilities: [] }, at(10));
        expect(updated).toMatchObject({ agentName: 'Agent A2', capabilities: [], registeredAt: at(0), updatedAt: at(10) });
        expect(updated.blocked).toBe(true);
        expect(updated.blockedReason).toBe('runaway loop');
      });

      it('blocks an unknown agent (creating it) and unblocks it', async () => {
        const blocked = await store.setAgentBlocked('ghost', true, 'kill switch', 'ops', at(1));
        expect(blocked).toMatchObject({ agentId: 'ghost', blocked: true, blockedReason: 'kill switch' });
        const unblocked = await store.setAgentBlocked('ghost', false, 'fixed', 'ops', at(2));
        expect(unblocked.blocked).toBe(false);
        expect(unblocked.blockedReason).toBeUndefined();
        expect((await store.getAgent('ghost'))?.blocked).toBe(false);
      });

      it('moves the version on every registration, block and unblock', async () => {
        const v1 = (await store.upsertAgent(agentInput, at(0))).version;
        const v2 = (await store.setAgentBlocked('agent-a', true, 'why', 'ops', at(1))).version;
        const v3 = (await store.setAgentBlocked('agent-a', false, 'ok', 'ops', at(2))).version;
        const v4 = (await store.upsertAgent(agentInput, at(3))).version;
        expect(v1).toBeLessThan(v2);
        expect(v2).toBeLessThan(v3);
        expect(v3).toBeLessThan(v4);
        expect((await store.getAgent('agent-a'))?.version).toBe(v4);
      });

      it('serves agentForDecision: the registration, or undefined for an unknown agent', async () => {
        expect(await store.agentForDecision('agent-a')).toBeUndefined();
        const agent = await store.upsertAgent(agentInput, at(0));
        expect(await store.agentForDecision('agent-a')).toEqual(agent);
        const blocked = await store.setAgentBlocked('agent-a', true, 'stop', 'ops', at(1));
        expect(await store.agentForDecision('agent-a')).toMatchObject({ blocked: true, version: blocked.version });
      });

      it('appends agent.registered / agent.blocked / agent.unblocked', async () => {
        await store.upsertAgent(agentInput, at(0));
        await store.setAgentBlocked('agent-a', true, 'why', 'ops', at(1));
        await store.setAgentBlocked('agent-a', false, 'ok now', 'ops', at(2));
        const events = await store.readAudit({ agentId: 'agent-a' });
        expect(eventTypes(events)).toEqual(['agent.registered', 'agent.blocked', 'agent.unblocked']);
        expect(events[0]?.data).toMatchObject({ agentName: 'Agent A', capabilities: ['database.*'], metadata: { team: 'care', tier: 2 } });
        expect(events[1]).toMatchObject({ actor: 'ops', ts: at(1), data: { reason: 'why' } });
      });
    });

    describe('decisions and outcomes', () => {
      it('records a decision and reads it back exactly', async () => {
        const action = makeAction();
        await store.recordDecision(action);
        expect(await store.getAction(action.actionId)).toEqual(action);
        expect(await store.getAction('missing')).toBeUndefined();
      });

      it('records outcomes (completed and failed) with their audit events', async () => {
        const ok = makeAction();
        const bad = makeAction();
        await store.recordDecision(ok);
        await store.recordDecision(bad);
        const done = makeOutcome(ok.actionId);
        const failed = makeOutcome(bad.actionId, { status: 'failed', result: undefined, error: 'boom', durationMs: 7 });
        await store.recordOutcome(done);
        await store.recordOutcome(failed);
        expect(await store.getOutcome(ok.actionId)).toEqual(done);
        expect(await store.getOutcome(bad.actionId)).toEqual({ actionId: bad.actionId, status: 'failed', error: 'boom', durationMs: 7, recordedAt: at(1) });
        expect(await store.getOutcome('missing')).toBeUndefined();
        const events = await store.readAudit();
        expect(eventTypes(events)).toEqual(['action.evaluated', 'action.evaluated', 'action.completed', 'action.failed']);
        expect(events[2]).toMatchObject({ actionId: ok.actionId, agentId: 'agent-a', actor: 'agent-a', data: { status: 'completed', result: { rows: 1 }, durationMs: 4 } });
        expect(events[3]?.data).toMatchObject({ status: 'failed', error: 'boom', durationMs: 7 });
      });

      it('puts the full decision in the action.evaluated event', async () => {
        const action = makeAction({ conditions: ['monitor_mode'], policyViolations: [{ code: 'risk_too_high', message: 'm' }] });
        await store.recordDecision(action);
        const [event] = await store.readAudit({ actionId: action.actionId });
        expect(event).toMatchObject({ type: 'action.evaluated', agentId: 'agent-a', actor: 'agent-a', ts: action.createdAt });
        expect(event?.data).toMatchObject({
          parameters: action.parameters,
          decision: 'allowed',
          reason: action.reason,
          riskScore: 25,
          riskLevel: 'low',
          riskFactors: action.riskFactors,
          matchedRules: ['sql-select'],
          policyViolations: [{ code: 'risk_too_high', message: 'm' }],
          conditions: ['monitor_mode'],
          digest: action.digest,
        });
      });

      it('refuses a second decision with the same id and a second outcome', async () => {
        const action = makeAction();
        await store.recordDecision(action);
        await expect(store.recordDecision(action)).rejects.toBeInstanceOf(ConflictError);
        await store.recordOutcome(makeOutcome(action.actionId));
        await expect(store.recordOutcome(makeOutcome(action.actionId))).rejects.toBeInstanceOf(ConflictError);
        await store.flush();
        expect(eventTypes(await store.readAudit())).toEqual(['action.evaluated', 'action.completed']);
      });

      it('refuses an outcome for an unknown action', async () => {
        await expect(store.recordOutcome(makeOutcome('no-such-action'))).rejects.toBeInstanceOf(NotFoundError);
      });

      it('refuses a decision made on an agent version that is no longer current, recording nothing', async () => {
        const registered = await store.upsertAgent(agentInput, at(0));
        const denied = makeAction({ decision: 'denied' });
        await store.recordDecision(denied, undefined, { agentVersion: registered.version });
        await store.setAgentBlocked('agent-a', true, 'stop', 'ops', at(1));
        // Denied and pending decisions are never queued, so every store checks them at once.
        const stale = makeAction({ decision: 'denied' });
        await expect(store.recordDecision(stale, undefined, { agentVersion: registered.version })).rejects.toBeInstanceOf(StaleDecisionError);
        expect(await store.getAction(stale.actionId)).toBeUndefined();
        // An unregistered agent is version 0.
        await expect(store.recordDecision(makeAction({ agentId: 'nobody', decision: 'denied' }), undefined, { agentVersion: 0 })).resolves.toBeUndefined();
        await expect(store.recordDecision(makeAction({ agentId: 'nobody', decision: 'denied' }), undefined, { agentVersion: 3 })).rejects.toBeInstanceOf(StaleDecisionError);
      });

      it('records denied decisions', async () => {
        const action = makeAction({ decision: 'denied', reason: 'Denied by rule no-drop', riskScore: 95, riskLevel: 'critical' });
        await store.recordDecision(action);
        expect((await store.getAction(action.actionId))?.decision).toBe('denied');
      });
    });

    describe('approvals', () => {
      it('records a pending decision with its approval request', async () => {
        const { action, approval } = makePending();
        await store.recordDecision(action, approval);
        expect(await store.getAction(action.actionId)).toEqual(action);
        expect(await store.getApproval(approval.approvalId)).toEqual(approval);
        expect(await store.getApproval('missing')).toBeUndefined();
        const events = await store.readAudit();
        expect(eventTypes(events)).toEqual(['action.evaluated', 'approval.requested']);
        expect(events[1]).toMatchObject({ approvalId: approval.approvalId, actionId: action.actionId, data: { digest: approval.digest, expiresAt: approval.expiresAt } });
      });

      it('lists approvals by status and agent, newest first', async () => {
        const first = makePending({ createdAt: at(0) });
        const second = makePending({ createdAt: at(1), agentId: 'agent-b' });
        await store.recordDecision(first.action, first.approval);
        await store.recordDecision(second.action, second.approval);
        expect((await store.listApprovals()).map((a) => a.approvalId)).toEqual([second.approval.approvalId, first.approval.approvalId]);
        expect((await store.listApprovals({ agentId: 'agent-a' })).map((a) => a.approvalId)).toEqual([first.approval.approvalId]);
        expect(await store.listApprovals({ limit: 1 })).toHaveLength(1);
        await store.decideApproval({ approvalId: first.approval.approvalId, status: 'rejected', decidedBy: 'bob', channel: 'cli', now: at(2) });
        expect((await store.listApprovals({ status: 'pending' })).map((a) => a.approvalId)).toEqual([second.approval.approvalId]);
        expect((await store.listApprovals({ status: 'rejected' })).map((a) => a.approvalId)).toEqual([first.approval.approvalId]);
      });

      it('approves: who, channel, comment, when — and the audit event says so', async () => {
        const { action, approval } = makePending();
        await store.recordDecision(action, approval);
        const decided = await store.decideApproval({
          approvalId: approval.approvalId,
          status: 'approved',
          decidedBy: 'alice@example.com',
          channel: 'dashboard',
          comment: 'looks fine',
          now: at(30),
        });
        expect(decided).toEqual({ ...approval, status: 'approved', decidedBy: 'alice@example.com', channel: 'dashboard', comment: 'looks fine', decidedAt: at(30) });
        const [event] = await store.readAudit({ types: ['approval.approved'] });
        expect(event).toMatchObject({
          actor: 'alice@example.com',
          approvalId: approval.approvalId,
          actionId: action.actionId,
          ts: at(30),
          data: { decidedBy: 'alice@example.com', channel: 'dashboard', comment: 'looks fine' },
        });
      });

      it('rejects', async () => {
        const { action, approval } = makePending();
        await store.recordDecision(action, approval);
        const decided = await store.decideApproval({ approvalId: approval.approvalId, status: 'rejected', decidedBy: 'bob', channel: 'cli', now: at(5) });
        expect(decided.status).toBe('rejected');
        expect(eventTypes(await store.readAudit({ types: ['approval.rejected'] }))).toEqual(['approval.rejected']);
      });

      it('refuses to decide twice, and lets exactly one of two racing decisions win', async () => {
        const { action, approval } = makePending();
        await store.recordDecision(action, approval);
        const results = await Promise.allSettled([
          store.decideApproval({ approvalId: approval.approvalId, status: 'approved', decidedBy: 'alice', channel: 'cli', now: at(3) }),
          store.decideApproval({ approvalId: approval.approvalId, status: 'rejected', decidedBy: 'bob', channel: 'dashboard', now: at(3) }),
        ]);
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(1);
        expect(lost[0]?.reason).toBeInstanceOf(ConflictError);
        await expect(
          store.decideApproval({ approvalId: approval.approvalId, status: 'approved', decidedBy: 'carol', channel: 'cli', now: at(4) }),
        ).rejects.toBeInstanceOf(ConflictError);
        const decisions = await store.readAudit({ types: ['approval.approved', 'approval.rejected'] });
        expect(decisions).toHaveLength(1);
      });

      it('throws NotFoundError for an unknown approval', async () => {
        await expect(
          store.decideApproval({ approvalId: 'nope', status: 'approved', decidedBy: 'a', channel: 'cli', now: at(0) }),
        ).rejects.toBeInstanceOf(NotFoundError);
        await expect(store.expireApproval('nope', at(0))).rejects.toBeInstanceOf(NotFoundError);
      });

      it('marks an expired pending request expired instead of approving it', async () => {
        const { action, approval } = makePending({}, 60);
        await store.recordDecision(action, approval);
        await expect(
          store.decideApproval({ approvalId: approval.approvalId, status: 'approved', decidedBy: 'late', channel: 'cli', now: at(60) }),
        ).rejects.toBeInstanceOf(ConflictError);
        expect((await store.getApproval(approval.approvalId))?.status).toBe('expired');
        const [event] = await store.readAudit({ types: ['approval.expired'] });
        expect(event).toMatchObject({ approvalId: approval.approvalId, actor: 'system' });
        expect(await store.readAudit({ types: ['approval.approved'] })).toEqual([]);
      });

      it('expireApproval: pending becomes expired; a decided one is returned as it is', async () => {
        const a = makePending();
        const b = makePending();
        await store.recordDecision(a.action, a.approval);
        await store.recordDecision(b.action, b.approval);
        expect((await store.expireApproval(a.approval.approvalId, at(10))).status).toBe('expired');
        await store.decideApproval({ approvalId: b.approval.approvalId, status: 'approved', decidedBy: 'x', channel: 'api', now: at(5) });
        const stillApproved = await store.expireApproval(b.approval.approvalId, at(10));
        expect(stillApproved.status).toBe('approved');
        expect(await store.readAudit({ types: ['approval.expired'] })).toHaveLength(1);
        await expect(
          store.decideApproval({ approvalId: a.approval.approvalId, status: 'approved', decidedBy: 'x', channel: 'api', now: at(11) }),
        ).rejects.toBeInstanceOf(ConflictError);
      });

      it('consumes an approval once, only for the same call, only while unexpired', async () => {
        const { action, approval } = makePending({}, 600);
        await store.recordDecision(action, approval);
        expect(await store.consumeApproval(approval.approvalId, approval.digest, at(1))).toBe(false); // still pending
        await store.decideApproval({ approvalId: approval.approvalId, status: 'approved', decidedBy: 'a', channel: 'cli', now: at(2) });
        expect(await store.findUsableApproval('agent-a', approval.digest, at(3))).toMatchObject({ approvalId: approval.approvalId });
        expect(await store.findUsableApproval('agent-a', 'other-digest', at(3))).toBeUndefined();
        expect(await store.findUsableApproval('agent-b', approval.digest, at(3))).toBeUndefined();
        expect(await store.consumeApproval(approval.approvalId, 'other-digest', at(3))).toBe(false);
        expect(await store.consumeApproval(approval.approvalId, approval.digest, at(3))).toBe(true);
        expect(await store.consumeApproval(approval.approvalId, approval.digest, at(4))).toBe(false);
        expect(await store.findUsableApproval('agent-a', approval.digest, at(5))).toBeUndefined();
        expect((await store.getApproval(approval.approvalId))?.consumedAt).toBe(at(3));
        expect(await store.readAudit({ types: ['approval.consumed'] })).toHaveLength(1);
        expect(await store.consumeApproval('unknown', approval.digest, at(5))).toBe(false);
      });

      it('does not consume or offer an approval past its expiry', async () => {
        const { action, approval } = makePending({}, 60);
        await store.recordDecision(action, approval);
        await store.decideApproval({ approvalId: approval.approvalId, status: 'approved', decidedBy: 'a', channel: 'cli', now: at(2) });
        expect(await store.findUsableApproval('agent-a', approval.digest, at(60))).toBeUndefined();
        expect(await store.consumeApproval(approval.approvalId, approval.digest, at(60))).toBe(false);
        expect(await store.consumeApproval(approval.approvalId, approval.digest, at(59))).toBe(true);
      });

      it('spends an approval together with the decision that uses it, or records neither', async () => {
        const { action, approval } = makePending();
        await store.recordDecision(action, approval);
        await store.decideApproval({ approvalId: approval.approvalId, status: 'approved', decidedBy: 'a', channel: 'cli', now: at(2) });
        const first = makeAction({ actionType: action.actionType, parameters: action.parameters, approvalId: approval.approvalId });
        await store.recordDecision(first, undefined, { spendsApproval: approval.approvalId });
        expect((await store.getApproval(approval.approvalId))?.consumedAt).toBeDefined();
        const second = makeAction({ actionType: action.actionType, parameters: action.parameters, approvalId: approval.approvalId });
        await expect(store.recordDecision(second, undefined, { spendsApproval: approval.approvalId })).rejects.toBeInstanceOf(StaleDecisionError);
        expect(await store.getAction(second.actionId)).toBeUndefined();
        await store.flush();
        expect(eventTypes(await store.readAudit({ types: ['approval.consumed', 'action.evaluated'] }))).toEqual([
          'action.evaluated',
          'approval.consumed',
          'action.evaluated',
        ]);
      });

      it('keeps an approver\'s edits, and spends an edited approval only on the edited call, once', async () => {
        const { action, approval } = makePending({ parameters: { query: 'DELETE FROM t WHERE id = 1', token: '[REDACTED]' } });
        await store.recordDecision(action, approval);
        const edits = [{ path: ['query'], value: 'DELETE FROM t WHERE id = 2' }];
        // Refused, nothing decided: a redacted argument, a secret, a grant with edits, edits on a rejection.
        await expect(store.decideApproval({ approvalId: approval.approvalId, status: 'approved', decidedBy: 'a', channel: 'cli', edits: [{ path: ['token'], value: 'x' }], now: at(1) })).rejects.toBeInstanceOf(ValidationError);
        await expect(store.decideApproval({ approvalId: approval.approvalId, status: 'approved', decidedBy: 'a', channel: 'cli', edits: [{ path: ['password'], value: 'x' }], now: at(1) })).rejects.toBeInstanceOf(ValidationError);
        await expect(store.decideApproval({ approvalId: approval.approvalId, status: 'approved', decidedBy: 'a', channel: 'cli', edits, grantMinutes: 5, now: at(1) })).rejects.toBeInstanceOf(ValidationError);
        await expect(store.decideApproval({ approvalId: approval.approvalId, status: 'rejected', decidedBy: 'a', channel: 'cli', edits, now: at(1) })).rejects.toBeInstanceOf(ValidationError);
        expect((await store.getApproval(approval.approvalId))?.status).toBe('pending');

        const decided = await store.decideApproval({ approvalId: approval.approvalId, status: 'approved', decidedBy: 'alice', channel: 'cli', edits, now: at(2) });
        expect(decided.edits).toEqual(edits);
        expect((await store.getApproval(approval.approvalId))?.edits).toEqual(edits);
        const [event] = await store.readAudit({ types: ['approval.approved'] });
        expect(event?.data).toMatchObject({ edits, decidedBy: 'alice' });
        // The original call can never use it.
        expect(await store.findUsableApproval('agent-a', approval.digest, at(3))).toBeUndefined();
        expect(await store.consumeApproval(approval.approvalId, approval.digest, at(3))).toBe(false);
        await expect(store.recordDecision(makeAction({ digest: approval.digest, approvalId: approval.approvalId }), undefined, { spendsApproval: approval.approvalId })).rejects.toBeInstanceOf(StaleDecisionError);
        // The edited call (its own digest) spends it, bound to the original digest, once.
        await expect(
          store.recordDecision(makeAction({ approvalId: approval.approvalId }), undefined, { spendsEditedApproval: { approvalId: approval.approvalId, digest: 'f'.repeat(64) } }),
        ).rejects.toBeInstanceOf(StaleDecisionError);
        const edited = makeAction({ parameters: { query: 'DELETE FROM t WHERE id = 2', token: '[REDACTED]' }, approvalId: approval.approvalId });
        await store.recordDecision(edited, undefined, { spendsEditedApproval: { approvalId: approval.approvalId, digest: approval.digest } });
        expect((await store.getApproval(approval.approvalId))?.consumedAt).toBe(edited.createdAt);
        const again = makeAction({ approvalId: approval.approvalId });
        await expect(store.recordDecision(again, undefined, { spendsEditedApproval: { approvalId: approval.approvalId, digest: approval.digest } })).rejects.toBeInstanceOf(StaleDecisionError);
        expect(await store.getAction(again.actionId)).toBeUndefined();
      });

      it('never spends an unedited approval as an edited one', async () => {
        const { action, approval } = makePending();
        await store.recordDecision(action, approval);
        await store.decideApproval({ approvalId: approval.approvalId, status: 'approved', decidedBy: 'a', channel: 'cli', now: at(2) });
        await expect(
          store.recordDecision(makeAction({ approvalId: approval.approvalId }), undefined, { spendsEditedApproval: { approvalId: approval.approvalId, digest: approval.digest } }),
        ).rejects.toBeInstanceOf(StaleDecisionError);
        expect(await store.consumeApproval(approval.approvalId, approval.digest, at(3))).toBe(true);
      });

      it('lets exactly one of several racing consumers use an approval', async () => {
        const { action, approval } = makePending();
        await store.recordDecision(action, approval);
        await store.decideApproval({ approvalId: approval.approvalId, status: 'approved', decidedBy: 'a', channel: 'cli', now: at(2) });
        const results = await Promise.all(Array.from({ length: 5 }, () => store.consumeApproval(approval.approvalId, approval.digest, at(3))));
        expect(results.filter(Boolean)).toHaveLength(1);
      });
    });

    describe('grants', () => {
      async function approveWithGrant(minutes: number, now = at(10)) {
        const { action, approval } = makePending({ createdAt: now });
        await store.recordDecision(action, approval);
        const decided = await store.decideApproval({
          approvalId: approval.approvalId,
          status: 'approved',
          decidedBy: 'alice',
          channel: 'dashboard',
          grantMinutes: minutes,
          now,
        });
        return { action, approval: decided };
      }

      it('creates a grant with the approval, in the same transaction', async () => {
        const { action, approval } = await approveWithGrant(15);
        expect(approval.grantId).toBeTypeOf('string');
        const grant = await store.findActiveGrant('agent-a', action.actionType, at(11));
        expect(grant).toEqual({
          grantId: approval.grantId,
          agentId: 'agent-a',
          actionType: action.actionType,
          createdAt: at(10),
          expiresAt: at(10 + 15 * 60),
          createdBy: 'alice',
          channel: 'dashboard',
          approvalId: approval.approvalId,
        });
        const events = await store.readAudit({ types: ['approval.approved', 'grant.created'] });
        expect(eventTypes(events)).toEqual(['approval.approved', 'grant.created']);
        expect(events[0]?.data).toMatchObject({ grantId: approval.grantId });
        expect(events[1]).toMatchObject({ agentId: 'agent-a', approvalId: approval.approvalId, data: { grantId: approval.grantId, expiresAt: at(910) } });
      });

      it('finds only unexpired, unrevoked grants for that agent and action type, latest first', async () => {
        const first = await approveWithGrant(10, at(10));
        const second = await approveWithGrant(30, at(20));
        const type = first.action.actionType;
        expect((await store.findActiveGrant('agent-a', type, at(30)))?.grantId).toBe(second.approval.grantId);
        expect(await store.findActiveGrant('agent-a', 'email.send', at(30))).toBeUndefined();
        expect(await store.findActiveGrant('agent-b', type, at(30))).toBeUndefined();
        expect(await store.findActiveGrant('agent-a', type, at(20 + 30 * 60))).toBeUndefined();
        await store.revokeGrant(second.approval.grantId as string, 'ops', at(40));
        expect((await store.findActiveGrant('agent-a', type, at(41)))?.grantId).toBe(first.approval.grantId);
      });

      it('revokes once: grant.revoked, then ConflictError; NotFoundError for unknown ids', async () => {
        const { approval } = await approveWithGrant(60);
        const revoked = await store.revokeGrant(approval.grantId as string, 'ops@example.com', at(100));
        expect(revoked).toMatchObject({ revokedAt: at(100), revokedBy: 'ops@example.com' });
        await expect(store.revokeGrant(approval.grantId as string, 'ops', at(101))).rejects.toBeInstanceOf(ConflictError);
        await expect(store.revokeGrant('nope', 'ops', at(101))).rejects.toBeInstanceOf(NotFoundError);
        const [event] = await store.readAudit({ types: ['grant.revoked'] });
        expect(event).toMatchObject({ actor: 'ops@example.com', agentId: 'agent-a', data: { grantId: approval.grantId } });
      });

      it('lists grants, optionally those active at a time or for one agent', async () => {
        const a = await approveWithGrant(10, at(0));
        const b = await approveWithGrant(10, at(1000));
        expect(await store.listGrants()).toHaveLength(2);
        expect((await store.listGrants({ activeAt: at(5) })).map((g) => g.grantId)).toEqual([a.approval.grantId]);
        expect((await store.listGrants({ activeAt: at(1005) })).map((g) => g.grantId)).toEqual([b.approval.grantId]);
        await store.revokeGrant(b.approval.grantId as string, 'ops', at(1010));
        expect(await store.listGrants({ activeAt: at(1011) })).toEqual([]);
        expect(await store.listGrants({ activeAt: at(1005) })).toHaveLength(1); // it was active then
        expect(await store.listGrants({ agentId: 'agent-b' })).toEqual([]);
      });

      it('refuses a grant with a rejection', async () => {
        const { action, approval } = makePending();
        await store.recordDecision(action, approval);
        await expect(
          store.decideApproval({ approvalId: approval.approvalId, status: 'rejected', decidedBy: 'a', channel: 'cli', grantMinutes: 5, now: at(1) }),
        ).rejects.toBeInstanceOf(ValidationError);
        expect((await store.getApproval(approval.approvalId))?.status).toBe('pending');
      });
    });

    describe('audit trail', () => {
      async function populate(): Promise<void> {
        await store.upsertAgent(agentInput, at(0));
        const allowed = makeAction({ createdAt: at(1) });
        await store.recordDecision(allowed);
        await store.recordOutcome(makeOutcome(allowed.actionId, { recordedAt: at(2) }));
        const { action, approval } = makePending({ createdAt: at(3) });
        await store.recordDecision(action, approval);
        await store.decideApproval({ approvalId: approval.approvalId, status: 'approved', decidedBy: 'a', channel: 'cli', grantMinutes: 5, now: at(4) });
        await store.consumeApproval(approval.approvalId, approval.digest, at(5));
        const other = makeAction({ agentId: 'agent-b', createdAt: at(6) });
        await store.recordDecision(other);
        await store.setAgentBlocked('agent-b', true, 'stop', 'ops', at(7));
      }

      it('filters by agent id prefix (organisations): `ORG::` ids, or ids with no `::`', async () => {
        const { action: theirs, approval: theirApproval } = makePending({ agentId: 'acme::bot', createdAt: at(1) });
        await store.recordDecision(theirs, { ...theirApproval, agentId: 'acme::bot' });
        const { action: ours, approval: ourApproval } = makePending({ agentId: 'bot', createdAt: at(2) });
        await store.recordDecision(ours, { ...ourApproval, agentId: 'bot' });
        await store.recordDecision(makeAction({ agentId: 'acme::bot', createdAt: at(3) }));
        await store.createApiKey({ keyId: '0123456789abcdef', name: 'k', role: 'agent', org: 'acme', secretHash: 'a'.repeat(64), requireSigning: false, createdAt: at(4), createdBy: 't' });
        const acme = await store.readAudit({ agentIdPrefix: 'acme::' });
        expect(acme.length).toBeGreaterThan(0);
        expect(acme.every((e) => e.agentId?.startsWith('acme::'))).toBe(true);
        const plain = await store.readAudit({ agentIdPrefix: '' });
        expect(plain.length).toBeGreaterThan(0);
        expect(plain.every((e) => e.agentId !== null && !e.agentId.includes('::'))).toBe(true);
        expect((await store.readAudit({ agentIdPrefix: 'acme::', limit: 1 })).length).toBe(1);
        expect((await store.listApprovals({ agentIdPrefix: 'acme::' })).map((a) => a.agentId)).toEqual(['acme::bot']);
        expect((await store.listApprovals({ agentIdPrefix: '' })).map((a) => a.agentId)).toEqual(['bot']);
      });

      it('filters by action type (any event whose data names it) and by decision (evaluations)', async () => {
        await store.recordDecision(makeAction({ actionType: 'payments.transfer', createdAt: at(1) }));
        await store.recordDecision(makeAction({ actionType: 'payments.transfer', decision: 'denied', createdAt: at(2) }));
        const { action, approval } = makePending({ actionType: 'payments.transfer', createdAt: at(3) });
        await store.recordDecision(action, { ...approval, actionType: 'payments.transfer' });
        await store.recordDecision(makeAction({ actionType: 'db.query', decision: 'denied', createdAt: at(4) }));
        await store.flush();
        const transfers = await store.readAudit({ actionType: 'payments.transfer' });
        expect(eventTypes(transfers)).toEqual(['action.evaluated', 'action.evaluated', 'action.evaluated', 'approval.requested']);
        const denied = await store.readAudit({ decision: 'denied' });
        expect(denied.map((e) => e.data.actionType)).toEqual(['payments.transfer', 'db.query']);
        const deniedTransfers = await store.readAudit({ decision: 'denied', actionType: 'payments.transfer', newestFirst: true });
        expect(deniedTransfers).toHaveLength(1);
        expect(await store.readAudit({ decision: 'pending', actionType: 'db.query' })).toEqual([]);
      });

      it('chains every event: seq 1..n, prevHash links, hash per the definition', async () => {
        await populate();
        const events = await store.readAudit();
        expect(eventTypes(events)).toEqual([
          'agent.registered',
          'action.evaluated',
          'action.completed',
          'action.evaluated',
          'approval.requested',
          'approval.approved',
          'grant.created',
          'approval.consumed',
          'action.evaluated',
          'agent.blocked',
        ]);
        let prev = GENESIS;
        events.forEach((e, i) => {
          expect(e.seq).toBe(i + 1);
          expect(e.prevHash).toBe(prev);
          expect(e.hash).toBe(expectedHash(e));
          prev = e.hash;
        });
        const verification = await store.verifyAudit();
        const counts: Record<string, number> = {};
        for (const e of events) counts[e.type] = (counts[e.type] ?? 0) + 1;
        expect(verification).toEqual({ ok: true, checked: events.length, headSeq: events.length, headHash: prev, fromSeq: 0, counts });
      });

      it('verifies an empty trail', async () => {
        expect(await store.verifyAudit()).toEqual({ ok: true, checked: 0, headSeq: 0, headHash: GENESIS, fromSeq: 0, counts: {} });
      });

      it('filters: afterSeq, newestFirst, limit, agent, action, types, since/until', async () => {
        await populate();
        const all = await store.readAudit();
        expect((await store.readAudit({ afterSeq: 8 })).map((e) => e.seq)).toEqual([9, 10]);
        expect((await store.readAudit({ newestFirst: true, limit: 3 })).map((e) => e.seq)).toEqual([10, 9, 8]);
        expect(eventTypes(await store.readAudit({ agentId: 'agent-b' }))).toEqual(['action.evaluated', 'agent.blocked']);
        const pendingActionId = all[3]?.actionId as string;
        expect(eventTypes(await store.readAudit({ actionId: pendingActionId }))).toEqual([
          'action.evaluated',
          'approval.requested',
          'approval.approved',
          'grant.created',
          'approval.consumed',
        ]);
        expect(eventTypes(await store.readAudit({ actionId: all[1]?.actionId as string }))).toEqual(['action.evaluated', 'action.completed']);
        expect((await store.readAudit({ types: ['action.evaluated'] })).map((e) => e.seq)).toEqual([2, 4, 9]);
        expect((await store.readAudit({ types: ['agent.blocked'], agentId: 'agent-b' })).map((e) => e.seq)).toEqual([10]);
        expect(await store.readAudit({ types: [] })).toEqual([]);
        expect((await store.readAudit({ since: at(4), until: at(5) })).map((e) => e.seq)).toEqual([6, 7, 8]);
        expect((await store.readAudit({ agentId: 'agent-a', newestFirst: true, limit: 2 })).map((e) => e.seq)).toEqual([8, 7]);
      });
    });

    describe('lifecycle', () => {
      it('tells watchers about its own writes at once, and stops after unsubscribe', async () => {
        let calls = 0;
        const stop = store.watch(() => calls++);
        await store.upsertAgent(agentInput, at(0));
        expect(calls).toBeGreaterThanOrEqual(1);
        const { action, approval } = makePending();
        await store.recordDecision(action, approval);
        const before = calls;
        await store.decideApproval({ approvalId: approval.approvalId, status: 'approved', decidedBy: 'a', channel: 'cli', now: at(1) });
        expect(calls).toBeGreaterThan(before);
        stop();
        const after = calls;
        await store.setAgentBlocked('agent-a', true, 'x', 'ops', at(2));
        expect(calls).toBe(after);
      });

      it('closes idempotently; later calls fail with StoreError', async () => {
        const action = makeAction();
        await store.recordDecision(action);
        await store.recordOutcome(makeOutcome(action.actionId));
        await store.flush();
        await store.close();
        await store.close();
        await expect(store.getAction(action.actionId)).rejects.toBeInstanceOf(StoreError);
        store = await open(); // afterEach closes it
      });
    });
  });
}

/** The options every store takes, as the database-wide specs open stores with them. */
export interface ContractStoreOptions extends Partial<DurabilityOptions> {
  onFlush?: (report: FlushReport) => void;
  onFlushError?: (error: StoreError) => void;
}

/** A fresh, empty database for the specs that look past one store. */
export interface ContractDatabase {
  /** Open a store on this database (each call another connection, or replica). */
  open(options?: ContractStoreOptions): Promise<Store>;
  /** Run `sql` through the store's own driver, `$S.` standing for the tables' prefix, triggers in force. */
  run(sql: string): Promise<void>;
  /** {@link run} as a tamperer who disabled the audit table's append-only triggers first. */
  tamper(sql: string): Promise<void>;
}

/**
 * Register the specs that need a whole database (tampering through the driver, a second store
 * on the same data, batched durability's group commits) for the database `fresh` makes, one per test.
 */
export function databaseContract(name: string, fresh: () => ContractDatabase): void {
  describe(`Store contract, one database: ${name}`, () => {
    let database: ContractDatabase;
    const opened: Store[] = [];
    beforeEach(() => {
      const made = fresh();
      database = { ...made, open: async (options) => remember(await made.open(options)) };
    });
    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close().catch(() => undefined);
    });
    function remember(store: Store): Store {
      opened.push(store);
      return store;
    }

    describe('audit tampering', () => {
      /** Five calls: seq 1..10, each decision followed by its outcome. */
      async function populated(): Promise<Store> {
        const store = await database.open();
        await writeSome(store, 5);
        return store;
      }

      it('refuses UPDATE and DELETE on audit_events through its triggers', async () => {
        const store = await populated();
        await expect(database.run("UPDATE $S.audit_events SET actor = 'x' WHERE seq = 1")).rejects.toThrow(/append-only/);
        await expect(database.run('DELETE FROM $S.audit_events WHERE seq = 1')).rejects.toThrow(/append-only/);
        expect(await store.verifyAudit()).toMatchObject({ ok: true, checked: 10 });
      });

      it('names the row whose data was edited', async () => {
        const store = await populated();
        await database.tamper(`UPDATE $S.audit_events SET data = replace(data, '"rows":1', '"rows":2') WHERE seq = 6`);
        const result = await store.verifyAudit();
        expect(result).toMatchObject({ ok: false, checked: 5, headSeq: 10 });
        expect(result.firstBad).toEqual({ seq: 6, reason: expect.stringMatching(/hash mismatch/) });
      });

      it('names the gap where a row was deleted', async () => {
        const store = await populated();
        await database.tamper('DELETE FROM $S.audit_events WHERE seq = 4');
        const result = await store.verifyAudit();
        expect(result.ok).toBe(false);
        expect(result.firstBad).toEqual({ seq: 5, reason: expect.stringMatching(/seq gap: expected 4, found 5/) });
      });

      it('names a row whose link to its predecessor was rewritten', async () => {
        const store = await populated();
        await database.tamper(`UPDATE $S.audit_events SET prev_hash = '${'f'.repeat(64)}' WHERE seq = 3`);
        expect((await store.verifyAudit()).firstBad).toEqual({ seq: 3, reason: expect.stringMatching(/prevHash mismatch/) });
      });

      it('accepts data re-spelled without changing its meaning (the hash covers canonical JSON)', async () => {
        const store = await populated();
        const [second] = await store.readAudit({ afterSeq: 1, limit: 1 });
        const respelled = JSON.stringify(second?.data, null, 2);
        expect(respelled).toContain('\n  ');
        await database.tamper(`UPDATE $S.audit_events SET data = '${respelled.replaceAll("'", "''")}' WHERE seq = 2`);
        expect(await store.verifyAudit()).toMatchObject({ ok: true, checked: 10 });
      });
    });

    describe('batched durability', () => {
      /** A batched store that flushes only when made to (or at its size limits), and what it reported. */
      async function batched(options: ContractStoreOptions = {}): Promise<{ store: Store; reports: FlushReport[] }> {
        const reports: FlushReport[] = [];
        const store = await database.open({ durability: 'batched', flushIntervalMs: 10_000, maxBatchSize: 100, onFlush: (r) => reports.push(r), ...options });
        return { store, reports };
      }

      it('queues allowed decisions and outcomes: visible to this store at once, to others after the flush, reported by onFlush', async () => {
        const { store, reports } = await batched();
        const other = await database.open();
        const action = makeAction();
        await store.recordDecision(action);
        await store.recordOutcome(makeOutcome(action.actionId));
        expect(await store.getAction(action.actionId)).toEqual(action);
        expect(await store.getOutcome(action.actionId)).toEqual(makeOutcome(action.actionId));
        expect(await other.getAction(action.actionId)).toBeUndefined();
        await store.flush();
        expect(await other.getAction(action.actionId)).toEqual(action);
        expect(await other.getOutcome(action.actionId)).toEqual(makeOutcome(action.actionId));
        expect(reports).toEqual([{ actionIds: [action.actionId], outcomeActionIds: [action.actionId], firstSeq: 1, lastSeq: 2 }]);
      });

      it('flushes on its timer', async () => {
        const { store, reports } = await batched({ flushIntervalMs: 5 });
        const other = await database.open();
        const action = makeAction();
        await store.recordDecision(action);
        await store.recordOutcome(makeOutcome(action.actionId));
        await eventually(async () => reports.length > 0 && (await other.getOutcome(action.actionId)) !== undefined, 10_000, 2);
        expect(await other.getAction(action.actionId)).toEqual(action);
      });

      it('commits a pending decision at once, after the queue, in order', async () => {
        const { store, reports } = await batched();
        const other = await database.open();
        const allowed = makeAction({ createdAt: at(0) });
        await store.recordDecision(allowed);
        const { action, approval } = makePending({ createdAt: at(1) });
        await store.recordDecision(action, approval);
        // Another process (the CLI) can see and approve it right away.
        expect((await other.listApprovals({ status: 'pending' })).map((a) => a.approvalId)).toEqual([approval.approvalId]);
        expect(reports).toHaveLength(1);
        const events = await other.readAudit();
        expect(events.map((e) => [e.type, e.actionId])).toEqual([
          ['action.evaluated', allowed.actionId],
          ['action.evaluated', action.actionId],
          ['approval.requested', action.actionId],
        ]);
      });

      it('drops (and reports) a queued decision another store recorded first, keeping the rest', async () => {
        const errors: StoreError[] = [];
        const { store, reports } = await batched({ onFlushError: (e) => errors.push(e) });
        const other = await database.open();
        const action = makeAction();
        await store.recordDecision(action);
        // Another process records the same action id first: the queued copy can never commit.
        await other.recordDecision(action);
        const fine = makeAction();
        await store.recordDecision(fine);
        await store.flush();
        expect(errors).toHaveLength(1);
        expect(errors[0]?.message).toContain(action.actionId);
        expect(reports.flatMap((r) => r.actionIds)).toEqual([fine.actionId]);
        expect(await other.getAction(fine.actionId)).toBeDefined();
        expect((await other.verifyAudit()).ok).toBe(true);
      });

      it('drops (and reports) a queued outcome another store recorded first, keeping the rest', async () => {
        const errors: StoreError[] = [];
        const { store } = await batched({ onFlushError: (e) => errors.push(e) });
        const other = await database.open();
        const action = makeAction();
        await other.recordDecision(action);
        const kept = makeAction();
        await store.recordDecision(kept);
        await store.recordOutcome(makeOutcome(action.actionId)); // read from the database: queued
        await other.recordOutcome(makeOutcome(action.actionId, { status: 'failed', error: 'first' })); // another store got there first
        const later = makeAction();
        await store.recordDecision(later);
        await store.flush();
        expect(errors).toHaveLength(1);
        expect(errors[0]?.message).toMatch(/dropped queued writes.*outcome of action .*already has an outcome/);
        expect(await other.getAction(kept.actionId)).toEqual(kept);
        expect(await other.getAction(later.actionId)).toEqual(later);
        expect((await other.getOutcome(action.actionId))?.status).toBe('failed');
        expect(await other.verifyAudit()).toMatchObject({ ok: true, checked: 4 });
      });

      it(`flushes inside the call when a caller that never yields has queued ${HARD_LIMIT_FACTOR}× maxBatchSize (back-pressure)`, async () => {
        const { store, reports } = await batched({ maxBatchSize: 2 });
        const ids = await writeSome(store, HARD_LIMIT_FACTOR + 1); // 2 × (factor + 1) writes
        expect(reports).toHaveLength(1);
        expect(reports[0]?.lastSeq).toBe(2 * HARD_LIMIT_FACTOR);
        expect(reports[0]?.actionIds).toEqual(ids.slice(0, HARD_LIMIT_FACTOR));
        await store.close();
        expect(reports.flatMap((r) => r.actionIds)).toEqual(ids);
      });

      it(`flushes once callers that never yield, all at once, have queued ${HARD_LIMIT_FACTOR}× maxBatchSize (back-pressure)`, async () => {
        const maxBatchSize = 4;
        const { store, reports } = await batched({ maxBatchSize });
        const writes: Promise<void>[] = [];
        for (let i = 0; i < maxBatchSize * HARD_LIMIT_FACTOR; i++) writes.push(store.recordDecision(makeAction()));
        await Promise.all(writes);
        expect(reports.reduce((n, r) => n + r.actionIds.length, 0)).toBe(maxBatchSize * HARD_LIMIT_FACTOR);
        expect(await store.verifyAudit()).toMatchObject({ ok: true, checked: maxBatchSize * HARD_LIMIT_FACTOR });
      });
    });
  });
}
