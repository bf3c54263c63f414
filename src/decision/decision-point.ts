/**
 * The decision point: the policy engine deciding on what a Store holds, and recording the
 * decision. Budgets read and spent, approvals and grants found, edited calls checked, retried
 * requests answered from what was recorded, a decision made again when what it was made on
 * changed. The embedded client reaches it through `LocalTransport`; `ascend serve` runs one per
 * organisation. See docs/architecture.md#layers-and-their-rules.
 */
import {
  budgetKey,
  evaluatePolicy,
  limitsDrawnOn,
  limitsOfAgent,
  policyErrorDecision,
  undefinedCapabilityNames,
  UsageTracker,
  type CompiledLimit,
  type CompiledPolicy,
  type EvaluationInput,
} from '../engine/index.js';
import { AscendError, ConflictError, StaleDecisionError, StoreError, ValidationError } from '../core/errors.js';
import type { Store } from '../store/store.js';
import type {
  ActionRecord,
  AgentBudget,
  AgentRecord,
  ApprovalRecord,
  DecisionResult,
  OutcomeRecord,
  PolicyDecision,
} from '../core/types.js';
import type { ApprovalDecision, BudgetSpend, BudgetUse, BudgetWindow, RecordDecisionOptions } from '../store/store.js';
import { KeyedLock } from './keyed-lock.js';
import { inForce, type PolicyInForce } from '../policy/live.js';
import { isoTime } from '../core/time.js';
import { timeOrderedId } from '../core/ids.js';
import { withKnownDecision } from './unreachable.js';
import { idempotencyKeyReused } from './same-call.js';
import type { AgentRegistration, EvaluationRequest } from './request.js';
import type { SpoolEntry } from '../core/types.js';
import { editedCall } from './edited-call.js';
import { answerRecorded } from './recorded.js';

/** Deciding again after a StaleDecisionError more often than this fails the call (fail mode). */
const MAX_DECISION_ATTEMPTS = 4;

/** The budgets a call draws on: the limits and their keys (engine `budgetKey`). */
interface DrawnBudgets {
  limits: CompiledLimit[];
  keys: string[];
}

/** What an allowed decision spends, and whether it takes the last unit of a budget. */
interface DecisionBudgets {
  spends: BudgetSpend[];
  lastUnit: boolean;
}

/** Where a decision point gets its policy and its store. */
export interface DecisionPointOptions {
  /**
   * The loaded policy, or the error that stopped it loading (every call is then denied), or a
   * {@link PolicyInForce} that may change (a LivePolicy): each decision reads it afresh.
   */
  policy: CompiledPolicy | Error | PolicyInForce;
  /** The store to decide on; may throw (a store that cannot be opened), which surfaces through the fail mode. */
  store: () => Store;
  /** Clock, for tests. */
  now?: () => number;
  /**
   * Let a decision under a caller-chosen action id wait in a `batched` store's group commit like
   * any other. Only for a caller that waits for the commit and then reads back what was recorded
   * under the id (`ascend serve`). Default false: such a decision is committed before it is
   * answered, so another process recording the same id cannot make the answer a lie.
   */
  keyedDecisionsMayQueue?: boolean;
}

/** The engine deciding on a Store, and recording what it decided. */
export class DecisionPoint {
  private readonly policyInForce: PolicyInForce;
  private readonly getStore: () => Store;
  private readonly now: () => number;
  private readonly keyedDecisionsMayQueue: boolean;
  private readonly usage = new UsageTracker();
  private readonly budgetLocks = new KeyedLock();

  constructor(options: DecisionPointOptions) {
    this.policyInForce = inForce(options.policy);
    this.getStore = options.store;
    this.now = options.now ?? Date.now;
    this.keyedDecisionsMayQueue = options.keyedDecisionsMayQueue === true;
  }

  /** The policy in force now. */
  private get policy(): CompiledPolicy | Error {
    return this.policyInForce.current;
  }

