/**
 * The bridge between Ascend's decision and the AI SDK's own approval flow. The SDK asks before
 * it runs a tool (v6 `needsApproval`, v7 `toolApproval`); Ascend decides then, once per tool
 * call id; a pending call goes to the app's own approval UI, and when the app approved it the
 * SDK runs `execute`, which records that answer in Ascend (channel `app-ui`) and spends the
 * approval on the call. One decision per call: `execute` reuses it.
 */
import type { AscendClient } from '../../src/client.js';
import type { GovernedCall } from '../../src/govern.js';
import type { DecisionResult } from '../../src/types.js';

/** What the bridge needs from a client. */
export type BridgeClient = Pick<AscendClient, 'evaluateAction' | 'settlePending' | 'govern'>;

interface Entry {
  decision: Promise<DecisionResult>;
  call: GovernedCall;
}

const MAX_ENTRIES = 10_000;

/** Decisions made at approval time, by tool call id, until `execute` takes them. */
export class ApprovalBridge {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly client: BridgeClient) {}

  /** Ascend's decision for this tool call: made once (the SDK may ask again on a resumed call). */
  decide(toolCallId: string, call: GovernedCall): Promise<DecisionResult> {
    const known = this.entries.get(toolCallId);
    if (known) return known.decision;
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    // No waiting here: a pending call is the app's to put to its user.
    const decision = this.client.evaluateAction({
      actionType: call.actionType,
      resource: call.resource,
      parameters: call.parameters,
      context: call.context,
      requireHumanApproval: call.requireHumanApproval,
      redact: call.redact,
      waitForApproval: false,
    });
    this.entries.set(toolCallId, { decision, call });
    decision.catch(() => this.entries.delete(toolCallId));
    return decision;
  }

  /**
   * The decision for a tool call the SDK is now running, settled: a pending one was approved in
   * the app's UI (the SDK runs a tool needing approval only then), recorded as `app-ui`.
   * Undefined when no decision was made at approval time.
   */
  async take(toolCallId: string | undefined, signal: AbortSignal | undefined): Promise<DecisionResult | undefined> {
    if (toolCallId === undefined) return undefined;
    const entry = this.entries.get(toolCallId);
    if (!entry) return undefined;
    this.entries.delete(toolCallId);
    const decision = await entry.decision;
    if (decision.decision !== 'pending') return decision;
    return this.client.settlePending(decision, entry.call, {
      approver: () => ({ approved: true, decidedBy: 'app-user', channel: 'app-ui', comment: 'approved in the application' }),
      ...(signal ? { signal } : {}),
    });
  }
}

const bridges = new WeakMap<object, ApprovalBridge>();

/** The bridge of a client (one per client, shared by its governed tools and its toolApproval). */
export function bridgeOf(client: BridgeClient): ApprovalBridge {
  let bridge = bridges.get(client);
  if (!bridge) bridges.set(client, (bridge = new ApprovalBridge(client)));
  return bridge;
}
