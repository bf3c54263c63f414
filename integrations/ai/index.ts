/**
 * `ascend-sdk/ai`: govern Vercel AI SDK tools (v6 and v7). `execute` is wrapped so every call goes
 * through `governCall`: it runs only when allowed (or approved), its completion or failure is
 * recorded, and the SDK's `abortSignal` stops a wait for approval. A refusal becomes the SDK's
 * tool-error (the model reads why) — or, with `onDenied: 'message'`, a plain tool result.
 */
import type { AscendClient } from '../../src/client/client.js';
import type { ApprovalAnswer } from '../../src/client/govern.js';
import { argumentsOf, governedCall, refusalMessage, toolActionType, type GovernToolOptions } from '../shared.js';
import { bridgeOf, type BridgeClient } from '../approval-bridge.js';
import { ARGUMENTS_REFUSED } from '../../src/core/arguments.js';

export type { FromArgs, GovernToolOptions } from '../shared.js';
export type { BridgeClient } from '../approval-bridge.js';

/** The part of an AI SDK tool we touch: `execute(input, { toolCallId, abortSignal, … })`, `needsApproval`. */
export interface AiSdkTool {
  execute?: (input: never, options: never) => unknown;
  needsApproval?: unknown;
}

/** What governing needs from a client. */
export type GovernsCalls = Pick<AscendClient, 'govern'> & Partial<BridgeClient>;

/** Options of {@link governTool}: the shared ones, plus the tool's name when `actionType` is not given. */
export interface AiGovernToolOptions<A = Record<string, unknown>> extends GovernToolOptions<A> {
  /** The tool's key in the tool set (default action type `tool.<name>`). */
  name?: string;
  /**
   * AI SDK v6: set the tool's `needsApproval` from Ascend's decision, so a pending call goes to
   * the app's approval UI (and an approval given there is recorded in Ascend as `app-ui`). A
   * tool that asks for approval itself still asks when Ascend allows the call.
   */
  needsApproval?: boolean;
}

/**
 * The same tool, governed. A tool without `execute` (the client runs it) is returned unchanged:
 * there is nothing on this side to govern.
 */
export function governTool<T extends AiSdkTool>(tool: T, client: GovernsCalls, options: AiGovernToolOptions = {}): T {
  const execute = tool.execute as ((input: unknown, options: { abortSignal?: AbortSignal }) => unknown) | undefined;
  if (!execute) return tool;
  const name = options.name ?? 'tool';
  const bridge = isBridgeClient(client) ? bridgeOf(client) : undefined;
  const governed = async (input: unknown, executeOptions: { abortSignal?: AbortSignal; toolCallId?: string }): Promise<unknown> => {
    try {
      const asked = governedCall(toolActionType(name), input as Record<string, unknown>, options, executeOptions?.abortSignal);
      // Decided already when the SDK asked for approval: the lifecycle starts at run, with the
      // arguments as they were decided then.
      const call = (await bridge?.take(executeOptions?.toolCallId, asked, executeOptions?.abortSignal, approvedInApp)) ?? asked;
      // `execute` gets the input as evaluated, not the object the SDK passed.
      return await client.govern(call, (_decision, evaluated) => execute.call(tool, argumentsOf(input, evaluated) as never, executeOptions));
    } catch (err) {
      const message = options.onDenied === 'message' ? refusalMessage(name, err) : undefined;
      if (message !== undefined) return message;
      throw err; // a refusal (or the tool's own error) becomes the SDK's tool-error; the loop goes on
    }
  };
  const out = { ...tool, execute: governed as unknown as T['execute'] };
  if (options.needsApproval && bridge) {
    const own = tool.needsApproval;
    out.needsApproval = async (input: unknown, approvalOptions: { toolCallId: string }): Promise<boolean> => {
      const call = governedCall(toolActionType(name), input as Record<string, unknown>, options);
      if (call[ARGUMENTS_REFUSED] !== undefined) return false; // refused by execute, with its reason
      const decision = await bridge.decide(approvalOptions.toolCallId, call);
      if (decision.decision === 'pending') return true;
      if (decision.decision === 'denied') return false; // refused by execute, with its reason
      // Allowed by Ascend: the app's own gate stands, and the call is decided again when it runs.
      if (!(await asksForApproval(own, input, approvalOptions))) return false;
      bridge.heldByApp(approvalOptions.toolCallId);
      return true;
    };
  }
  return out;
}

