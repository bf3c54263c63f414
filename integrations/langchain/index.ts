/**
 * `ascend-sdk/langchain`: govern LangChain.js tools.
 * - {@link governTool} / {@link governTools}: the same tool (name, description, schema), governed;
 * - {@link ascendMiddleware}: for `createAgent`, governs every tool call in `wrapToolCall`;
 * - {@link AscendCallbackHandler}: for agents that cannot be wrapped — it can block, because it
 *   sets `raiseError` (LangChain swallows callback errors otherwise).
 * A refusal becomes an error ToolMessage the model reads (or throws, with `onDenied: 'throw'`);
 * a tool's own error is recorded as a failure and returned as an error ToolMessage, since a
 * rethrow would abort the whole agent.
 */
import { createHash } from 'node:crypto';
import { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import type { Serialized } from '@langchain/core/load/serializable';
import { ToolMessage } from '@langchain/core/messages';
import type { RunnableToolLike } from '@langchain/core/runnables';
import { DynamicStructuredTool, isStructuredTool, type StructuredTool, type StructuredToolInterface } from '@langchain/core/tools';
import type { ToolCall } from '@langchain/core/messages/tool';
import { interrupt } from '@langchain/langgraph';
import { createMiddleware } from 'langchain';
import type { AscendClient } from '../../src/client/client.js';
import { describeError, evaluationInput, isRefusal, refusal, type GovernedCall } from '../../src/client/govern.js';
import { ARGUMENTS_REFUSED } from '../../src/core/arguments.js';
import { argumentsOf, asParameters, governedCall, refusalMessage, toolActionType, type GovernToolOptions } from '../shared.js';
import { bridgeOf } from '../approval-bridge.js';
import { denied } from '../../src/decision/denial.js';
import type { DecisionResult } from '../../src/core/types.js';

export type { FromArgs, GovernToolOptions } from '../shared.js';

/** What governing needs from a client. */
export type GovernsCalls = Pick<AscendClient, 'govern' | 'evaluateAction' | 'logActionCompleted' | 'logActionFailed' | 'settlePending'>;

/** The text of a tool's output, for the audit trail. */
function outputText(result: unknown): unknown {
  if (result instanceof ToolMessage) return typeof result.content === 'string' ? result.content : JSON.stringify(result.content);
  return result;
}

/** The content of a `content_and_artifact` tool's `[content, artifact]` result. */
function contentOfPair(result: unknown): unknown {
  return outputText(Array.isArray(result) ? result[0] : result);
}

/** The answer for a call that did not run, or whose tool failed. */
function errorAnswer(text: string, toolCall: ToolCall | undefined, name: string): ToolMessage | string {
  return toolCall?.id ? new ToolMessage({ content: text, tool_call_id: toolCall.id, name, status: 'error' }) : text;
}

/** Run `run` governed; refusals and tool errors become answers the model reads. */
async function governed<T>(
  client: GovernsCalls,
  name: string,
  args: unknown,
  options: GovernToolOptions,
  toolCall: ToolCall | undefined,
  signal: AbortSignal | undefined,
  run: (args: unknown) => Promise<T>,
  decided?: GovernedCall,
  summarize: (result: unknown) => unknown = outputText,
): Promise<T | ToolMessage | string> {
  // A call decided before (an interrupt): its arguments as decided then, not read again.
  const call = decided ?? governedCall(toolActionType(name), args as Record<string, unknown>, options, signal);
  call.summarize = summarize;
  try {
    // The tool is handed the arguments as evaluated, not the object it was called with.
    return await client.govern(call, (_decision, parameters) => run(argumentsOf(args, parameters)));
  } catch (err) {
    if (isRefusal(err)) {
      if (options.onDenied === 'throw') throw err;
      return errorAnswer(refusalMessage(name, err)!, toolCall, name);
    }
    // The tool's own error, already recorded as a failure: tell the model, keep the agent going.
    return errorAnswer(`Tool "${name}" failed: ${describeError(err)}`, toolCall, name);
  }
}

/** The part of LangChain's StructuredTool that runs the tool, after its schema parsed the arguments. */
interface ToolBody {
  _call(args: unknown, runManager: unknown, config?: ToolRunConfig): Promise<unknown>;
  responseFormat?: string;
}

/** What LangChain passes `_call`: the run's config, with the ToolCall when invoked with one. */
interface ToolRunConfig {
  toolCall?: ToolCall;
  signal?: AbortSignal;
}

/** Any tool an agent can be given: a StructuredTool, another StructuredToolInterface, or a runnable made into a tool. */
export type GovernableTool = StructuredToolInterface | RunnableToolLike;

function hasToolBody(tool: GovernableTool): tool is StructuredTool & ToolBody {
  return isStructuredTool(tool) && typeof (tool as Partial<ToolBody>)._call === 'function';
}

/**
 * The same tool — name, description, schema, class — whose every call is governed. Invoked with
 * a ToolCall (as agents do) it answers a ToolMessage; with plain arguments, the tool's output.
 *
 * A LangChain `StructuredTool` (what `tool()` and `DynamicStructuredTool` make) is governed
 * inside its own pipeline: LangChain parses the arguments with the tool's schema and runs its
 * callbacks once, and governance wraps only the step that runs the tool, with the parsed
 * arguments. The result inherits from the tool, so everything else about it is the tool's own.
 * Any other tool (another `StructuredToolInterface`, a runnable's `asTool()`) is wrapped in a
 * `DynamicStructuredTool` with its name, description and schema that invokes it.
 */
export function governTool<T extends StructuredTool>(tool: T, client: GovernsCalls, options?: GovernToolOptions): T;
export function governTool(tool: GovernableTool, client: GovernsCalls, options?: GovernToolOptions): StructuredToolInterface;
export function governTool(tool: GovernableTool, client: GovernsCalls, options: GovernToolOptions = {}): StructuredToolInterface {
  if (!hasToolBody(tool)) return wrapByInvoke(tool, client, options);
  const body = tool._call;
  const governedTool = Object.create(tool) as StructuredTool & ToolBody;
  governedTool._call = async function governedCallOf(this: ToolBody, args, runManager, config) {
    const pairs = this.responseFormat === 'content_and_artifact';
    const run = (evaluated: unknown): Promise<unknown> => body.call(this, evaluated, runManager, config);
    // The audit keeps the content the model reads, not the artifact beside it.
    const answer = await governed(client, tool.name, args, options, config?.toolCall, config?.signal, run, undefined, pairs ? contentOfPair : outputText);
    // A call that did not run has no artifact; LangChain still wants the pair.
    const refused = typeof answer === 'string' || answer instanceof ToolMessage;
    return refused && pairs ? [answer, undefined] : answer;
  };
  return governedTool;
}

/** Any other tool: a DynamicStructuredTool with its schema that invokes it governed. */
function wrapByInvoke(tool: GovernableTool, client: GovernsCalls, options: GovernToolOptions): DynamicStructuredTool {
  return new DynamicStructuredTool({
    name: tool.name,
    description: tool.description ?? '',
    schema: tool.schema as never,
    // The policy sees what the model sent (the raw call's arguments), and the inner tool is given
    // exactly that, as evaluated: its own schema (and transforms) then parse it once.
    func: async (args: unknown, _runManager, config) => {
      const toolCall = (config as { toolCall?: ToolCall } | undefined)?.toolCall;
      const raw: unknown = toolCall ? toolCall.args : args;
      return governed(client, tool.name, raw, options, toolCall, config?.signal, (evaluated) =>
        tool.invoke(toolCall ? { ...toolCall, args: evaluated as Record<string, unknown>, type: 'tool_call' } : (evaluated as never), config),
      );
    },
  });
}

/** Govern a list of tools; `perTool` overrides `options` by tool name. */
export function governTools<T extends StructuredTool>(tools: readonly T[], client: GovernsCalls, options?: GovernToolOptions, perTool?: Record<string, GovernToolOptions>): T[];
export function governTools(
  tools: readonly GovernableTool[],
  client: GovernsCalls,
  options?: GovernToolOptions,
  perTool?: Record<string, GovernToolOptions>,
): StructuredToolInterface[];
export function governTools(
  tools: readonly GovernableTool[],
  client: GovernsCalls,
  options: GovernToolOptions = {},
  perTool: Record<string, GovernToolOptions> = {},
): StructuredToolInterface[] {
  return tools.map((t) => governTool(t, client, { ...options, ...perTool[t.name] }));
}

/** Options of {@link ascendMiddleware}. */
export interface MiddlewareGovernOptions extends GovernToolOptions {
  /**
   * What a pending call does: `wait` in the tool node (default), or `interrupt` — pause the
   * graph with `interrupt()` (needs a checkpointer and a `thread_id`) and go on when the agent is
   * resumed (`new Command({ resume: true })`) after the Ascend approval was decided. The interrupt
   * value is an {@link AscendInterrupt}.
   */
  onPending?: 'wait' | 'interrupt';
}

/** The value of the interrupt a pending call raises with `onPending: 'interrupt'`. */
export interface AscendInterrupt {
  type: 'ascend-approval';
  approvalRequestId: string;
  actionId: string;
  toolName: string;
  toolCallId: string;
  reason: string;
  riskScore: number;
  requiredApprovers: string[];
}

/**
 * Middleware for `createAgent({ middleware: [ascendMiddleware(client)] })`: every tool call of
 * the agent is governed, parallel calls each with its own decision. `perTool` overrides
 * `options` by tool name.
 */
export function ascendMiddleware(client: GovernsCalls, options: MiddlewareGovernOptions = {}, perTool: Record<string, MiddlewareGovernOptions> = {}) {
  return createMiddleware({
    name: 'AscendGovernance',
    wrapToolCall: async (request, handler) => {
      const { toolCall } = request;
      const name = toolCall.name;
      const merged = { ...options, ...perTool[name] };
      const signal = request.runtime?.signal;
      let decided: GovernedCall | undefined;
      if (merged.onPending === 'interrupt' && toolCall.id) {
        decided = await decideOrPause(client, toolCall, name, merged, signal, request.runtime?.configurable?.thread_id);
      }
      const answer = await governed(
        client,
        name,
        toolCall.args,
        merged,
        toolCall,
        signal,
        async (evaluated) => {
          // The tool node runs the arguments as evaluated, not the model's original object.
          const result = await handler({ ...request, toolCall: { ...toolCall, args: evaluated as Record<string, unknown> } });
          // A ToolNode may turn a tool's error into an error message rather than throw: record it as a failure.
          if (result instanceof ToolMessage && result.status === 'error') throw new Error(String(result.content));
          return result;
        },
        decided,
      );
      return typeof answer === 'string' ? new ToolMessage({ content: answer, tool_call_id: toolCall.id ?? name, name, status: 'error' }) : answer;
    },
  });
}

/**
 * Decide once per tool call id; a pending call pauses the graph. LangGraph re-runs the node on
 * resume, so the decision kept by id is found again, and `interrupt()` then returns instead of
 * pausing; the approval, decided meanwhile, is settled and spent on this call.
 */
async function decideOrPause(
  client: GovernsCalls,
  toolCall: ToolCall,
  name: string,
  options: MiddlewareGovernOptions,
  signal: AbortSignal | undefined,
  threadId: string | undefined,
): Promise<GovernedCall | undefined> {
  const bridge = bridgeOf(client);
  const call = governedCall(toolActionType(name), toolCall.args, options, signal);
  // Arguments refused by the copy: no decision to pause for; governing the call refuses it.
  if (call[ARGUMENTS_REFUSED] !== undefined) return undefined;
  // The same action id for this thread's tool call: a run resumed in another process finds the
  // decision (and the approval a person is deciding) instead of asking anew.
  const actionId = threadId === undefined ? undefined : `lg_${createHash('sha256').update(`${threadId}\u0000${toolCall.id}`).digest('hex').slice(0, 40)}`;
  const decision = await bridge.decide(toolCall.id!, call, actionId);
  if (decision.decision === 'pending') {
    const value: AscendInterrupt = {
      type: 'ascend-approval',
      approvalRequestId: decision.approvalRequestId ?? '',
      actionId: decision.actionId,
      toolName: name,
      toolCallId: toolCall.id!,
      reason: decision.reason,
      riskScore: decision.riskScore,
      requiredApprovers: decision.requiredApprovers,
    };
    interrupt(value);
  }
  return bridge.take(toolCall.id, call, signal, undefined, options.approvalTimeoutMs);
}

/**
 * For agents whose tools cannot be wrapped: decides each tool run when it starts (a refusal
 * throws, which stops the run because `raiseError` is set), and records its end or error.
 */
export class AscendCallbackHandler extends BaseCallbackHandler {
  name = 'AscendCallbackHandler';
  /** Without it LangChain swallows our refusal and the tool runs anyway (the original Python SDK's bug). */
  override raiseError = true;
  override awaitHandlers = true;
  private readonly runs = new Map<string, { actionId: string; started: number }>();

  constructor(
    private readonly client: GovernsCalls,
    private readonly options: GovernToolOptions = {},
  ) {
    super();
  }

  override async handleToolStart(tool: Serialized, input: string, runId: string, _parentRunId?: string, _tags?: string[], _metadata?: Record<string, unknown>, runName?: string): Promise<void> {
    const name = runName ?? (tool as { name?: string }).name ?? tool.id[tool.id.length - 1] ?? 'tool';
    let args: unknown = input;
    try {
      args = JSON.parse(input);
    } catch {
      // plain string input
    }
    const call = governedCall(toolActionType(name), asParameters(args), this.options);
    const refused = call[ARGUMENTS_REFUSED];
    if (refused !== undefined) throw refused;
    const decision = await this.client.evaluateAction(evaluationInput(call, call.parameters ?? {}));
    if (decision.decision !== 'allowed') throw refusal(decision, call);
    if (decision.editedParameters !== undefined) {
      // A callback sees a tool start but cannot change what it runs with: the edited call does
      // not run here, rather than the unedited one. Wrap the tool (governTool, ascendMiddleware) to run edits.
      const why = 'An approver edited this call, and AscendCallbackHandler cannot hand edited arguments to a tool; it does not run (govern the tool with governTool or ascendMiddleware to run edits)';
      await this.client.logActionFailed({ actionId: decision.actionId, error: `not run: ${why}`, durationMs: 0 });
      throw refusal(denied(decision, 'edit_unsupported', why), call);
    }
    this.runs.set(runId, { actionId: decision.actionId, started: Date.now() });
  }

  override async handleToolEnd(output: unknown, runId: string): Promise<void> {
    const run = this.runs.get(runId);
    if (!run) return;
    this.runs.delete(runId);
    await this.client.logActionCompleted({ actionId: run.actionId, result: outputText(output), durationMs: Date.now() - run.started });
  }

  override async handleToolError(err: unknown, runId: string): Promise<void> {
    const run = this.runs.get(runId);
    if (!run) return;
    this.runs.delete(runId);
    await this.client.logActionFailed({ actionId: run.actionId, error: describeError(err), durationMs: Date.now() - run.started });
  }
}