  /** Register (or update) an agent; warns of capabilities the policy does not define. */
  async register(agent: AgentRegistration): Promise<AgentRecord> {
    const record = await this.getStore().upsertAgent(agent, new Date(this.now()).toISOString());
    const policy = this.policy;
    const unknown = policy instanceof Error ? [] : undefinedCapabilityNames(policy, record.capabilities);
    if (unknown.length === 0) return record;
    const file = policy instanceof Error ? '' : policy.file;
    return {
      ...record,
      warnings: unknown.map((name) => `capability "${name}" is not defined by the policy (${file}), so it restricts nothing: define it under "capabilities:" or register action-type globs such as "database.*"`),
    };
  }

  /** Decide a call and record the decision (a retried key answers what was recorded). */
  async evaluate(request: EvaluationRequest): Promise<DecisionResult> {
    const nowMs = this.now();
    const nowIso = isoTime(nowMs);
    let store: Store | undefined;
    let agent: Readonly<AgentRecord> | undefined;
    let storeError: Error | undefined;
    try {
      store = this.getStore();
      agent = await store.agentForDecision(request.agentId);
    } catch (err) {
      storeError = asStoreError(err);
    }
    // The engine decides even when the store is down, so a fail mode never allows what it denies.
    const input: EvaluationInput = {
      request: {
        agentId: request.agentId,
        actionType: request.actionType,
        resource: request.resource,
        parameters: request.parameters,
        context: request.context,
        requireHumanApproval: request.requireHumanApproval,
      },
      agent,
      now: nowMs,
    };
    if (request.actionId !== undefined && store) {
      // A retried request (same idempotency key): answer what was recorded the first time — for
      // the same call only; the key reused for another call is refused.
      const recorded = await store.getAction(request.actionId).catch(() => undefined);
      if (recorded) return answerRecorded(store, recorded, request, request.actionId);
    }
    if (storeError || !store) {
      // Budgets cannot be read: the known decision counts them in memory (for the fail mode).
      const policyDecision = this.decide(input);
      this.usage.record(input, policyDecision);
      throw withKnownDecision(storeError ?? new StoreError('store unavailable'), policyDecision);
    }
    const policy = this.policy;
    const limits = policy instanceof Error ? null : limitsDrawnOn(policy, input);
    if (limits === null) return this.decideAndRecord(store, request, input, nowMs, nowIso, agent, null);
    // Held from reading the budgets' use until the decision is recorded: two calls of this
    // process never both take the last unit (other processes: the store's commit-time check).
    const keys = limits.map((l) => budgetKey(l, request.agentId));
    const held = this.budgetLocks.acquire(keys);
    const release = typeof held === 'function' ? held : await held;
    try {
      return await this.decideAndRecord(store, request, input, nowMs, nowIso, agent, { limits, keys });
    } finally {
      release();
    }
  }

  /** Decide (reading the budgets the call draws on) and record; decide again when what the decision was made on changed. */
  private async decideAndRecord(
    store: Store,
    request: EvaluationRequest,
    input: EvaluationInput,
    nowMs: number,
    nowIso: string,
    agent: Readonly<AgentRecord> | undefined,
    drawn: DrawnBudgets | null,
  ): Promise<DecisionResult> {
    for (let attempt = 1; ; attempt++) {
      let policyDecision: PolicyDecision | undefined;
      let failure: unknown;
      try {
        // The first attempt reads the budgets found before; another (the agent was read again) looks again.
        const budgets = await this.readBudgets(store, input, nowMs, attempt === 1 ? drawn : undefined);
        policyDecision = this.decide(input);
        const result = await this.record(store, request, policyDecision, nowMs, nowIso, agent?.version ?? 0, budgets);
        // Counts velocity (budgets were spent with the decision, in the store).
        this.usage.record(input, result);
        return result;
      } catch (err) {
        failure = err;
      }
      if (failure instanceof ConflictError && !(failure instanceof StaleDecisionError) && request.actionId !== undefined) {
        // The key was recorded between our read and our write (a concurrent call in this
        // process, or another process): its record is the answer, for the same call only.
        const recorded = await store.getAction(request.actionId).catch(() => undefined);
        if (recorded) return answerRecorded(store, recorded, request, request.actionId);
        throw idempotencyKeyReused(request.actionId);
      }
      if (failure instanceof StaleDecisionError && attempt < MAX_DECISION_ATTEMPTS) {
        // What the decision was made on changed (a kill switch, a spent approval, a budget used
        // up by another process): decide again.
        try {
          input.agent = agent = await store.getAgent(request.agentId);
          continue;
        } catch (err) {
          failure = err;
        }
      } else if (failure instanceof StaleDecisionError) {
        failure = new StoreError(`Could not record a decision in ${MAX_DECISION_ATTEMPTS} attempts: ${failure.message}`, { cause: failure });
      }
      if (policyDecision === undefined) {
        // The budgets could not be read: the known decision counts them in memory.
        input.budgetUsage = undefined;
        policyDecision = this.decide(input);
      }
      this.usage.record(input, policyDecision);
      throw withKnownDecision(asStoreError(failure), policyDecision);
    }
  }

