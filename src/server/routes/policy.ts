/**
 * `GET /v1/policy`: the policy in force (its version and labels) and the last change of its file
 * that did not load; `GET /v1/policy/history`: the switches (`policy.changed`), newest first —
 * for operators, the dashboard and scripts checking a rollout. The policy is the server's, the
 * same for every organisation, so every key may read both.
 */
import { z } from 'zod';
import { parsePolicy, type CompiledPolicy } from '../../engine/index.js';
import { NotFoundError, PolicyError, ValidationError } from '../../errors.js';
import type { Store } from '../../store/store.js';
import type { PolicyChangeRecord, StoredPolicy } from '../../types.js';
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

const PolicyChangeSchema = z.object({
  seq: z.number(),
  at: z.string(),
  from: z.string().nullable(),
  to: z.string(),
  name: z.string().optional(),
  revision: z.string().optional(),
  cause: z.enum(['file', 'signal', 'push']),
  source: z.string(),
  actor: z.string(),
});

const PushBody = z.strictObject({
  /** The policy file's text (YAML or JSON). */
  text: z.string().min(1).max(4 * 1024 * 1024),
  /** Where it came from, for messages and the audit (e.g. the file name). Default `ascend policy push`. */
  source: z.string().min(1).max(500).optional(),
});

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

/** Register `GET /v1/policy`, `GET /v1/policy/text`, `GET /v1/policy/history` and `POST /v1/policy`. */
export function policyRoutes(router: Router, deps: PolicyRouteDeps): void {
  const { status, store } = deps;
  router.add({
    method: 'POST',
    url: '/v1/policy',
    summary: 'Push a policy: stored in the database, in force on every server using it within a second',
    roles: ROLES.admin,
    what: 'push a policy',
    body: PushBody,
    response: PolicyStatusSchema,
    async handler(ctx) {
      const source = ctx.body.source ?? 'ascend policy push';
      let policy: CompiledPolicy;
      try {
        policy = parsePolicy(ctx.body.text, source);
      } catch (err) {
        if (!(err instanceof PolicyError)) throw err;
        // The whole message names the source, line and fix: the field at fault is the text.
        throw new ValidationError(`The policy does not load: ${err.message}`, [{ path: 'body.text', message: err.message }]);
      }
      const now = deps.inForce();
      const at = new Date().toISOString();
      const actor = `${ctx.caller.key.name} (key ${ctx.caller.key.keyId})`;
      const change: PolicyChangeRecord = { from: now instanceof Error ? null : now.policyVersion, to: policy.policyVersion, cause: 'push', source, actor, at };
      const stored: Omit<StoredPolicy, 'id'> = { policyVersion: policy.policyVersion, text: ctx.body.text, pushedBy: actor, pushedAt: at };
      if (policy.name !== null) change.name = stored.name = policy.name;
      if (policy.revision !== null) change.revision = stored.revision = policy.revision;
      await store.pushPolicy(stored, change);
      await deps.follow();
      return status();
    },
  });

  router.add({
    method: 'GET',
    url: '/v1/policy/text',
    summary: 'The text of the policy in force (what `ascend policy pull` writes)',
    roles: ROLES.approver,
    what: 'read the policy',
    response: z.object({ policyVersion: z.string(), text: z.string() }),
    async handler() {
      const now = deps.inForce();
      if (now instanceof Error) throw new NotFoundError('policy', 'in force');
      return { policyVersion: now.policyVersion, text: now.text };
    },
  });

  router.add({
    method: 'GET',
    url: '/v1/policy/history',
    summary: 'The policy switches (policy.changed), newest first',
    roles: ROLES.reader,
    what: 'read the policy history',
    query: HistoryQuery,
    response: z.object({ changes: z.array(PolicyChangeSchema) }),
    async handler(ctx) {
      const events = await store.readAudit({ types: ['policy.changed'], newestFirst: true, limit: ctx.query.limit });
      return { changes: events.map((e) => ({ ...(e.data as Omit<z.output<typeof PolicyChangeSchema>, 'seq' | 'at' | 'actor'>), seq: e.seq, at: e.ts, actor: e.actor })) };
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
