/**
 * Decisions made before a framework runs a tool, kept by tool call id until it does: one
 * decision per call. The AI SDK asks before it runs a tool (v6 `needsApproval`, v7
 * `toolApproval`) and a pending call goes to the app's approval UI; a LangGraph agent pauses on
 * `interrupt()` and is resumed once the approval is decided. When the tool then runs, the kept
 * decision is settled (approved by the app's user, or by a person in Ascend) and spent on the
 * call, and the lifecycle starts at run.
 */
import type { AscendClient, OnApprovalRequired } from '../src/client/client.js';
import { evaluationInput, type GovernedCall } from '../src/client/govern.js';
import type { DecisionResult } from '../src/core/types.js';
import { performance } from 'node:perf_hooks';
import { ARGUMENTS_COPIED, ARGUMENTS_REFUSED } from '../src/core/arguments.js';
import { canonicalJson } from '../src/core/canonical.js';
import { ValidationError } from '../src/core/errors.js';
import { copyArguments } from './shared.js';

/** What the bridge needs from a client. */
export type BridgeClient = Pick<AscendClient, 'evaluateAction' | 'settlePending' | 'govern'>;

interface Entry {
  decision: Promise<DecisionResult>;
  /** The call as decided: its `parameters` are the copy that was evaluated, and that runs. */
  call: GovernedCall;
  /** `performance.now()` when it was decided. */
  decidedAtMs: number;
  /** The app's own approval step holds the call (Ascend allowed it): decide again when it runs. */
  heldByApp?: boolean;
}

const MAX_ENTRIES = 10_000;
/**
 * An allowed decision older than this is made again when its call runs (or is asked about again):
 * a framework runs a call it asked about within moments, so an older one is a tool call id used
 * again, and a block or a policy change made since must stop it.
 */
export const ALLOWED_DECISION_FRESH_MS = 60_000;

/** Decisions made at approval time, by tool call id, until `execute` takes them. */
export class ApprovalBridge {
  private readonly entries = new Map<string, Entry>();
  private readonly allowedFreshMs: number;

  /** `allowedDecisionFreshMs`: see {@link ALLOWED_DECISION_FRESH_MS}. */
  constructor(
    private readonly client: BridgeClient,
    options: { allowedDecisionFreshMs?: number } = {},
  ) {
    this.allowedFreshMs = options.allowedDecisionFreshMs ?? ALLOWED_DECISION_FRESH_MS;
  }

  /**
   * Ascend's decision for this tool call: made once (the SDK may ask again on a resumed call).
   * With `actionId`, a process that did not keep the decision (a restart) gets the recorded one.
   */
  async decide(toolCallId: string, call: GovernedCall, actionId?: string): Promise<DecisionResult> {
    const known = this.entries.get(toolCallId);
    if (known && !(await this.isStaleAllow(known))) return known.decision;
    if (!known && this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    // The one copy of the arguments (integrations make it when they build the call): what is
    // evaluated here, compared when the tool runs, and what it runs with.
    const decided = copiedCall(call);
    // No waiting here: a pending call is the app's to put to its user. (Inside an async function,
    // so arguments refused by the copy are a rejected decision, like any other failure.)
    const decision = (async () => {
      const refused = decided[ARGUMENTS_REFUSED];
      if (refused !== undefined) throw refused;
      return this.client.evaluateAction({
        ...evaluationInput(decided, decided.parameters ?? {}),
        waitForApproval: false,
        ...(actionId !== undefined ? { actionId } : {}),
      });
    })();
    const entry: Entry = { decision, call: decided, decidedAtMs: performance.now() };
    this.entries.set(toolCallId, entry);
    decision.catch(() => {
      if (this.entries.get(toolCallId) === entry) this.entries.delete(toolCallId);
    });
    return decision;
  }

  /**
   * The app's own approval step (a tool's `needsApproval`) holds this call although Ascend allowed
   * it. The wait for the app's user can be long, so the call is decided again when it runs: a
   * block (kill switch) made meanwhile stops it.
   */
  heldByApp(toolCallId: string): void {
    const entry = this.entries.get(toolCallId);
    if (entry) entry.heldByApp = true;
  }

  /** The kept decision of a tool call, if any (not removed). */
  peek(toolCallId: string): Promise<DecisionResult> | undefined {
    return this.entries.get(toolCallId)?.decision;
  }

  /**
   * The call that is now running, as it was decided, with its decision settled (`decided`): a
   * pending one is put to `approver` (the AI SDK: the app's user already said yes, recorded as
   * `app-ui`), else waited for. Its arguments are the copy that was evaluated, not `call`'s: the
   * tool runs exactly what was decided. Undefined when no decision was kept for this call, or
   * when `call` is not the call that was decided (other arguments under the same id): it is then
   * decided afresh.
   */
  async take(
    toolCallId: string | undefined,
    call: GovernedCall,
    signal: AbortSignal | undefined,
    approver?: OnApprovalRequired,
    timeoutMs?: number,
  ): Promise<GovernedCall | undefined> {
    if (toolCallId === undefined) return undefined;
    const entry = this.entries.get(toolCallId);
    if (!entry) return undefined;
    this.entries.delete(toolCallId);
    const now = copiedCall(call);
    if (now[ARGUMENTS_REFUSED] !== undefined || sameCall(entry.call) !== sameCall(now)) return undefined;
    const decision = await entry.decision;
    if (decision.decision === 'allowed' && (entry.heldByApp || this.isOld(entry))) return undefined; // decided afresh
    const settled = decision.decision !== 'pending'
      ? decision
      : await this.client.settlePending(decision, entry.call, {
          ...(approver ? { approver } : {}),
          ...(signal ? { signal } : {}),
          ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        });
    // This run's own options (its signal, how its result is summarised), the decided call's content.
    return {
      ...call,
      actionType: entry.call.actionType,
      resource: entry.call.resource,
      parameters: entry.call.parameters,
      context: entry.call.context,
      [ARGUMENTS_COPIED]: true,
      decided: settled,
    };
  }

  private isOld(entry: Entry): boolean {
    return performance.now() - entry.decidedAtMs >= this.allowedFreshMs;
  }

  /** An allowed decision kept too long to be used (a reused tool call id): made again. */
  private async isStaleAllow(entry: Entry): Promise<boolean> {
    if (!this.isOld(entry)) return false;
    try {
      return (await entry.decision).decision === 'allowed';
    } catch {
      return true;
    }
  }
}

/** `call` with its arguments copied once (integrations have done it already when they built it). */
function copiedCall(call: GovernedCall): GovernedCall {
  if (call[ARGUMENTS_COPIED] === true || call[ARGUMENTS_REFUSED] !== undefined) return call;
  const copied = copyArguments(call.parameters ?? {}, call.parametersFromSchema === true);
  return copied instanceof ValidationError ? { ...call, [ARGUMENTS_REFUSED]: copied } : { ...call, parameters: copied, [ARGUMENTS_COPIED]: true };
}

function sameCall(call: GovernedCall): string {
  return canonicalJson({ actionType: call.actionType, resource: call.resource ?? '', parameters: call.parameters ?? {} });
}

const bridges = new WeakMap<object, ApprovalBridge>();

/** The bridge of a client (one per client, shared by its governed tools and its toolApproval). */
export function bridgeOf(client: BridgeClient): ApprovalBridge {
  let bridge = bridges.get(client);
  if (!bridge) bridges.set(client, (bridge = new ApprovalBridge(client)));
  return bridge;
}