  /**
   * Read the use of the budgets the call draws on into `input.budgetUsage`; returns what an
   * allowed decision spends (undefined when the call draws on no budget).
   */
  private async readBudgets(store: Store, input: EvaluationInput, nowMs: number, known: DrawnBudgets | null | undefined): Promise<DecisionBudgets | undefined> {
    let drawn = known;
    if (drawn === undefined) {
      const policy = this.policy;
      const limits = policy instanceof Error ? null : limitsDrawnOn(policy, input);
      drawn = limits && { limits, keys: limits.map((l) => budgetKey(l, input.request.agentId)) };
    }
    if (drawn === null) {
      input.budgetUsage = undefined;
      return undefined;
    }
    const { limits, keys } = drawn;
    const windows = limits.map((limit, i): BudgetWindow => ({ key: keys[i] as string, windowMs: limit.windowMs }));
    const used = await store.budgetUsage(windows, nowMs);
    const usage = new Map<CompiledLimit, number>();
    let lastUnit = false;
    const spends = limits.map((limit, i): BudgetSpend => {
      const n = used[i] ?? 0;
      usage.set(limit, n);
      const mustFit = n < limit.count;
      if (mustFit && n + 1 >= limit.count) lastUnit = true;
      return { key: (windows[i] as BudgetWindow).key, windowMs: limit.windowMs, count: limit.count, mustFit };
    });
    input.budgetUsage = usage;
    return { spends, lastUnit };
  }

  private decide(input: EvaluationInput): PolicyDecision {
    const policy = this.policy;
    return policy instanceof Error ? policyErrorDecision(policy) : evaluatePolicy(policy, input, this.usage);
  }

