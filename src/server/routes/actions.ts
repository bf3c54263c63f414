/**
 * Agents and actions: register, evaluate (idempotent), complete, fail, read, and the upload of
 * records a client spooled in fail-open mode.
 */
import * as z from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../../core/errors.js';
import type { EvaluationRequest } from '../../decision/request.js';
import { decisionFromRecord } from '../../decision/recorded.js';
import { idempotencyKeyReused, isSameCall } from '../../decision/same-call.js';
import type { ActionRecord, DecisionResult } from '../../core/types.js';
import type { TenantStore } from '../tenant-store.js';
import type { ServerMetrics } from '../metrics.js';
import {
  ActionWithOutcomeSchema,
  AgentRecordSchema,
  CompleteRequestSchema,
  DecisionResultSchema,
  OutcomeResponseSchema,
  EvaluateRequestSchema,
  FailRequestSchema,
  RegisterRequestSchema,
  SpoolEntrySchema,
} from '../../core/wire.js';
import { requireActAs } from '../agent-binding.js';
import { ROLES } from '../api-keys.js';
import type { OrgScope, RouteContext, Router } from '../router.js';

const ActionParams = z.object({ actionId: z.string().min(1).max(256) });
/** A client-chosen action id: long and random enough that two clients never pick the same. */
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_-]{16,128}$/;

export function actionRoutes(router: Router, metrics: ServerMetrics): void {
  router.add({
    method: 'POST',
    url: '/v1/agents',
    summary: 'Register (or update) an agent: what it may do and touch',
    roles: ROLES.agent,
    what: 'register agents',
    body: RegisterRequestSchema,
    response: AgentRecordSchema,
    async handler(ctx) {
      requireActAs(ctx.caller.key, ctx.body.agentId);
      return ctx.scope.decisionPoint.register(ctx.body);
    },
  });

  router.add({
    method: 'POST',
    url: '/v1/actions/evaluate',
    summary: 'Decide one call (allowed, denied or pending) and record the decision. Send an Idempotency-Key: a retry then answers the first decision',
    roles: ROLES.agent,
    what: 'evaluate actions',
    body: EvaluateRequestSchema,
    response: DecisionResultSchema,
    async handler(ctx) {
      const decision = await evaluate(ctx); // answered once committed
      metrics.decision(decision.decision, decision.conditions);
      return decision;
    },
  });

  router.add({
    method: 'GET',
    url: '/v1/actions/:actionId',
    summary: 'An action, its decision and its outcome',
    roles: ROLES.reader,
    what: 'read actions',
    params: ActionParams,
    response: ActionWithOutcomeSchema,
    async handler(ctx) {
      const { actionId } = ctx.params;
      const action = await ctx.scope.store.getAction(actionId);
      if (!action) throw new NotFoundError('action', actionId);
      requireActAs(ctx.caller.key, action.agentId);
      const outcome = await ctx.scope.store.getOutcome(actionId);
      return outcome ? { action, outcome } : { action };
    },
  });

  const outcomeRoute = <B extends typeof CompleteRequestSchema | typeof FailRequestSchema>(status: 'completed' | 'failed', schema: B): void => {
    router.add({
      method: 'POST',
      url: status === 'completed' ? '/v1/actions/:actionId/complete' : '/v1/actions/:actionId/fail',
      summary: status === 'completed' ? 'Record that an allowed action completed' : 'Record that an allowed action failed',
      roles: ROLES.agent,
      what: 'record outcomes',
      params: ActionParams,
      body: schema,
      response: OutcomeResponseSchema,
      async handler(ctx) {
        const { actionId } = ctx.params;
        const body: z.output<typeof CompleteRequestSchema> | z.output<typeof FailRequestSchema> = ctx.body;
        const action = await ctx.scope.store.getAction(actionId);
        if (!action) throw new NotFoundError('action', actionId);
        requireActAs(ctx.caller.key, action.agentId);
        if (!(await mayHaveRun(ctx.scope.store, action))) {
          throw new ConflictError(`Action "${actionId}" was ${action.decision} and not approved, so it cannot have run`, { actionId, decision: action.decision });
        }
        const existing = await ctx.scope.store.getOutcome(actionId);
        // A retried request finds its outcome recorded: same answer, nothing recorded twice.
        if (existing) {
          if (existing.status === status) return { recorded: false, outcome: existing };
          throw new ConflictError(`Action "${actionId}" already ${existing.status}`, { actionId });
        }
        const outcome = {
          actionId,
          status,
          durationMs: body.durationMs,
          recordedAt: body.recordedAt ?? new Date().toISOString(),
          ...('error' in body ? { error: body.error } : {}),
          ...('result' in body && body.result !== undefined ? { result: body.result } : {}),
        };
        await ctx.scope.decisionPoint.recordOutcome(outcome);
        await durable(ctx.scope.store);
        return { recorded: true, outcome };
      },
    });
  };
  outcomeRoute('completed', CompleteRequestSchema);
  outcomeRoute('failed', FailRequestSchema);

  router.add({
    method: 'POST',
    url: '/v1/actions/upload',
    summary: 'Upload a record a client spooled in fail-open mode (idempotent)',
    roles: ROLES.agent,
    what: 'upload fail-open records',
    body: SpoolEntrySchema,
    response: z.object({ uploaded: z.boolean() }),
    async handler(ctx) {
      const entry = ctx.body;
      // Only what fail-open mode writes: an allowed call marked fail_open_mode, never approved, or
      // the outcome of an action that may have run. Anything else would be a forged history.
      if (entry.kind === 'decision') {
        const a = entry.action;
        requireActAs(ctx.caller.key, a.agentId);
        if (a.decision !== 'allowed' || !a.conditions.includes('fail_open_mode') || a.approvalId !== undefined) {
          throw new ValidationError('Only fail-open decisions can be uploaded: decision "allowed", conditions including "fail_open_mode", no approvalId', [
            { path: 'body.action', message: 'not a fail-open decision' },
          ]);
        }
      } else {
        const action = await ctx.scope.store.getAction(entry.outcome.actionId);
        if (!action) throw new NotFoundError('action', entry.outcome.actionId);
        requireActAs(ctx.caller.key, action.agentId);
        if (!(await mayHaveRun(ctx.scope.store, action))) {
          throw new ConflictError(`Action "${action.actionId}" was ${action.decision} and not approved, so it cannot have an outcome`, { actionId: action.actionId });
        }
      }
      await ctx.scope.decisionPoint.uploadFailOpen(entry);
      await durable(ctx.scope.store);
      return { uploaded: true };
    },
  });
}

