/**
 * `GET /v1/policy`: the policy in force (its version and labels) and the last change of its file
 * that did not load; `GET /v1/policy/history`: the switches (`policy.changed`), newest first —
 * for operators, the dashboard and scripts checking a rollout. The policy is the server's, the
 * same for every organisation: every key reads the status; its history, its text and pushing it
 * are the operators' (the default organisation's keys). `POST /v1/policy/replay` replays the
 * caller's organisation's history against a candidate.
 */
import * as z from 'zod';
import { parsePolicy, type CompiledPolicy } from '../../engine/index.js';
import { AuthorizationError, NotFoundError, PolicyError, ValidationError } from '../../core/errors.js';
import type { Store } from '../../store/store.js';
import { pushRecords } from '../../policy/changes.js';
import type { ReplayOptions } from '../../engine/replay.js';
import { replayStore } from '../../policy/replay.js';
import { policyHistoryOf } from '../../store/records.js';
import { PolicyHistoryEntrySchema } from '../../core/wire.js';
import { DEFAULT_ORG, ORG_SEPARATOR } from '../tenant-store.js';
import type { PolicyStatus } from '../policy-status.js';
import { ROLES } from '../api-keys.js';
import type { Router } from '../router.js';

const PolicyStatusSchema = z.object({
  /** `sha256:…`; null when no policy has loaded (every evaluation is denied). */
  policyVersion: z.string().nullable(),
  name: z.string().nullable(),
  revision: z.string().nullable(),
  /** The policy file. */
  file: z.string().nullable(),
  /** Why no policy is in force, when none is. */
  error: z.string().nullable(),
  /** The last change of the file that did not load while a policy stayed in force; null once one loads. */
  lastLoadError: z.object({ message: z.string(), at: z.string() }).nullable(),
  /** Changes of the file that did not load since the server started. */
  loadErrors: z.number(),
  /** The pushed policy in force (`ascend policy push`), or null while the file's is. */
  pushed: z.object({ id: z.number() }).nullable(),
});

const HistoryQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

const PushBody = z.strictObject({
  /** The policy file's text (YAML or JSON). */
  text: z.string().min(1).max(4 * 1024 * 1024),
  /** Where it came from, for messages and the audit (e.g. the file name). Default `ascend policy push`. */
  source: z.string().min(1).max(500).optional(),
});

const isoTime = z.iso.datetime({ offset: true });

const ReplayBody = z.strictObject({
  /** The candidate policy's text (YAML or JSON). */
  text: z.string().min(1).max(4 * 1024 * 1024),
  source: z.string().min(1).max(500).optional(),
  /** Compare only calls decided from this time (ISO). */
  since: isoTime.optional(),
  /** Compare (and read) only calls decided up to this time (ISO). */
  until: isoTime.optional(),
  /** Compare only calls of agents matching this glob. */
  agent: z.string().min(1).max(256).optional(),
  examplesPerTransition: z.number().int().min(0).max(100).optional(),
});

const DecisionEnum = z.enum(['allowed', 'denied', 'pending']);
const ReplayResultSchema = z.object({
  replayed: z.number(),
  changed: z.number(),
  unreplayable: z.number(),
  skipped: z.number(),
  transitions: z.record(z.string(), z.number()),
  byRule: z.record(z.string(), z.number()),
  examples: z.array(
    z.object({
      actionId: z.string(),
      agentId: z.string(),
      actionType: z.string(),
      resource: z.string(),
      at: z.string(),
      from: DecisionEnum,
      to: DecisionEnum,
      reason: z.string(),
      matchedRules: z.array(z.string()),
    }),
  ),
});

/** A policy sent in a request body: a 400 on `body.text` naming the line when it does not load. */
function parseCandidate(text: string, source: string): CompiledPolicy {
  try {
    return parsePolicy(text, source);
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    throw new ValidationError(`The policy does not load: ${err.message}`, [{ path: 'body.text', message: err.message }]);
  }
}

/** What the policy routes need from the server. */
export interface PolicyRouteDeps {
  status: () => PolicyStatus;
  /** The server's (every organisation's) store. */
  store: Store;
  /** The policy in force now. */
  inForce: () => CompiledPolicy | Error;
  /** Adopt what was pushed (and anything newer). */
  follow: () => Promise<void>;
}