  private async record(
    store: Store,
    request: EvaluationRequest,
    policyDecision: PolicyDecision,
    nowMs: number,
    nowIso: string,
    agentVersion: number,
    budgets: DecisionBudgets | undefined,
  ): Promise<DecisionResult> {
    const digest = request.digest;
    const actionId = request.actionId ?? timeOrderedId(nowMs);
    const conditions: string[] = policyDecision.mode === 'monitor' ? ['monitor_mode'] : [];
    let decision = policyDecision.decision;
    let approvedBy: DecisionResult['approvedBy'];
    let approvalId: string | undefined;
    let spendsApproval: string | undefined;
    let spendsEdited: { approvalId: string; digest: string } | undefined;

    if (request.editOf !== undefined) {
      // A pending call as a person edited it: theirs to let run, if it is what they approved and
      // the policy does not deny it as edited.
      const edited = await editedCall(store, this.policy, request, request.editOf, nowIso);
      if ('refusal' in edited) {
        policyDecision = withViolation(policyDecision, 'edit_unusable', edited.refusal);
        decision = 'denied';
      } else {
        approvalId = edited.approval.approvalId;
        spendsEdited = request.editOf;
        conditions.push('edited');
        if (decision !== 'denied') {
          const by = edited.approval;
          policyDecision = { ...policyDecision, reason: `Approved with edits by ${by.decidedBy ?? 'unknown'} via ${by.channel ?? 'unknown'}${by.comment ? `: ${by.comment}` : ''}` };
          decision = 'allowed';
          conditions.push('approved');
          approvedBy = { decidedBy: edited.approval.decidedBy ?? 'unknown', channel: edited.approval.channel ?? 'api', decidedAt: edited.approval.decidedAt ?? nowIso };
        }
      }
    } else if (decision === 'pending') {
      // A person already approved this exact call, or granted this agent + action for a while.
      const usable = await store.findUsableApproval(request.agentId, digest, nowIso);
      if (usable && usable.decidedBy && usable.channel) {
        decision = 'allowed';
        conditions.push('approved');
        approvalId = spendsApproval = usable.approvalId;
        approvedBy = { decidedBy: usable.decidedBy, channel: usable.channel, decidedAt: usable.decidedAt ?? nowIso };
      } else {
        const grant = await store.findActiveGrant(request.agentId, request.actionType, nowIso);
        if (grant) {
          decision = 'allowed';
          conditions.push('grant');
          approvedBy = { decidedBy: grant.createdBy, channel: grant.channel, decidedAt: grant.createdAt, grantId: grant.grantId };
        }
      }
    }

    let approval: ApprovalRecord | undefined;
    if (decision === 'pending') {
      approvalId = timeOrderedId(nowMs);
      approval = {
        approvalId,
        actionId,
        agentId: request.agentId,
        actionType: request.actionType,
        resource: request.resource,
        parameters: request.redactedParameters,
        digest,
        status: 'pending',
        reason: policyDecision.reason,
        riskScore: policyDecision.riskScore,
        riskLevel: policyDecision.riskLevel,
        riskFactors: policyDecision.riskFactors,
        matchedRules: policyDecision.matchedRules,
        requiredApprovers: policyDecision.requiredApprovers,
        requestedAt: nowIso,
        expiresAt: new Date(nowMs + policyDecision.approvalTimeoutSeconds * 1000).toISOString(),
      };
    }

    // Built field by field, not with spreads: on this V8 a spread plus extra keys costs about a
    // microsecond per key, and this is the hot path.
    const action: ActionRecord = {
      actionId,
      agentId: request.agentId,
      actionType: request.actionType,
      resource: request.resource,
      parameters: request.redactedParameters,
      context: request.context,
      digest,
      decision,
      reason: policyDecision.reason,
      riskScore: policyDecision.riskScore,
      riskLevel: policyDecision.riskLevel,
      riskFactors: policyDecision.riskFactors,
      matchedRules: policyDecision.matchedRules,
      policyViolations: policyDecision.policyViolations,
      conditions,
      createdAt: nowIso,
    };
    if (approvalId !== undefined) action.approvalId = approvalId;
    if (policyDecision.policyVersion !== undefined) action.policyVersion = policyDecision.policyVersion;
    if (policyDecision.policyName !== undefined) action.policyName = policyDecision.policyName;
    if (policyDecision.policyRevision !== undefined) action.policyRevision = policyDecision.policyRevision;
    const options: RecordDecisionOptions = spendsApproval === undefined ? { agentVersion } : { agentVersion, spendsApproval };
    // Spent by the edited call whatever the policy now says: an approval covers one call.
    if (spendsEdited !== undefined) options.spendsEditedApproval = spendsEdited;
    if (request.actionId !== undefined && !this.keyedDecisionsMayQueue) options.commitNow = true;
    if (budgets !== undefined && decision === 'allowed') {
      options.budgets = budgets.spends;
      // The last unit commits before the call runs, checked against every process's spends.
      if (budgets.lastUnit) options.commitNow = true;
    }
    await store.recordDecision(action, approval, options);

    const result: DecisionResult = {
      decision,
      reason: policyDecision.reason,
      riskScore: policyDecision.riskScore,
      riskLevel: policyDecision.riskLevel,
      riskFactors: policyDecision.riskFactors,
      matchedRules: policyDecision.matchedRules,
      policyViolations: policyDecision.policyViolations,
      requiredApprovers: policyDecision.requiredApprovers,
      approvalTimeoutSeconds: policyDecision.approvalTimeoutSeconds,
      mode: policyDecision.mode,
      actionId,
      agentId: request.agentId,
      actionType: request.actionType,
      resource: request.resource,
      conditions,
      decidedAt: nowIso,
    };
    if (policyDecision.shadowDecision !== undefined) result.shadowDecision = policyDecision.shadowDecision;
    if (decision === 'pending' && policyDecision.elicitationAllowed !== undefined) result.elicitationAllowed = policyDecision.elicitationAllowed;
    if (approvalId !== undefined) result.approvalRequestId = approvalId;
    if (approvedBy !== undefined) result.approvedBy = approvedBy;
    if (action.policyVersion !== undefined) result.policyVersion = action.policyVersion;
    if (action.policyName !== undefined) result.policyName = action.policyName;
    if (action.policyRevision !== undefined) result.policyRevision = action.policyRevision;
    return result;
  }

