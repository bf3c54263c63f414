/**
 * Replay: what a candidate policy would have done to the calls agents really made. Fed the audit
 * trail in recorded order, it rebuilds each agent's registration as it stood at each call
 * (`agent.registered`, `agent.blocked`, `agent.unblocked`), decides every recorded call again
 * with the candidate — budgets and velocity counted as the candidate would have let calls run —
 * and compares with what the policy in force decided then. Pure: nothing is read or written.
 *
 * What it compares is the policy's decision: a call a person approved (or a grant let through)
 * counts as `pending`, as the policy said; fail-open records (no policy decided) are skipped. A
 * call whose decision reads a redacted argument depends on a value nobody kept: the is counted as `unreplayable`, never guessed: the conditions read the arguments through a
 * view that notes every redacted value they touch (`has()` included). Risk factors from argument
 * contents (the detectors) are computed on what was recorded, redactions included.
 */
import { REDACTED_MARK } from '../core/redaction-mark.js';
import type { ActionRecord, AgentRecord, AuditEvent, Decision } from '../core/types.js';
import type { CompiledPolicy } from './compile.js';
import { evaluatePolicy, type EvaluationInput } from './evaluate.js';
import { compileGlob } from './glob.js';
import { UsageTracker } from './usage.js';

/** Which recorded calls to compare (all earlier ones still count towards budgets and velocity). */
export interface ReplayOptions {
  /** Only calls decided at or after this time (epoch ms). */
  sinceMs?: number;
  /** Only calls decided at or before this time (epoch ms). */
  untilMs?: number;
  /** Only calls of agents whose id matches this glob. */
  agent?: string;
  /** Examples kept per transition. Default 5. */
  examplesPerTransition?: number;
}

/** One call whose decision would change. */
export interface ReplayExample {
  actionId: string;
  agentId: string;
  actionType: string;
  resource: string;
  at: string;
  from: Decision;
  to: Decision;
  /** The candidate's reason. */
  reason: string;
  /** The candidate's matched rules. */
  matchedRules: string[];
}

/** What a replay found. */
export interface ReplayResult {
  /** Calls compared. */
  replayed: number;
  /** Of those, calls whose decision would change. */
  changed: number;
  /** Calls whose new decision reads a redacted argument (not compared). */
  unreplayable: number;
  /** Records no policy decided (fail-open), not compared. */
  skipped: number;
  /** `from->to`: how many calls would move, e.g. `allowed->denied`. */
  transitions: Record<string, number>;
  /** Per rule of the candidate that matched a changed call (`(default)`: none matched): how many. */
  byRule: Record<string, number>;
  /** A few changed calls per transition, oldest first. */
  examples: ReplayExample[];
}

/** The types of audit event a replay reads, in recorded order. */
export const REPLAY_EVENT_TYPES = ['agent.registered', 'agent.blocked', 'agent.unblocked', 'action.evaluated'] as const;

/** The recorded fields of an evaluation a replay needs (the action record, as stored). */
type RecordedAction = Pick<ActionRecord, 'actionId' | 'agentId' | 'actionType' | 'resource' | 'parameters' | 'context' | 'decision' | 'conditions' | 'createdAt'>;

/** Replays a stream of audit events against one candidate. */
export class PolicyReplay {
  private readonly usage = new UsageTracker();
  private readonly agents = new Map<string, AgentRecord>();
  private readonly agentGlob: ((id: string) => boolean) | null;
  private readonly perTransition: number;
  private readonly result: ReplayResult = { replayed: 0, changed: 0, unreplayable: 0, skipped: 0, transitions: {}, byRule: {}, examples: [] };
  private readonly examplesOf = new Map<string, number>();

  constructor(
    private readonly candidate: CompiledPolicy,
    private readonly options: ReplayOptions = {},
  ) {
    const glob = options.agent === undefined ? null : compileGlob(options.agent);
    this.agentGlob = glob === null ? null : (id) => glob.test(id);
    this.perTransition = options.examplesPerTransition ?? 5;
  }

  /** One event, in recorded order (others than {@link REPLAY_EVENT_TYPES} are ignored). */
  feed(event: AuditEvent): void {
    switch (event.type) {
      case 'agent.registered':
        this.registered(event);
        return;
      case 'agent.blocked':
      case 'agent.unblocked':
        this.blocked(event, event.type === 'agent.blocked');
        return;
      case 'action.evaluated':
        this.evaluated(event.data as unknown as RecordedAction);
        return;
      default:
    }
  }

  /** What was found so far. */
  get found(): ReplayResult {
    return this.result;
  }

