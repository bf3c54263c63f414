/**
 * Operators' routes: agents and the kill switch, grants, and the audit trail.
 */
import * as z from 'zod';
import { NotFoundError } from '../../core/errors.js';
import type { AuditQuery } from '../../store/store.js';
import type { AuditCheckpoint, AuditEventType } from '../../core/types.js';
import { AgentRecordSchema, AuditEventSchema, TrailVerificationRequestSchema, TrailVerificationSchema, BlockRequestSchema, GrantRecordSchema, WireAgentId } from '../../core/wire.js';
import { mayActAs, requireActAs } from '../agent-binding.js';
import { ROLES } from '../api-keys.js';
import type { Router } from '../router.js';

const AgentParams = z.object({ agentId: WireAgentId });
const GrantParams = z.object({ grantId: z.string().min(1).max(256) });
const GrantsQuery = z.object({
  agentId: z.optional(WireAgentId),
  active: z.enum(['true', 'false']).optional(),
});
const AUDIT_TYPES = [
  'agent.registered', 'agent.blocked', 'agent.unblocked', 'action.evaluated', 'action.completed', 'action.failed',
  'approval.requested', 'approval.approved', 'approval.rejected', 'approval.expired', 'approval.consumed',
  'grant.created', 'grant.revoked', 'key.created', 'key.revoked', 'policy.changed', 'audit.checkpoint', 'audit.checkpoint_key', 'audit.archived',
] as const satisfies readonly AuditEventType[];
const AuditQuerySchema = z.object({
  afterSeq: z.coerce.number().int().min(0).optional(),
  /** Only events older than this seq (the next page of a newest-first listing). */
  beforeSeq: z.coerce.number().int().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(500),
  agentId: z.optional(WireAgentId),
  actionId: z.string().min(1).max(256).optional(),
  /** Events whose data names this action type (evaluations, approvals, grants). */
  actionType: z.string().min(1).max(256).optional(),
  /** Evaluations with this decision. */
  decision: z.enum(['allowed', 'denied', 'pending']).optional(),
  type: z.union([z.enum(AUDIT_TYPES), z.array(z.enum(AUDIT_TYPES))]).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  /** `desc`: newest first (for a tail). */
  order: z.enum(['asc', 'desc']).default('asc'),
});

/** How long one verification of the chain answers {@link chainStatus} callers. */
const CHAIN_STATUS_TTL_MS = 10_000;