  /**
   * The policy's budgets that may apply to each agent (engine `limitsOfAgent`) and how much of
   * each is used now: for `ascend agents list`, the server's agent answers and `/metrics`.
   */
  async agentBudgets(agentIds: readonly string[]): Promise<Map<string, AgentBudget[]>> {
    const result = new Map<string, AgentBudget[]>(agentIds.map((id) => [id, []]));
    const policy = this.policy;
    if (policy instanceof Error) return result;
    const nowMs = this.now();
    const wanted: { agentId: string; limit: CompiledLimit; window: BudgetWindow }[] = [];
    for (const agentId of agentIds) {
      for (const limit of limitsOfAgent(policy, agentId)) wanted.push({ agentId, limit, window: { key: budgetKey(limit, agentId), windowMs: limit.windowMs } });
    }
    if (wanted.length === 0) return result;
    const use = await this.getStore().budgetUse(
      wanted.map((w) => w.window),
      nowMs,
    );
    wanted.forEach(({ agentId, limit }, i) => {
      const { used, oldestAtMs } = use[i] as BudgetUse;
      result.get(agentId)?.push({
        ruleId: limit.ruleId,
        scope: limit.scope,
        count: limit.count,
        per: limit.per,
        used,
        resetsAt: oldestAtMs === null ? null : isoTime(oldestAtMs + limit.windowMs),
      });
    });
    return result;
  }

  /** Record how an allowed call ended. */
  async recordOutcome(outcome: OutcomeRecord): Promise<void> {
    try {
      await this.getStore().recordOutcome(outcome);
    } catch (err) {
      throw asStoreError(err);
    }
  }

  async getAction(actionId: string): Promise<ActionRecord | undefined> {
    return this.getStore().getAction(actionId);
  }

  async getApproval(approvalId: string): Promise<ApprovalRecord | undefined> {
    return this.getStore().getApproval(approvalId);
  }

  /** A person's decision on a pending call (edits only where the policy allows them). */
  async decideApproval(decision: Omit<ApprovalDecision, 'now'>): Promise<ApprovalRecord> {
    const policy = this.policy;
    if (decision.edits !== undefined && !(policy instanceof Error) && !policy.allowEdits) {
      throw new ValidationError('edits: the policy does not allow approvers to edit calls (approvals.allowEdits: false); approve or reject the call as it is', [
        { path: 'edits', message: 'not allowed by the policy' },
      ]);
    }
    return this.getStore().decideApproval({ ...decision, now: new Date(this.now()).toISOString() });
  }

  async expireApproval(approvalId: string): Promise<ApprovalRecord> {
    return this.getStore().expireApproval(approvalId, new Date(this.now()).toISOString());
  }

  async consumeApproval(approvalId: string, digest: string): Promise<boolean> {
    return this.getStore().consumeApproval(approvalId, digest, new Date(this.now()).toISOString());
  }

  /** Record a decision or outcome a fail-open client made while it could not reach us (once). */
  async uploadFailOpen(entry: SpoolEntry): Promise<void> {
    const store = this.getStore();
    if (entry.kind === 'decision') {
      if (!(await store.getAction(entry.action.actionId))) await store.recordDecision(entry.action);
    } else if (!(await store.getOutcome(entry.outcome.actionId))) {
      await store.recordOutcome(entry.outcome);
    }
  }

  /** The version of the policy in force (engine `policyVersionOf`); undefined when it failed to load. */
  get policyVersion(): string | undefined {
    const policy = this.policy;
    return policy instanceof Error ? undefined : policy.policyVersion;
  }
}

/** `decision` turned into a denial for `code`. */
function withViolation(decision: PolicyDecision, code: string, reason: string): PolicyDecision {
  return { ...decision, decision: 'denied', reason, policyViolations: [...decision.policyViolations, { code, message: reason }] };
}

function asStoreError(err: unknown): Error {
  if (err instanceof AscendError) return err;
  return new StoreError(`The Ascend store failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
