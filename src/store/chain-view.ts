/**
 * What one SQLite connection knows about the audit chain without asking the database.
 *
 * Why it exists: a commit's cost is the pages it writes (each WAL frame is two system calls), so
 * a hot commit — one decision, or one outcome — writes exactly one row, its audit event, and
 * nothing else. Finding an action by id then needs two places: `action_index`, written in bulk
 * from time to time, and this view's *tail*, the hot events appended since the index was last
 * brought up to date. Every transaction first catches the view up with what other connections
 * appended (usually nothing: one read of the chain head), so tail + index is always complete
 * up to `headSeq`.
 *
 * The view also caches agent registrations for deciding calls; an `agent.*` event in the chain
 * (ours or another process's) drops the agent from the cache.
 */
import type { AgentRecord, AuditEventType } from '../core/types.js';
import { GENESIS_HASH } from './audit-chain.js';

/** The hot event types: one per decision and one per outcome, written on every governed call. */
export const HOT_AUDIT_TYPES: ReadonlySet<string> = new Set<AuditEventType>(['action.evaluated', 'action.completed', 'action.failed']);

/** Where an action's hot events are, as far as the tail knows. */
export interface TailEntry {
  agentId: string;
  /** `seq` of its `action.evaluated` event, when that event is in the tail. */
  decisionSeq?: number;
  /** `seq` of its `action.completed` / `action.failed` event, when that event is in the tail. */
  outcomeSeq?: number;
}

/** The columns of an audit row the view reads. */
export type SeenRow = readonly [seq: number, type: string, agentId: string | null, actionId: string | null];

/** What the view needs from the database (inside the caller's transaction). */
export interface ChainSource {
  /** `[seq, hash]` of the newest row, or undefined when the chain is empty. */
  head(): readonly [number, string] | undefined;
  /** Rows with `seq > afterSeq`, in order. */
  rowsAfter(afterSeq: number): Iterable<SeenRow>;
  /** The highest `seq` whose hot events are all in `action_index`. */
  indexedThrough(): number;
}

/** An agent as cached for decisions: frozen, so it can be handed out without copying. */
export type FrozenAgent = Readonly<AgentRecord>;

/** Catching up with more rows than this rebuilds the view from the index instead. */
const MAX_CATCH_UP_ROWS = 50_000;
/** A tail this large is checked against the index others have written (see {@link ChainView.pruneTo}). */
const PRUNE_AT_ACTIONS = 2048;
/** More cached agents than this and the cache starts over. */
const MAX_CACHED_AGENTS = 1024;

/** One connection's view of the chain. Not shared between connections. */
export class ChainView {
  /** `seq` and `hash` of the newest event this view has seen. */
  headSeq = 0;
  headHash = GENESIS_HASH;
  /** Hot events with `seq` in (`indexedThrough`, `headSeq`] are all in {@link tail}. */
  indexedThrough = 0;
  /** Action id → its hot events not yet indexed (as far as this view knows). */
  readonly tail = new Map<string, TailEntry>();
  /** `performance.now()` of the last catch-up with the database. */
  syncedAtMs = Number.NEGATIVE_INFINITY;
  private built = false;
  /** Cached registrations; `null` caches "not registered". */
  private readonly agents = new Map<string, FrozenAgent | null>();

  /** Bring the view up to the database's head. Call inside a transaction. */
  catchUp(source: ChainSource, nowMs: number): void {
    const head = source.head();
    const seq = head ? head[0] : 0;
    const hash = head ? head[1] : GENESIS_HASH;
    if (!this.built || seq < this.headSeq || seq - this.headSeq > MAX_CATCH_UP_ROWS || (seq === this.headSeq && hash !== this.headHash)) {
      // First use, a huge gap, or a chain that is not the one we saw (file replaced): start over.
      this.rebuild(source);
    } else if (seq > this.headSeq) {
      for (const row of source.rowsAfter(this.headSeq)) this.see(row);
      if (this.tail.size >= PRUNE_AT_ACTIONS) this.pruneTo(source.indexedThrough());
    }
    this.headSeq = seq;
    this.headHash = hash;
    this.syncedAtMs = nowMs;
  }

  /** Record an event this connection appended and committed. */
  appended(seq: number, hash: string, type: string, agentId: string | null, actionId: string | null): void {
    this.see([seq, type, agentId, actionId]);
    this.headSeq = seq;
    this.headHash = hash;
  }

  /** The tail was written to `action_index` up to `seq`: forget it. */
  indexed(seq: number): void {
    this.tail.clear();
    this.indexedThrough = seq;
  }

  /**
   * Another connection has indexed up to `seq`: drop what the index now holds, so a connection
   * that only reads (a dashboard, `approvals watch`) does not grow without bound and a writer
   * does not index the same events again.
   */
  pruneTo(seq: number): void {
    if (seq <= this.indexedThrough) return;
    for (const [actionId, entry] of this.tail) {
      if (entry.outcomeSeq !== undefined && entry.outcomeSeq <= seq) this.tail.delete(actionId);
      else if (entry.decisionSeq !== undefined && entry.decisionSeq <= seq) {
        if (entry.outcomeSeq === undefined) this.tail.delete(actionId);
        else delete entry.decisionSeq; // the index has the decision; the outcome is still ours to know
      }
    }
    this.indexedThrough = seq;
  }

  /** The cached registration: `null` when the agent is known not to be registered,
   * `undefined` when the view does not know. */
  agent(agentId: string): FrozenAgent | null | undefined {
    return this.agents.get(agentId);
  }

  /** Cache what a transaction that caught the view up read about an agent (`undefined`: no row). */
  rememberAgent(agentId: string, agent: AgentRecord | undefined): FrozenAgent | null {
    if (this.agents.size >= MAX_CACHED_AGENTS) this.agents.clear();
    const frozen = agent === undefined ? null : deepFreeze(agent);
    this.agents.set(agentId, frozen);
    return frozen;
  }

  /** Forget everything (the file is being closed or was replaced). */
  forget(): void {
    this.built = false;
    this.tail.clear();
    this.agents.clear();
  }

  private rebuild(source: ChainSource): void {
    this.tail.clear();
    this.agents.clear();
    this.indexedThrough = source.indexedThrough();
    for (const row of source.rowsAfter(this.indexedThrough)) this.see(row);
    this.built = true;
  }

  private see(row: SeenRow): void {
    const [seq, type, agentId, actionId] = row;
    if (HOT_AUDIT_TYPES.has(type)) {
      if (actionId === null || agentId === null) return;
      let entry = this.tail.get(actionId);
      if (entry === undefined) {
        entry = { agentId };
        this.tail.set(actionId, entry);
      }
      if (type === 'action.evaluated') entry.decisionSeq = seq;
      else entry.outcomeSeq = seq;
    } else if (agentId !== null && type.startsWith('agent.')) {
      this.agents.delete(agentId);
    }
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
