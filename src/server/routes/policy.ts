/**
 * `GET /v1/policy`: the policy in force (its version and labels) and the last change of its file
 * that did not load; `GET /v1/policy/history`: the switches (`policy.changed`), newest first —
 * for operators, the dashboard and scripts checking a rollout. The policy is the server's, the
 * same for every organisation, so every key may read both.
 */
import { z } from 'zod';
import type { Store } from '../../store/store.js';
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

/** Register `GET /v1/policy` and `GET /v1/policy/history`; `store` is the server's (every organisation's) store. */
export function policyRoutes(router: Router, status: () => PolicyStatus, store: Store): void {
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