/**
 * Whether a tool's own `needsApproval` (a boolean, or a function of the call) asks the app's user
 * for this call. Ascend adds a gate; it never removes one the app set.
 */
async function asksForApproval(needsApproval: unknown, input: unknown, options: unknown): Promise<boolean> {
  if (typeof needsApproval === 'function') return Boolean(await (needsApproval as (input: unknown, options: unknown) => unknown)(input, options));
  return Boolean(needsApproval);
}

/** The SDK runs a tool that needed approval only after the app's user said yes: record that. */
const approvedInApp = (): ApprovalAnswer => ({ approved: true, decidedBy: 'app-user', channel: 'app-ui', comment: 'approved in the application' });

function isBridgeClient(client: GovernsCalls): client is GovernsCalls & BridgeClient {
  return typeof client.evaluateAction === 'function' && typeof client.settlePending === 'function';
}

/** A v7 tool-approval status. */
export type ToolApprovalAnswer = { type: 'approved' | 'denied' | 'user-approval'; reason?: string };

/** What AI SDK v7 passes a `toolApproval` function (the parts used here). */
export interface ToolApprovalRequest {
  toolCall: { toolCallId: string; toolName: string; input: unknown };
  /** The call's tools: a tool's own `needsApproval` is asked when Ascend allows the call. */
  tools?: Record<string, AiSdkTool | undefined> | undefined;
  messages?: unknown[];
  toolsContext?: Record<string, unknown> | undefined;
}

/**
 * AI SDK v7: pass as `generateText({ toolApproval: ascendToolApproval(client, options, perTool) })`
 * with tools governed by {@link governTools} (same client and options). Ascend decides each call:
 * denied → denied with the reason (the model reads it), pending → the app's approval UI (an
 * approval given there is recorded in Ascend, channel `app-ui`, when the tool runs), allowed →
 * approved, unless the tool asks for approval itself (`needsApproval`): then the app's user is
 * asked as the tool would have asked. A `toolApproval` function replaces the tools' own
 * `needsApproval` in the SDK, so this keeps the app's own gate.
 */
export function ascendToolApproval(
  client: GovernsCalls & BridgeClient,
  options: GovernToolOptions = {},
  perTool: Record<string, GovernToolOptions> = {},
): (request: ToolApprovalRequest) => Promise<ToolApprovalAnswer> {
  const bridge = bridgeOf(client);
  return async ({ toolCall, tools, messages, toolsContext }) => {
    const merged = { ...options, ...perTool[toolCall.toolName] };
    const call = governedCall(toolActionType(toolCall.toolName), toolCall.input as Record<string, unknown>, merged);
    const refused = call[ARGUMENTS_REFUSED];
    if (refused !== undefined) return { type: 'denied', reason: refused.message };
    const decision = await bridge.decide(toolCall.toolCallId, call);
    if (decision.decision === 'denied') return { type: 'denied', reason: decision.reason };
    if (decision.decision === 'pending') return { type: 'user-approval', reason: decision.reason };
    const tool = tools && Object.hasOwn(tools, toolCall.toolName) ? tools[toolCall.toolName] : undefined;
    // The options a v7 tool's own needsApproval gets from the SDK (its context unvalidated here).
    const own = { toolCallId: toolCall.toolCallId, messages: messages ?? [], context: toolsContext?.[toolCall.toolName] };
    if (await asksForApproval(tool?.needsApproval, toolCall.input, own)) {
      bridge.heldByApp(toolCall.toolCallId); // decided again when it runs, after the app's user
      return { type: 'user-approval' };
    }
    return { type: 'approved', reason: decision.reason };
  };
}

/**
 * Govern every tool of a tool set. `options` apply to all; `perTool` overrides them by tool name.
 */
export function governTools<S extends Record<string, AiSdkTool>>(
  tools: S,
  client: GovernsCalls,
  options: Omit<AiGovernToolOptions, 'name'> = {},
  perTool: Partial<Record<keyof S & string, Omit<AiGovernToolOptions, 'name'>>> = {},
): S {
  const out: Record<string, AiSdkTool> = {};
  for (const [name, tool] of Object.entries(tools)) out[name] = governTool(tool, client, { ...options, ...perTool[name], name });
  return out as S;
}