/**
 * The policy is the server's: it decides for every organisation. Changing it, and reading its
 * text and who switched it, belongs to the server's operators — keys of the default organisation;
 * another organisation's keys get a 403 (they see the version in force, which their decisions
 * carry anyway, and may replay their own history).
 */
function requireOperator(org: string, what: string): void {
  if (org !== DEFAULT_ORG) {
    throw new AuthorizationError(`The policy is the server's, shared by every organisation: only keys of the default organisation may ${what}`, {});
  }
}

/** Register `GET /v1/policy`, `GET /v1/policy/text`, `GET /v1/policy/history`, `POST /v1/policy` and `POST /v1/policy/replay`. */
export function policyRoutes(router: Router, deps: PolicyRouteDeps): void {
  const { status, store } = deps;
  router.add({
    method: 'POST',
    url: '/v1/policy',
    summary: "Push a policy: stored in the database, in force on every server using it within a second (an admin key of the default organisation)",
    roles: ROLES.admin,
    what: 'push a policy',
    body: PushBody,
    response: PolicyStatusSchema,
    async handler(ctx) {
      requireOperator(ctx.scope.org, 'push a policy');
      const source = ctx.body.source ?? 'ascend policy push';
      const policy = parseCandidate(ctx.body.text, source);
      const now = deps.inForce();
      const actor = `${ctx.caller.key.name} (key ${ctx.caller.key.keyId})`;
      const { stored, change } = pushRecords(policy, now instanceof Error ? null : now.policyVersion, source, actor, new Date().toISOString());
      await store.pushPolicy(stored, change);
      await deps.follow();
      return status();
    },
  });

  router.add({
    method: 'POST',
    url: '/v1/policy/replay',
    summary: "What a candidate policy would have decided for the organisation's recorded calls, compared with what was decided",
    roles: ROLES.approver,
    what: 'replay a policy',
    body: ReplayBody,
    response: ReplayResultSchema,
    async handler(ctx) {
      const candidate = parseCandidate(ctx.body.text, ctx.body.source ?? 'candidate policy');
      const options: ReplayOptions = {};
      if (ctx.body.since !== undefined) options.sinceMs = Date.parse(ctx.body.since);
      if (ctx.body.until !== undefined) options.untilMs = Date.parse(ctx.body.until);
      if (ctx.body.agent !== undefined) options.agent = ctx.body.agent;
      if (ctx.body.examplesPerTransition !== undefined) options.examplesPerTransition = ctx.body.examplesPerTransition;
      const prefix = ctx.scope.org === DEFAULT_ORG ? '' : `${ctx.scope.org}${ORG_SEPARATOR}`;
      return replayStore(ctx.scope.store, candidate, options, prefix);
    },
  });

  router.add({
    method: 'GET',
    url: '/v1/policy/text',
    summary: 'The text of the policy in force (what `ascend policy pull` writes)',
    roles: ROLES.approver,
    what: 'read the policy',
    response: z.object({ policyVersion: z.string(), text: z.string() }),
    async handler(ctx) {
      requireOperator(ctx.scope.org, 'read the policy text');
      const now = deps.inForce();
      if (now instanceof Error) throw new NotFoundError('policy', 'in force');
      return { policyVersion: now.policyVersion, text: now.text };
    },
  });

  router.add({
    method: 'GET',
    url: '/v1/policy/history',
    summary: "The policy switches (policy.changed), newest first (the default organisation's keys)",
    roles: ROLES.reader,
    what: 'read the policy history',
    query: HistoryQuery,
    response: z.object({ changes: z.array(PolicyHistoryEntrySchema) }),
    async handler(ctx) {
      requireOperator(ctx.scope.org, 'read the policy history');
      const events = await store.readAudit({ types: ['policy.changed'], newestFirst: true, limit: ctx.query.limit });
      return { changes: policyHistoryOf(events) };
    },
  });

  router.add({
    method: 'GET',
    url: '/v1/policy',
    summary: 'The policy in force, and the last change of its file that did not load',
    roles: ROLES.reader,
    what: 'read the policy status',
    response: PolicyStatusSchema,
    async handler() {
      return status();
    },
  });
}
