/**
 * Replaying a store's recorded history against a candidate policy (engine/replay.ts): the audit
 * trail read in pages, in recorded order, up to `until`.
 */
import { PolicyReplay, REPLAY_EVENT_TYPES, type ReplayOptions, type ReplayResult } from '../engine/replay.js';
import type { CompiledPolicy } from '../engine/index.js';
import type { AuditQuery, Store } from '../store/store.js';
import type { AuditEvent } from '../core/types.js';

/** Events read per page. */
const PAGE = 5000;

/**
 * Replay every recorded call of `store` (up to `options.untilMs`) against `candidate`.
 * @param stripPrefix an organisation's `ORG::` prefix, removed from agent ids (a server's
 *   organisation reads its own history with stored, qualified ids; its policy names agents bare)
 */
export async function replayStore(store: Store, candidate: CompiledPolicy, options: ReplayOptions = {}, stripPrefix = ''): Promise<ReplayResult> {
  const replay = new PolicyReplay(candidate, options);
  const query: AuditQuery = { types: [...REPLAY_EVENT_TYPES], limit: PAGE };
  if (options.untilMs !== undefined) query.until = new Date(options.untilMs).toISOString();
  for (;;) {
    const page = await store.readAudit(query);
    for (const event of page) replay.feed(stripPrefix === '' ? event : unqualified(event, stripPrefix));
    if (page.length < PAGE) break;
    query.afterSeq = (page[page.length - 1] as AuditEvent).seq;
  }
  return replay.found;
}

function unqualified(event: AuditEvent, prefix: string): AuditEvent {
  const strip = (id: string): string => (id.startsWith(prefix) ? id.slice(prefix.length) : id);
  const copy: AuditEvent = { ...event, agentId: event.agentId === null ? null : strip(event.agentId) };
  if (event.type === 'action.evaluated') {
    const data = event.data as { agentId?: string };
    if (typeof data.agentId === 'string') copy.data = { ...event.data, agentId: strip(data.agentId) };
  }
  return copy;
}
