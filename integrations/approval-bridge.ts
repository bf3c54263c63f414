/**
 * Decisions made before a framework runs a tool, kept by tool call id until it does: one
 * decision per call. The AI SDK asks before it runs a tool (v6 `needsApproval`, v7
 * `toolApproval`) and a pending call goes to the app's approval UI; a LangGraph agent pauses on
 * `interrupt()` and is resumed once the approval is decided. When the tool then runs, the kept
 * decision is settled (approved by the app's user, or by a person in Ascend) and spent on the
 * call, and the lifecycle starts at run.
 */
import type { AscendClient, OnApprovalRequired } from '../src/client/client.js';
import type { GovernedCall } from '../src/client/govern.js';
import type { DecisionResult } from '../src/core/types.js';
import { ARGUMENTS_COPIED, toCallArguments } from '../src/core/arguments.js';
import { canonicalJson } from '../src/core/canonical.js';

/** What the bridge needs from a client. */
export type BridgeClient = Pick<AscendClient, 'evaluateAction' | 'settlePending' | 'govern'>;

interface Entry {
  decision: Promise<DecisionResult>;
  call: GovernedCall;
  /** The app's own approval step holds the call (Ascend allowed it): decide again when it runs. */
  heldByApp?: boolean;
}

const MAX_ENTRIES = 10_000;

/** Decisions made at approval time, by tool call id, until `execute` takes them. */
export class ApprovalBridge {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly client: BridgeClient) {}

  /**
   * Ascend's decision for this tool call: made once (the SDK may ask again on a resumed call).
   * With `actionId`, a process that did not keep the decision (a restart) gets the recorded one.
   */
  decide(toolCallId: string, call: GovernedCall, actionId?: string): Promise<DecisionResult> {
    const known = this.entries.get(toolCallId);
    if (known) return known.decision;
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    // No waiting here: a pending call is the app's to put to its user. (Inside an async function,
    // so arguments refused by the copy are a rejected decision, like any other failure.)
    const decision = (async () =>
      this.client.evaluateAction({
        // The same one copy of the arguments as governCall makes (Dates from the tool's schema kept).
        [ARGUMENTS_COPIED]: true,
        actionType: call.actionType,
        resource: call.resource,
        parameters: toCallArguments(call.parameters ?? {}, 'parameters', { schemaValues: call.parametersFromSchema === true }),
        context: call.context,
        requireHumanApproval: call.requireHumanApproval,
        redact: call.redact,
        waitForApproval: false,
        ...(actionId !== undefined ? { actionId } : {}),
      }))();
    this.entries.set(toolCallId, { decision, call });
    decision.catch(() => this.entries.delete(toolCallId));
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
   * The decision for a tool call that is now running, settled: a pending one is put to
   * `approver` (the AI SDK: the app's user already said yes, recorded as `app-ui`), else waited
   * for. Undefined when no decision was kept for this call.
   */
  async take(
    toolCallId: string | undefined,
    call: GovernedCall,
    signal: AbortSignal | undefined,
    approver?: OnApprovalRequired,
    timeoutMs?: number,
  ): Promise<DecisionResult | undefined> {
    if (toolCallId === undefined) return undefined;
    const entry = this.entries.get(toolCallId);
    if (!entry) return undefined;
    this.entries.delete(toolCallId);
    // The decision is for the call that was asked about: a call with other arguments under the
    // same id (a reused id, a changed request) is decided afresh.
    if (sameCall(entry.call) !== sameCall(call)) return undefined;
    const decision = await entry.decision;
    if (entry.heldByApp && decision.decision === 'allowed') return undefined; // decided afresh
    if (decision.decision !== 'pending') return decision;
    return this.client.settlePending(decision, entry.call, {
      ...(approver ? { approver } : {}),
      ...(signal ? { signal } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
  }
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
