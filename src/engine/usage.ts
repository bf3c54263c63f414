/**
 * In-memory usage counters: agent velocity, and rule budgets (`limit`) for evaluations whose
 * caller does not count them in a store (a dry run; see engine/budget.ts for the store-backed
 * budgets of a decision point). Pure: time is always passed in (`nowMs`, epoch ms), nothing reads
 * a clock.
 *
 * Each counter is a ring of fixed time buckets (a sliding window with 1/60 precision), so memory
 * per counter is constant whatever the call rate; the number of counters and of agents tracked is
 * bounded, idle ones are pruned first.
 *
 * The lifecycle, per call:
 * ```ts
 * const input = { request, agent, now };
 * const decision = evaluatePolicy(policy, input, usage);   // reads counters, notes what matched
 * // … a grant or an approval may still change the decision …
 * usage.record(input, decision);                           // counts the call
 * ```
 */
import type { Decision } from '../core/types.js';
import type { CompiledLimit, CompiledPolicy } from './compile.js';
import type { EvaluationInput } from './evaluation-input.js';
import { limitsDrawnOn } from './budget.js';
import type { VelocitySample } from './risk.js';

/** A count over a sliding window made of `slots` buckets of `bucketMs`. */
export class SlidingCounter {
  private readonly counts: Uint32Array;
  /** Index (time / bucketMs) of the newest bucket. */
  private head = Number.NEGATIVE_INFINITY;
  private sum = 0;
  /** Time of the last `add`, for pruning. */
  lastAddMs = 0;

  /**
   * @param bucketMs width of one bucket
   * @param slots buckets kept: the window spans between `(slots - 1) × bucketMs` and `slots × bucketMs`
   */
  constructor(
    readonly bucketMs: number,
    readonly slots: number,
  ) {
    this.counts = new Uint32Array(slots);
  }

  private advance(bucket: number): void {
    if (bucket <= this.head) return; // time going backwards: keep the newer state
    if (bucket - this.head >= this.slots) {
      this.counts.fill(0);
      this.sum = 0;
    } else {
      for (let b = this.head + 1; b <= bucket; b++) {
        const slot = b % this.slots;
        this.sum -= this.counts[slot] as number;
        this.counts[slot] = 0;
      }
    }
    this.head = bucket;
  }

  /** Count `n` events at `nowMs`. */
  add(nowMs: number, n = 1): void {
    const bucket = Math.floor(nowMs / this.bucketMs);
    this.advance(bucket);
    if (bucket <= this.head - this.slots) return; // older than the window
    this.counts[bucket % this.slots] = (this.counts[bucket % this.slots] as number) + n;
    this.sum += n;
    if (nowMs > this.lastAddMs) this.lastAddMs = nowMs;
  }

  /** Events within the window ending at `nowMs`. */
  count(nowMs: number): number {
    this.advance(Math.floor(nowMs / this.bucketMs));
    return this.sum;
  }
}

/** Bounds and velocity settings of a {@link UsageTracker}. */
export interface UsageTrackerOptions {
  /** Budget counters kept (one per limited rule × agent, or per rule for `scope: global`). Default 50,000. */
  maxCounters?: number;
  /** Agents whose velocity is tracked. Default 10,000. */
  maxAgents?: number;
}

interface AgentActivity {
  /** Per-second buckets: the last minute. */
  minute: SlidingCounter;
  /** Per-minute buckets: the last hour. */
  hour: SlidingCounter;
  firstSeenMs: number;
}

const GLOBAL_SCOPE = '';
/** Budget windows use this many buckets (plus one, so the window always covers `per`). */
const BUCKETS_PER_WINDOW = 60;
const MIN_BUCKET_MS = 1000;

/** The decision as `record` needs it: only the final answer matters. */
export interface RecordedDecision {
  decision: Decision;
}

/**
 * Usage counters for one process (or one server), shared by every evaluation against any policy.
 * Budget counters are keyed by rule id, count, window and scope, so they survive a reload of an
 * unchanged rule and reset when the rule's limit changes.
 */
export class UsageTracker {
  private readonly budgets = new Map<string, Map<string, SlidingCounter>>();
  private budgetCount = 0;
  private readonly agents = new Map<string, AgentActivity>();
  private readonly maxCounters: number;
  private readonly maxAgents: number;
  private lastPolicy: CompiledPolicy | null = null;
  private lastInput: EvaluationInput | null = null;
  private lastHits: readonly CompiledLimit[] | null = null;
  private readonly staged = new WeakMap<EvaluationInput, readonly CompiledLimit[]>();

  constructor(options: UsageTrackerOptions = {}) {
    this.maxCounters = Math.max(1, options.maxCounters ?? 50_000);
    this.maxAgents = Math.max(1, options.maxAgents ?? 10_000);
  }

