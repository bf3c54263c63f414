/**
 * `GET /v1/events`: the organisation's audit events as server-sent events, live. Resumable: a
 * reconnecting client sends `Last-Event-ID` (the last `seq` it saw) and misses nothing.
 */
import * as z from 'zod';
import type { Store } from '../../store/store.js';
import type { AuditEventType } from '../../core/types.js';
import { ROLES } from '../api-keys.js';
import type { Router } from '../router.js';

const EventsQuery = z.object({
  /** Start after this seq (default: now, or Last-Event-ID). */
  afterSeq: z.coerce.number().int().min(0).optional(),
  /** Comma-separated audit event types, e.g. `approval.requested,approval.approved`. */
  types: z
    .string()
    .max(1000)
    .transform((v) => v.split(',').map((t) => t.trim()).filter(Boolean) as AuditEventType[])
    .optional(),
});

export function eventRoutes(router: Router, watch: Store['watch']): void {
  router.stream({
    url: '/v1/events',
    summary: "Live audit events of the caller's organisation (approvals requested and decided, actions, outcomes); resume with Last-Event-ID",
    roles: ROLES.approver,
    what: 'follow events',
    query: EventsQuery,
    async handler(ctx, send) {
      const store = ctx.scope.store;
      const lastEventId = Number(ctx.header('last-event-id'));
      let cursor = ctx.query.afterSeq ?? (Number.isInteger(lastEventId) && lastEventId >= 0 ? lastEventId : undefined);
      cursor ??= await store.latestSeq();
      // Everything after this point will be sent: a client may now read current state (the
      // dashboard rereads its queue) without missing what happens while it reads.
      send({ event: 'ready', data: JSON.stringify({ afterSeq: cursor }) });
      let wake: (() => void) | undefined;
      const unwatch = watch(() => wake?.());
      try {
        while (!ctx.signal.aborted) {
          if (!(await ctx.stillAuthorized())) {
            send({ event: 'error', data: JSON.stringify({ code: 'authentication_error', message: 'The API key of this stream was revoked' }) });
            return;
          }
          // Read the head first: a read that returns less than a page has scanned everything up
          // to it, so the cursor may skip past other organisations' events without missing ours.
          const head = await store.latestSeq();
          const events = await store.readAudit({ afterSeq: cursor, limit: 500, ...(ctx.query.types ? { types: ctx.query.types } : {}) });
          for (const event of events) send({ id: String(event.seq), event: event.type, data: JSON.stringify(event) });
          if (events.length === 500) {
            cursor = events[events.length - 1]!.seq;
            continue;
          }
          cursor = Math.max(head, events.length > 0 ? events[events.length - 1]!.seq : 0, cursor);
          await new Promise<void>((resolve) => {
            const done = (): void => {
              clearTimeout(timer);
              ctx.signal.removeEventListener('abort', done);
              wake = undefined;
              resolve();
            };
            const timer = setTimeout(done, 1000);
            ctx.signal.addEventListener('abort', done, { once: true });
            wake = done;
          });
        }
      } finally {
        unwatch();
      }
    },
  });
}
