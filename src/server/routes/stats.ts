/**
 * `GET /v1/stats`: decisions over time and the risk distribution of the organisation's
 * evaluations, for the dashboard's charts — counted from the audit trail, so they are exactly
 * what was recorded.
 */
import * as z from 'zod';
import type { AuditEvent } from '../../core/types.js';
import { ROLES } from '../api-keys.js';
import type { Router } from '../router.js';

const StatsQuery = z.object({
  /** The window, ending now. */
  hours: z.coerce.number().int().min(1).max(24 * 31).default(24),
  /** How many time buckets the window is cut into. */
  buckets: z.coerce.number().int().min(1).max(200).default(24),
});

/** Most evaluations counted per request: beyond it the answer says `truncated`. */
const MAX_EVENTS = 100_000;
const PAGE = 5000;

const DecisionCounts = z.object({ allowed: z.number(), denied: z.number(), pending: z.number() });
const StatsSchema = z.object({
  from: z.string(),
  to: z.string(),
  bucketMs: z.number(),
  decisions: z.array(DecisionCounts.extend({ start: z.string() })),
  /** Evaluations by risk score: 0–9, 10–19, …, 90–100. */
  risk: z.array(z.number()).length(10),
  totals: DecisionCounts,
  /** More than the counted maximum fell in the window: the counts cover its oldest part only. */
  truncated: z.boolean(),
});

/** Count evaluations into time buckets and risk bins. */
export function countEvaluations(events: Iterable<AuditEvent>, fromMs: number, bucketMs: number, buckets: number): Omit<z.output<typeof StatsSchema>, 'from' | 'to' | 'bucketMs' | 'truncated'> {
  const decisions = Array.from({ length: buckets }, (_, i) => ({ start: new Date(fromMs + i * bucketMs).toISOString(), allowed: 0, denied: 0, pending: 0 }));
  const risk = new Array<number>(10).fill(0);
  const totals = { allowed: 0, denied: 0, pending: 0 };
  for (const event of events) {
    const decision = event.data.decision;
    if (decision !== 'allowed' && decision !== 'denied' && decision !== 'pending') continue;
    const index = Math.floor((Date.parse(event.ts) - fromMs) / bucketMs);
    if (index < 0 || index >= buckets) continue;
    decisions[index]![decision] += 1;
    totals[decision] += 1;
    const score = Number(event.data.riskScore);
    if (Number.isFinite(score)) risk[Math.min(9, Math.max(0, Math.floor(score / 10)))]! += 1;
  }
  return { decisions, risk, totals };
}

export function statsRoutes(router: Router): void {
  router.add({
    method: 'GET',
    url: '/v1/stats',
    summary: 'Decisions over time and the risk distribution of evaluations in the last `hours`',
    roles: ROLES.approver,
    what: 'read statistics',
    query: StatsQuery,
    response: StatsSchema,
    async handler(ctx) {
      const toMs = Date.now();
      const bucketMs = Math.ceil((ctx.query.hours * 3_600_000) / ctx.query.buckets);
      const fromMs = toMs - bucketMs * ctx.query.buckets;
      const events: AuditEvent[] = [];
      let afterSeq: number | undefined;
      let truncated = false;
      for (;;) {
        const page = await ctx.scope.store.readAudit({ types: ['action.evaluated'], since: new Date(fromMs).toISOString(), limit: PAGE, ...(afterSeq !== undefined ? { afterSeq } : {}) });
        events.push(...page);
        if (page.length < PAGE) break;
        afterSeq = page[page.length - 1]!.seq;
        if (events.length >= MAX_EVENTS) {
          truncated = true;
          break;
        }
      }
      return { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), bucketMs, ...countEvaluations(events, fromMs, bucketMs, ctx.query.buckets), truncated };
    },
  });
}