  /**
   * Count one evaluated call. Call it once per evaluation, with the SAME `input` object that was
   * passed to `evaluatePolicy` and the final decision (e.g. after a grant turned pending into
   * allowed):
   * - every call counts towards the agent's velocity;
   * - an `allowed` call counts towards the budget of every limited rule whose globs and condition
   *   matched it during evaluation (whether or not the limit was reached: in monitor mode
   *   over-limit calls still run, so they count).
   * If `input` is not the object evaluated, the matching rules are worked out again against the
   * policy this tracker last evaluated with.
   */
  record(input: EvaluationInput, decision: RecordedDecision): void {
    const { request, now } = input;
    const activity = this.activityOf(request.agentId, now);
    activity.minute.add(now);
    activity.hour.add(now);
    let hits: readonly CompiledLimit[] | null;
    if (input === this.lastInput) {
      hits = this.lastHits;
    } else {
      const staged = this.staged.get(input);
      hits = staged !== undefined ? staged : this.lastPolicy ? limitsDrawnOn(this.lastPolicy, input) : null;
    }
    this.staged.delete(input);
    if (input === this.lastInput) {
      this.lastInput = null;
      this.lastHits = null;
    }
    // A store counted this call's budgets (input.budgetUsage): nothing to count here.
    if (hits === null || decision.decision !== 'allowed' || input.budgetUsage !== undefined) return;
    for (const limit of hits) this.counter(limit, request.agentId, now, true)?.add(now);
  }

  /**
   * Called by `evaluatePolicy`: the limits whose rule matched `input` (null when none), kept until
   * {@link record}. Not for other callers.
   */
  noteEvaluation(policy: CompiledPolicy, input: EvaluationInput, hits: readonly CompiledLimit[] | null): void {
    this.lastPolicy = policy;
    this.lastInput = input;
    this.lastHits = hits;
    // Interleaved evaluate/record pairs (async callers) find theirs here.
    if (hits !== null) this.staged.set(input, hits);
  }

  /** Calls already counted for `limit` (in its scope for `agentId`) within its window ending at `nowMs`. */
  limitCount(limit: CompiledLimit, agentId: string, nowMs: number): number {
    return this.counter(limit, agentId, nowMs, false)?.count(nowMs) ?? 0;
  }

  /** The agent's calls in the last minute against its hourly baseline. */
  velocity(agentId: string, nowMs: number): VelocitySample {
    const a = this.agents.get(agentId);
    if (a === undefined) return { lastMinute: 0, baselinePerMinute: 0 };
    const lastMinute = a.minute.count(nowMs);
    const hour = a.hour.count(nowMs);
    // Minutes of history before the last one, within the hour.
    const minutes = Math.min(59, Math.max(1, (nowMs - a.firstSeenMs) / 60_000 - 1));
    return { lastMinute, baselinePerMinute: Math.max(0, hour - lastMinute) / minutes };
  }

  /** Budget counters held (for tests and metrics). */
  get counterCount(): number {
    return this.budgetCount;
  }

  /** Agents tracked for velocity (for tests and metrics). */
  get agentCount(): number {
    return this.agents.size;
  }

  /** Forget everything. */
  clear(): void {
    this.budgets.clear();
    this.budgetCount = 0;
    this.agents.clear();
    this.lastPolicy = null;
    this.lastInput = null;
    this.lastHits = null;
  }

  private counter(limit: CompiledLimit, agentId: string, nowMs: number, create: boolean): SlidingCounter | undefined {
    let byScope = this.budgets.get(limit.key);
    const scopeKey = limit.scope === 'global' ? GLOBAL_SCOPE : agentId;
    let c = byScope?.get(scopeKey);
    if (c !== undefined || !create) return c;
    if (this.budgetCount >= this.maxCounters) this.pruneBudgets(nowMs);
    if (byScope === undefined) {
      byScope = new Map();
      this.budgets.set(limit.key, byScope);
    }
    const bucketMs = Math.max(MIN_BUCKET_MS, Math.ceil(limit.windowMs / BUCKETS_PER_WINDOW));
    // One extra slot: the window then always covers at least `per` (erring towards limiting).
    c = new SlidingCounter(bucketMs, Math.ceil(limit.windowMs / bucketMs) + 1);
    byScope.set(scopeKey, c);
    this.budgetCount++;
    return c;
  }

  /** Drop empty counters; if still full, the oldest ones, down to 90% of the bound. */
  private pruneBudgets(nowMs: number): void {
    const target = Math.floor(this.maxCounters * 0.9);
    for (const [key, byScope] of this.budgets) {
      for (const [scope, c] of byScope) {
        if (c.count(nowMs) === 0) {
          byScope.delete(scope);
          this.budgetCount--;
        }
      }
      if (byScope.size === 0) this.budgets.delete(key);
    }
    if (this.budgetCount <= target) return;
    for (const [key, byScope] of this.budgets) {
      for (const scope of byScope.keys()) {
        if (this.budgetCount <= target) return;
        byScope.delete(scope);
        this.budgetCount--;
      }
      if (byScope.size === 0) this.budgets.delete(key);
    }
  }

  private activityOf(agentId: string, nowMs: number): AgentActivity {
    let a = this.agents.get(agentId);
    if (a === undefined) {
      if (this.agents.size >= this.maxAgents) this.pruneAgents(nowMs);
      a = { minute: new SlidingCounter(1000, 60), hour: new SlidingCounter(60_000, 60), firstSeenMs: nowMs };
      this.agents.set(agentId, a);
    }
    return a;
  }

  /** Drop agents idle for an hour; if still full, the least recently added, down to 90%. */
  private pruneAgents(nowMs: number): void {
    const target = Math.floor(this.maxAgents * 0.9);
    for (const [id, a] of this.agents) if (a.hour.count(nowMs) === 0) this.agents.delete(id);
    for (const id of this.agents.keys()) {
      if (this.agents.size <= target) break;
      this.agents.delete(id);
    }
  }
}
