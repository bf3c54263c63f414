/**
 * Approvals over HTTP: list, read, a bounded long-poll wait, approve / reject (never with an
 * agent key), and the agent's own expire and consume — digest-bound and single use, as embedded.
 */
import * as z from 'zod';
import { NotFoundError, ValidationError } from '../../core/errors.js';
import type { Store } from '../../store/store.js';
import type { ApiKeyRecord, ApprovalRecord } from '../../core/types.js';
import type { ArgumentEdit } from '../../core/argument-edits.js';
import { ApprovalRecordSchema, ApprovalVerdictRequestSchema, ConsumeRequestSchema, ConsumeResponseSchema, WireAgentId } from '../../core/wire.js';
import { mayActAs, requireActAs } from '../agent-binding.js';
import { ROLES } from '../api-keys.js';
import type { Router } from '../router.js';
import type { TenantStore } from '../tenant-store.js';

const ApprovalParams = z.object({ approvalId: z.string().min(1).max(256) });
const ListQuery = z.object({
  status: z.enum(['pending', 'approved', 'rejected', 'expired']).optional(),
  agentId: z.optional(WireAgentId),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** Options of the approval routes. */
export interface ApprovalRouteOptions {
  /** Longest a wait request is held before it answers "still pending". */
  longPollMaxMs: number;
  /** Change notifications of the shared store (own writes at once, other processes polled). */
  watch: Store['watch'];
}

export function approvalRoutes(router: Router, options: ApprovalRouteOptions): void {
  router.add({
    method: 'GET',
    url: '/v1/approvals',
    summary: 'Approval requests, newest first',
    roles: ROLES.reader,
    what: 'list approvals',
    query: ListQuery,
    response: z.object({ approvals: z.array(ApprovalRecordSchema) }),
    async handler(ctx) {
      const { status, agentId, limit } = ctx.query;
      if (agentId) requireActAs(ctx.caller.key, agentId);
      const approvals = await ctx.scope.store.listApprovals({ limit, ...(status ? { status } : {}), ...(agentId ? { agentId } : {}) });
      // A key bound to agents sees their requests only.
      return { approvals: ctx.caller.key.agentIds ? approvals.filter((a) => mayActAs(ctx.caller.key, a.agentId)) : approvals };
    },
  });

  router.add({
    method: 'GET',
    url: '/v1/approvals/:approvalId',
    summary: 'One approval request',
    roles: ROLES.reader,
    what: 'read approvals',
    params: ApprovalParams,
    response: ApprovalRecordSchema,
    async handler(ctx) {
      return requireActAsAgentOf(ctx.caller.key, await mustGet(ctx.scope.store, ctx.params.approvalId));
    },
  });

  router.add({
    method: 'GET',
    url: '/v1/approvals/:approvalId/wait',
    summary: `Long-poll: answers once the request is decided, or as it stands after timeoutMs (at most ${options.longPollMaxMs}); ask again until your own deadline`,
    roles: ROLES.reader,
    what: 'wait for approvals',
    params: ApprovalParams,
    // Longer waits are shortened, not refused: the client asks again until its own deadline.
    query: z.object({ timeoutMs: z.coerce.number().int().min(0).default(options.longPollMaxMs).transform((ms) => Math.min(ms, options.longPollMaxMs)) }),
    response: ApprovalRecordSchema,
    async handler(ctx) {
      requireActAsAgentOf(ctx.caller.key, await mustGet(ctx.scope.store, ctx.params.approvalId));
      return waitUntilDecided(ctx.scope.store, ctx.params.approvalId, ctx.query.timeoutMs, options.watch, ctx.signal);
    },
  });

  for (const status of ['approved', 'rejected'] as const) {
    router.add({
      method: 'POST',
      url: status === 'approved' ? '/v1/approvals/:approvalId/approve' : '/v1/approvals/:approvalId/reject',
      summary:
        status === 'approved'
          ? 'Approve a pending request (approver or admin key; recorded with channel "api", or "dashboard" for a signed-in person, and a `channel` sent as the claimed channel); with grantMinutes also grant this agent + action for a while'
          : 'Reject a pending request (approver or admin key; channel recorded as for approve)',
      roles: ROLES.approver,
      what: status === 'approved' ? 'approve' : 'reject',
      params: ApprovalParams,
      body: ApprovalVerdictRequestSchema,
      response: ApprovalRecordSchema,
      async handler(ctx) {
        const body = ctx.body;
        if (!ctx.caller.session && body.channel === 'dashboard') {
          throw new ValidationError('channel "dashboard" is recorded for people signed in to the dashboard; a program answering with a key says "api" (or "cli", "callback", …)', [
            { path: 'body.channel', message: 'only a dashboard session answers through the dashboard' },
          ]);
        }
        // The channel is what the server can vouch for: a person signed in to the dashboard, or a
        // program with a key (`api`). A program's own word for how it got the answer (the CLI,
        // an app's callback, an MCP elicitation) is kept beside it as `claimedChannel`.
        const channel = ctx.caller.session ? 'dashboard' : 'api';
        const claimed = ctx.caller.session ? undefined : body.channel;
        return ctx.scope.decisionPoint.decideApproval({
          approvalId: ctx.params.approvalId,
          status,
          // Who answered is recorded as the key that did; a name the caller gives is kept beside it.
          decidedBy: body.decidedBy && body.decidedBy !== ctx.caller.key.name ? `${body.decidedBy} (key ${ctx.caller.key.name})` : ctx.caller.key.name,
          channel,
          ...(claimed !== undefined && claimed !== channel ? { claimedChannel: claimed } : {}),
          ...(body.comment !== undefined ? { comment: body.comment } : {}),
          ...(status === 'approved' && body.grantMinutes !== undefined ? { grantMinutes: body.grantMinutes } : {}),
          ...(body.edits !== undefined ? { edits: body.edits as ArgumentEdit[] } : {}),
        });
      },
    });
  }

  router.add({
    method: 'POST',
    url: '/v1/approvals/:approvalId/expire',
    summary: "Expire a request still pending (the agent's wait timed out); answers the request as it now stands",
    roles: ROLES.agent,
    what: 'expire approvals',
    params: ApprovalParams,
    response: ApprovalRecordSchema,
    async handler(ctx) {
      requireActAsAgentOf(ctx.caller.key, await mustGet(ctx.scope.store, ctx.params.approvalId));
      return ctx.scope.decisionPoint.expireApproval(ctx.params.approvalId);
    },
  });

  router.add({
    method: 'POST',
    url: '/v1/approvals/:approvalId/consume',
    summary: 'Spend an approved request on the call with this digest, once',
    roles: ROLES.agent,
    what: 'spend approvals',
    params: ApprovalParams,
    body: ConsumeRequestSchema,
    response: ConsumeResponseSchema,
    async handler(ctx) {
      requireActAsAgentOf(ctx.caller.key, await mustGet(ctx.scope.store, ctx.params.approvalId));
      return { consumed: await ctx.scope.decisionPoint.consumeApproval(ctx.params.approvalId, ctx.body.digest) };
    },
  });
}

/** The approval, once `key` may act as its agent (AuthorizationError otherwise). */
function requireActAsAgentOf(key: ApiKeyRecord, approval: ApprovalRecord): ApprovalRecord {
  requireActAs(key, approval.agentId);
  return approval;
}

async function mustGet(store: TenantStore, approvalId: string): Promise<ApprovalRecord> {
  const approval = await store.getApproval(approvalId);
  if (!approval) throw new NotFoundError('approval', approvalId);
  return approval;
}

/** Answer once the approval is decided (or expired), or as it stands after `timeoutMs`. */
async function waitUntilDecided(
  store: TenantStore,
  approvalId: string,
  timeoutMs: number,
  watch: Store['watch'],
  signal: AbortSignal,
): Promise<ApprovalRecord> {
  const deadline = Date.now() + timeoutMs;
  let wake: (() => void) | undefined;
  const unwatch = watch(() => wake?.());
  try {
    for (;;) {
      const approval = await mustGet(store, approvalId);
      const remaining = deadline - Date.now();
      if (approval.status !== 'pending' || remaining <= 0 || signal.aborted) return approval;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          wake = undefined;
          resolve();
        };
        // Re-read at least every second: a safety net under the change notifications.
        const timer = setTimeout(done, Math.min(remaining, 1000));
        signal.addEventListener('abort', done, { once: true });
        wake = done;
      });
    }
  } finally {
    unwatch();
  }
}