export function adminRoutes(router: Router): void {
  // One verification at a time, shared by every caller for a few seconds: a full scan of the
  // chain is not something each page view should start.
  let status: { ok: boolean; checkedAt: string; atMs: number } | undefined;
  let verifying: Promise<{ ok: boolean; checkedAt: string; atMs: number }> | undefined;
  const chainStatus = (verify: () => Promise<{ ok: boolean }>): Promise<{ ok: boolean; checkedAt: string; atMs: number }> => {
    if (status && Date.now() - status.atMs < CHAIN_STATUS_TTL_MS) return Promise.resolve(status);
    verifying ??= verify()
      .then((result) => (status = { ok: result.ok, checkedAt: new Date().toISOString(), atMs: Date.now() }))
      .finally(() => (verifying = undefined));
    return verifying;
  };

  router.add({
    method: 'GET',
    url: '/v1/agents',
    summary: "The organisation's registered agents",
    roles: ROLES.reader,
    what: 'list agents',
    response: z.object({ agents: z.array(AgentRecordSchema) }),
    async handler(ctx) {
      const all = await ctx.scope.store.listAgents();
      const agents = ctx.caller.key.agentIds ? all.filter((a) => mayActAs(ctx.caller.key, a.agentId)) : all;
      const budgets = await ctx.scope.decisionPoint.agentBudgets(agents.map((a) => a.agentId));
      return { agents: agents.map((a) => ({ ...a, budgets: budgets.get(a.agentId) ?? [] })) };
    },
  });

  router.add({
    method: 'GET',
    url: '/v1/agents/:agentId',
    summary: 'One agent',
    roles: ROLES.reader,
    what: 'read agents',
    params: AgentParams,
    response: AgentRecordSchema,
    async handler(ctx) {
      requireActAs(ctx.caller.key, ctx.params.agentId);
      const agent = await ctx.scope.store.getAgent(ctx.params.agentId);
      if (!agent) throw new NotFoundError('agent', ctx.params.agentId);
      const budgets = await ctx.scope.decisionPoint.agentBudgets([agent.agentId]);
      return { ...agent, budgets: budgets.get(agent.agentId) ?? [] };
    },
  });

  for (const blocked of [true, false]) {
    router.add({
      method: 'POST',
      url: blocked ? '/v1/agents/:agentId/block' : '/v1/agents/:agentId/unblock',
      summary: blocked ? "Kill switch: deny the agent's every call from its next one" : 'Lift a block',
      roles: ROLES.admin,
      what: blocked ? 'block agents' : 'unblock agents',
      params: AgentParams,
      body: BlockRequestSchema,
      response: AgentRecordSchema,
      async handler(ctx) {
        const reason = blocked ? (ctx.body.reason ?? 'blocked through the API') : '';
        return ctx.scope.store.setAgentBlocked(ctx.params.agentId, blocked, reason, ctx.caller.key.name, new Date().toISOString());
      },
    });
  }

  router.add({
    method: 'GET',
    url: '/v1/grants',
    summary: 'Grants (approve once for N minutes), newest first; active=true for those in force',
    roles: ROLES.reader,
    what: 'list grants',
    query: GrantsQuery,
    response: z.object({ grants: z.array(GrantRecordSchema) }),
    async handler(ctx) {
      const { agentId, active } = ctx.query;
      if (agentId !== undefined) requireActAs(ctx.caller.key, agentId);
      const grants = await ctx.scope.store.listGrants({
        ...(agentId !== undefined ? { agentId } : {}),
        ...(active === 'true' ? { activeAt: new Date().toISOString() } : {}),
      });
      return { grants: ctx.caller.key.agentIds ? grants.filter((g) => mayActAs(ctx.caller.key, g.agentId)) : grants };
    },
  });

  router.add({
    method: 'DELETE',
    url: '/v1/grants/:grantId',
    summary: 'Revoke a grant',
    roles: ROLES.approver,
    what: 'revoke grants',
    params: GrantParams,
    response: GrantRecordSchema,
    async handler(ctx) {
      return ctx.scope.store.revokeGrant(ctx.params.grantId, ctx.caller.key.name, new Date().toISOString());
    },
  });

  router.add({
    method: 'GET',
    url: '/v1/audit',
    summary: "The organisation's audit events, oldest first (order=desc: newest first); page with afterSeq = the last seq you got (nextAfterSeq)",
    roles: ROLES.approver,
    what: 'read the audit trail',
    query: AuditQuerySchema,
    response: z.object({ events: z.array(AuditEventSchema), nextAfterSeq: z.number() }),
    async handler(ctx) {
      const q = ctx.query;
      const query: AuditQuery = { limit: q.limit };
      if (q.afterSeq !== undefined) query.afterSeq = q.afterSeq;
      if (q.beforeSeq !== undefined) query.beforeSeq = q.beforeSeq;
      if (q.agentId !== undefined) query.agentId = q.agentId;
      if (q.actionId !== undefined) query.actionId = q.actionId;
      if (q.actionType !== undefined) query.actionType = q.actionType;
      if (q.decision !== undefined) query.decision = q.decision;
      if (q.type !== undefined) query.types = Array.isArray(q.type) ? q.type : [q.type];
      if (q.since !== undefined) query.since = q.since;
      if (q.until !== undefined) query.until = q.until;
      if (q.order === 'desc') query.newestFirst = true;
      const events = await ctx.scope.store.readAudit(query);
      const last = q.order === 'desc' ? events[0] : events[events.length - 1];
      return { events, nextAfterSeq: last ? last.seq : (q.afterSeq ?? 0) };
    },
  });

  router.add({
    method: 'GET',
    url: '/v1/audit/status',
    summary: `Whether the audit hash chain verifies (checked at most every ${CHAIN_STATUS_TTL_MS / 1000} s; details from /v1/audit/verify, admins)`,
    roles: ROLES.approver,
    what: 'read the audit chain status',
    response: z.object({ ok: z.boolean(), checkedAt: z.string() }),
    async handler(ctx) {
      const { ok, checkedAt } = await chainStatus(() => ctx.scope.store.verifyTrail());
      return { ok, checkedAt };
    },
  });

  router.add({
    method: 'GET',
    url: '/v1/audit/verify',
    summary: 'Recompute the hash chain from the newest trusted checkpoint (?full=true: from the first event); names the first bad row',
    roles: ROLES.admin,
    what: 'verify the audit trail',
    query: z.object({ full: z.enum(['true', 'false']).optional() }),
    response: TrailVerificationSchema,
    async handler(ctx) {
      return ctx.scope.store.verifyTrail({ full: ctx.query.full === 'true' });
    },
  });

  router.add({
    method: 'POST',
    url: '/v1/audit/verify',
    summary: 'Verify the hash chain against checkpoints kept outside the database, trusting the public keys given besides the registered ones',
    roles: ROLES.admin,
    what: 'verify the audit trail',
    body: TrailVerificationRequestSchema,
    response: TrailVerificationSchema,
    async handler(ctx) {
      const body = ctx.body;
      return ctx.scope.store.verifyTrail({
        full: body.full === true,
        against: (body.against ?? []).map((a) => ({ source: a.source, checkpoint: a.checkpoint as AuditCheckpoint })),
        publicKeys: body.publicKeys ?? [],
      });
    },
  });
}