type EvaluateContext = RouteContext<undefined, undefined, z.output<typeof EvaluateRequestSchema>>;

/** An evaluation in flight under an idempotency key: the call, and its committed answer. */
interface KeyedEvaluation {
  request: EvaluationRequest;
  answer: Promise<DecisionResult>;
}

/**
 * Evaluations in flight by `org|key`. A retry of the same call that arrives while the first is
 * still deciding joins it; another call under that key is refused at once (it must never get
 * the first call's answer).
 */
const inFlight = new Map<string, KeyedEvaluation>();

/** Decide, record and commit one call; with an Idempotency-Key, once per key and only for one call. */
async function evaluate(ctx: EvaluateContext): Promise<DecisionResult> {
  const body = ctx.body;
  requireActAs(ctx.caller.key, body.agentId);
  const key = ctx.header('idempotency-key');
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    throw new ValidationError('Idempotency-Key must be 16–128 characters of A–Z, a–z, 0–9, "_" or "-" (a UUID without braces works)', [
      { path: 'headers.idempotency-key', message: 'must match [A-Za-z0-9_-]{16,128}' },
    ]);
  }
  const request: EvaluationRequest = {
    agentId: body.agentId,
    actionType: body.actionType,
    resource: body.resource,
    parameters: body.parameters,
    redactedParameters: body.parameters,
    digest: body.digest,
    context: body.context,
    requireHumanApproval: body.requireHumanApproval,
  };
  if (body.editOf !== undefined) request.editOf = body.editOf;
  if (key === undefined) {
    const decision = await ctx.scope.decisionPoint.evaluate(request);
    await durable(ctx.scope.store); // acknowledged means committed
    return decision;
  }

  request.actionId = key;
  const slot = `${ctx.scope.org}|${key}`;
  const running = inFlight.get(slot);
  if (running) {
    if (!isSameCall(running.request, request)) throw idempotencyKeyReused(key);
    return running.answer;
  }
  const answer = decideOnce(ctx.scope, request, key);
  inFlight.set(slot, { request, answer });
  try {
    return await answer;
  } finally {
    inFlight.delete(slot);
  }
}

/**
 * One keyed evaluation, answered once committed. The transport answers a key already recorded
 * (same call: its decision; another call: ConflictError), also when another replica records it
 * between its read and its write. One window is left: an allowed decision waits in this
 * replica's group commit while another replica commits another call under the same key, and
 * the commit then drops ours as a duplicate. So a decision that went through the group commit
 * is read back: the call recorded under the key is the one answered.
 */
async function decideOnce(scope: OrgScope, request: EvaluationRequest, key: string): Promise<DecisionResult> {
  const decision = await scope.decisionPoint.evaluate(request);
  await durable(scope.store);
  if (!mayHaveBeenQueued(decision)) return decision;
  const recorded = await scope.store.getAction(key);
  if (!recorded) throw new ConflictError(`The decision under Idempotency key "${key}" was not recorded; send the call again`, { idempotencyKey: key });
  if (recorded.createdAt === decision.decidedAt && recorded.decision === decision.decision && recorded.digest === request.digest) return decision;
  if (!isSameCall(recorded, { ...request, parameters: request.redactedParameters })) throw idempotencyKeyReused(key);
  // The same call, decided by another replica first: its record is the answer.
  return decisionFromRecord(recorded, recorded.approvalId === undefined ? undefined : await scope.store.getApproval(recorded.approvalId));
}

/** Whether the store may have queued this decision for a group commit (allowed with no approval spent). */
function mayHaveBeenQueued(decision: DecisionResult): boolean {
  return decision.decision === 'allowed' && decision.approvalRequestId === undefined;
}

/**
 * Wait until this request's write is committed, in the group commit on the next turn of the
 * event loop, shared with every request that wrote in this turn. (Committing at once when no
 * other request is in flight was measured: it halves throughput under load, because each turn's
 * first request then commits alone, and it does not help a lone caller.)
 */
function durable(store: TenantStore): Promise<void> {
  return store.whenDurable();
}

/** Allowed, or pending and then approved and spent on this call. */
async function mayHaveRun(store: TenantStore, action: ActionRecord): Promise<boolean> {
  if (action.decision === 'allowed') return true;
  if (action.decision !== 'pending' || action.approvalId === undefined) return false;
  const approval = await store.getApproval(action.approvalId);
  return approval?.status === 'approved' && approval.consumedAt !== undefined;
}
