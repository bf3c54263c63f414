/**
 * Agents and actions: register, evaluate (idempotent), complete, fail, read, and the upload of
 * records a client spooled in fail-open mode.
 */
import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../../errors.js';
import type { EvaluationRequest } from '../../transport/transport.js';
import type { ActionRecord, DecisionResult } from '../../types.js';
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
} from '../../wire.js';
import { ROLES } from '../api-keys.js';
import type { RouteContext, Router } from '../router.js';

const ActionParams = z.object({ actionId: z.string().min(1).max(256) });
/** A client-chosen action id: long and random enough that two clients never pick the same. */
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_-]{16,128}$/;

/** Evaluations in flight by `org|key`: a retry that arrives while the first is still deciding joins it. */
const inFlight = new Map<string, Promise<DecisionResult>>();

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
      return ctx.scope.transport.register(ctx.body);
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
      const decision = await evaluate(ctx);
      await durable(ctx.scope.store); // acknowledged means committed
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
        await ctx.scope.transport.recordOutcome(outcome);
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
        if (a.decision !== 'allowed' || !a.conditions.includes('fail_open_mode') || a.approvalId !== undefined) {
          throw new ValidationError('Only fail-open decisions can be uploaded: decision "allowed", conditions including "fail_open_mode", no approvalId', [
            { path: 'body.action', message: 'not a fail-open decision' },
          ]);
        }
      } else {
        const action = await ctx.scope.store.getAction(entry.outcome.actionId);
        if (!action) throw new NotFoundError('action', entry.outcome.actionId);
        if (!(await mayHaveRun(ctx.scope.store, action))) {
          throw new ConflictError(`Action "${action.actionId}" was ${action.decision} and not approved, so it cannot have an outcome`, { actionId: action.actionId });
        }
      }
      await ctx.scope.transport.uploadFailOpen(entry);
      await durable(ctx.scope.store);
      return { uploaded: true };
    },
  });
}

type EvaluateContext = RouteContext<undefined, undefined, z.output<typeof EvaluateRequestSchema>>;

async function evaluate(ctx: EvaluateContext): Promise<DecisionResult> {
  const body = ctx.body;
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
  if (key === undefined) return ctx.scope.transport.evaluate(request);

  request.actionId = key;
  const slot = `${ctx.scope.org}|${key}`;
  const running = inFlight.get(slot);
  if (running) return running;
  const promise = decideOnce(ctx, request, key);
  inFlight.set(slot, promise);
  try {
    return await promise;
  } finally {
    inFlight.delete(slot);
  }
}

async function decideOnce(ctx: EvaluateContext, request: EvaluationRequest, key: string): Promise<DecisionResult> {
  try {
    const decision = await ctx.scope.transport.evaluate(request);
    if (decision.agentId !== request.agentId || decision.actionType !== request.actionType) throw keyReused(key);
    return decision;
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    // Another replica recorded this key first (it answers the same), or the key names an
    // action this organisation cannot see.
    const recorded = await ctx.scope.store.getAction(key);
    if (!recorded || recorded.agentId !== request.agentId || recorded.actionType !== request.actionType) throw keyReused(key);
    return ctx.scope.transport.evaluate(request);
  }
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

function keyReused(key: string): ConflictError {
  return new ConflictError(`Idempotency-Key "${key}" was already used for a different request`, { idempotencyKey: key });
}