  private registered(event: AuditEvent): void {
    const id = event.agentId;
    if (id === null) return;
    const data = event.data as Pick<AgentRecord, 'agentName' | 'agentType' | 'capabilities' | 'allowedResources' | 'metadata'>;
    const before = this.agents.get(id);
    this.agents.set(id, {
      agentId: id,
      agentName: data.agentName,
      agentType: data.agentType,
      capabilities: data.capabilities,
      allowedResources: data.allowedResources,
      metadata: data.metadata,
      blocked: before?.blocked ?? false,
      ...(before?.blockedReason === undefined ? {} : { blockedReason: before.blockedReason }),
      registeredAt: before?.registeredAt ?? event.ts,
      updatedAt: event.ts,
      version: event.seq,
    });
  }

  private blocked(event: AuditEvent, blocked: boolean): void {
    const id = event.agentId;
    if (id === null) return;
    const reason = (event.data as { reason?: string }).reason;
    const before = this.agents.get(id) ?? {
      agentId: id,
      agentName: id,
      agentType: 'generic',
      capabilities: [],
      allowedResources: [],
      metadata: {},
      blocked: false,
      registeredAt: event.ts,
      updatedAt: event.ts,
      version: event.seq,
    };
    const next: AgentRecord = { ...before, blocked, updatedAt: event.ts, version: event.seq };
    if (blocked && reason) next.blockedReason = reason;
    else delete next.blockedReason;
    this.agents.set(id, next);
  }

  private evaluated(action: RecordedAction): void {
    const nowMs = Date.parse(action.createdAt);
    const input: EvaluationInput = {
      request: {
        agentId: action.agentId,
        actionType: action.actionType,
        resource: action.resource,
        parameters: action.parameters,
        context: action.context ?? {}, // records stored by older versions may lack it
        requireHumanApproval: false,
      },
      agent: this.agents.get(action.agentId),
      now: nowMs,
    };
    const compared =
      (this.options.sinceMs === undefined || nowMs >= this.options.sinceMs) &&
      (this.options.untilMs === undefined || nowMs <= this.options.untilMs) &&
      (this.agentGlob === null || this.agentGlob(action.agentId));
    if (action.conditions.includes('fail_open_mode')) {
      // No policy decided it; it ran, so it counts towards budgets and velocity.
      this.usage.record(input, { decision: action.decision });
      if (compared) this.result.skipped++;
      return;
    }
    let readRedacted = false;
    if (holdsRedacted(action.parameters)) {
      input.conditionParameters = watchReads(action.parameters, () => {
        readRedacted = true;
      });
    }
    const decision = evaluatePolicy(this.candidate, input, this.usage);
    if (compared && readRedacted) {
      this.result.unreplayable++;
      this.usage.record(input, decision);
      return;
    }
    this.usage.record(input, decision);
    if (!compared) return;
    this.result.replayed++;
    const from = policyDecisionOf(action);
    const to = decision.decision;
    if (from === to) return;
    this.result.changed++;
    const transition = `${from}->${to}`;
    this.result.transitions[transition] = (this.result.transitions[transition] ?? 0) + 1;
    for (const rule of decision.matchedRules.length > 0 ? decision.matchedRules : ['(default)']) {
      this.result.byRule[rule] = (this.result.byRule[rule] ?? 0) + 1;
    }
    const kept = this.examplesOf.get(transition) ?? 0;
    if (kept < this.perTransition) {
      this.examplesOf.set(transition, kept + 1);
      this.result.examples.push({
        actionId: action.actionId,
        agentId: action.agentId,
        actionType: action.actionType,
        resource: action.resource,
        at: action.createdAt,
        from,
        to,
        reason: decision.reason,
        matchedRules: decision.matchedRules,
      });
    }
  }
}

/** What the policy decided for a recorded call: an approved or granted call was `pending`. */
function policyDecisionOf(action: RecordedAction): Decision {
  if (action.decision === 'allowed' && (action.conditions.includes('approved') || action.conditions.includes('grant'))) return 'pending';
  return action.decision;
}

/** Whether a value holds the redaction mark anywhere. */
function holdsRedacted(value: unknown): boolean {
  if (value === REDACTED_MARK) return true;
  if (Array.isArray(value)) return value.some(holdsRedacted);
  if (value !== null && typeof value === 'object') return Object.values(value).some(holdsRedacted);
  return false;
}

/** A read-only view of `value` that calls `onRead` whenever a redacted value is read from it. */
function watchReads<T extends object>(value: T, onRead: () => void): T {
  return new Proxy(value, {
    get(target, key, receiver) {
      const v: unknown = Reflect.get(target, key, receiver);
      if (v === REDACTED_MARK) onRead();
      return v !== null && typeof v === 'object' ? watchReads(v, onRead) : v;
    },
    set: () => false,
    deleteProperty: () => false,
  });
}
