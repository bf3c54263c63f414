/**
 * `ascend-sdk/mcp`: govern MCP tool handlers, with the original Python SDK's names and semantics (docs/architecture.md#mcp).
 * - {@link mcpGovernance}`(client, options)(handler)` and {@link highRiskAction} wrap a handler;
 * - {@link MCPGovernanceMiddleware} governs handlers by tool name and lists them;
 * - {@link governMcpServer} governs every tool of an `McpServer`: registered before or after, by
 *   any of the SDK's registration methods, and handlers swapped later with `update`.
 * A refusal is a `CallToolResult` with `isError: true` and the reason. A pending call can be put
 * to the MCP client's user through elicitation when the client supports it (recorded as approver
 * channel `mcp-elicitation`: an answer from the client, not proof of a person, so by default only
 * below high risk); otherwise it waits for an Ascend approval.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { AscendClient, OnApprovalRequired } from '../../src/client/client.js';
import type { ApprovalAnswer } from '../../src/client/govern.js';
import { isRefusal } from '../../src/client/govern.js';
import type { DecisionResult } from '../../src/core/types.js';
import { governedCall, refusalMessage, type GovernToolOptions } from '../shared.js';
import { governToolRegistry, serverNameOf } from './registry.js';

export type { FromArgs, GovernToolOptions } from '../shared.js';

/** The original Python SDK's governance settings, in its own names. */
export interface MCPGovernanceConfig {
  /** Wait for a person when pending (default true). */
  waitForApproval?: boolean;
  /** How long (default 300). */
  approvalTimeoutSeconds?: number;
  /** Accepted for compatibility; Ascend is told of decisions (long-poll, LISTEN/NOTIFY) rather than polling. */
  approvalPollIntervalSeconds?: number;
  /** Throw on a refusal instead of answering `isError: true` (default false). */
  raiseOnDenial?: boolean;
  /** Log every decision at info, not only refusals (default false). */
  logAllDecisions?: boolean;
  /** Decide pending calls in process, before elicitation and Ascend approvals. */
  onApprovalRequired?: OnApprovalRequired;
  /**
   * Ask the MCP client's user (elicitation) when it supports it: `false`, or the highest risk
   * score it may decide (default 69: below high risk). Above it, Ascend approvals decide.
   */
  elicitation?: false | { maxRiskScore: number };
}

/** Options of a governed MCP tool. */
export interface McpGovernOptions<A = Record<string, unknown>> extends GovernToolOptions<A> {
  /** The tool's name (default action type `mcp.<serverName>.<toolName>`). */
  toolName?: string;
  /** Server name in the default action type (default: the name of `server`, else `server`). */
  serverName?: string;
  config?: MCPGovernanceConfig;
  /** The server, for elicitation (set by {@link governMcpServer}). */
  server?: McpServer;
}

/** What governing needs from a client. */
export type GovernsCalls = Pick<AscendClient, 'govern' | 'logger'>;

/** An MCP tool result. */
export interface CallToolResultLike {
  content: Array<{ type: string; text?: string; [key: string]: unknown }>;
  isError?: boolean;
  [key: string]: unknown;
}

/** A tool handler: `(args, extra)`, or `(extra)` for a tool without an input schema. */
export type McpToolHandler = (...args: never[]) => CallToolResultLike | Promise<CallToolResultLike>;

interface HandlerExtra {
  signal?: AbortSignal;
}

/** A tool that answered `isError: true`: recorded as a failure, returned as it was. */
export class ToolReportedError extends Error {
  constructor(readonly result: CallToolResultLike) {
    super(result.content.map((c) => c.text ?? '').join(' ').slice(0, 500) || 'the tool reported an error');
  }
}

/** The text of a tool result, for the audit trail. */
export function textOf(result: unknown): unknown {
  const r = result as CallToolResultLike;
  return Array.isArray(r?.content) ? r.content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n') : result;
}

/** A result that tells the model the call did not run. */
export function errorResult(text: string): CallToolResultLike {
  return { content: [{ type: 'text', text }], isError: true };
}

/** What asking the MCP client's user needs: the low-level `Server` (`McpServer#server`). */
export type Elicitor = Pick<McpServer['server'], 'getClientCapabilities' | 'elicitInput'>;

/** Put a pending call to the MCP client's user, when it can be asked and the risk allows. */
export function elicitingApprover(server: Elicitor | undefined, config: MCPGovernanceConfig, toolName: string, signal: AbortSignal | undefined) {
  return async (decision: DecisionResult): Promise<ApprovalAnswer | void> => {
    const fromConfig = await config.onApprovalRequired?.(decision);
    if (fromConfig) return fromConfig;
    const limit = config.elicitation === undefined ? { maxRiskScore: 69 } : config.elicitation;
    // The policy has the last word on whether a client's answer may approve this call.
    if (!server || limit === false || decision.riskScore > limit.maxRiskScore || decision.elicitationAllowed === false) return undefined;
    if (!server.getClientCapabilities()?.elicitation) return undefined;
    try {
      const answer = await server.elicitInput(
        {
          mode: 'form',
          message: `Allow the tool "${toolName}"? ${decision.reason} (risk ${decision.riskScore}/100: ${decision.riskFactors.map((f) => f.detail).join('; ')})`,
          requestedSchema: { type: 'object', properties: { approve: { type: 'boolean', title: 'Approve this call', description: 'Yes runs the tool once' } }, required: ['approve'] },
        },
        signal ? { signal } : undefined,
      );
      const approved = answer.action === 'accept' && answer.content?.approve === true;
      return { approved, decidedBy: 'mcp-client-user', channel: 'mcp-elicitation', comment: `elicitation: ${answer.action}` };
    } catch {
      return undefined; // the client could not be asked: Ascend approvals decide
    }
  };
}

/** Wrap one handler. */
export function mcpGovernance(client: GovernsCalls, options: McpGovernOptions = {}): <H extends McpToolHandler>(handler: H) => H {
  const config = options.config ?? {};
  const toolName = options.toolName ?? 'tool';
  const serverName = options.serverName ?? serverNameOf(options.server) ?? 'server';
  const shared: GovernToolOptions = {
    ...options,
    waitForApproval: options.waitForApproval ?? config.waitForApproval ?? true,
    ...(options.approvalTimeoutMs ?? config.approvalTimeoutSeconds
      ? { approvalTimeoutMs: options.approvalTimeoutMs ?? config.approvalTimeoutSeconds! * 1000 }
      : {}),
  };
  return <H extends McpToolHandler>(handler: H): H => {
    const governed = async (...params: unknown[]): Promise<CallToolResultLike> => {
      const hasArgs = params.length >= 2;
      const args = (hasArgs ? params[0] : {}) as Record<string, unknown>;
      const extra = (hasArgs ? params[1] : params[0]) as HandlerExtra | undefined;
      const call = governedCall(`mcp.${serverName}.${toolName}`, args, shared, extra?.signal);
      call.summarize = textOf;
      call.onApprovalRequired = elicitingApprover(options.server?.server, config, toolName, extra?.signal);
      try {
        const result = await client.govern(call, async (decision, evaluated) => {
          if (config.logAllDecisions) client.logger.info({ tool: toolName, actionId: decision.actionId, riskScore: decision.riskScore }, `${toolName} allowed`);
          // The handler gets the arguments as evaluated, not the object it was called with.
          const run = handler as unknown as (...p: unknown[]) => CallToolResultLike | Promise<CallToolResultLike>;
          const out = await (hasArgs ? run(evaluated, ...params.slice(1)) : run(...params));
          if (out?.isError) throw new ToolReportedError(out);
          return out;
        });
        return result;
      } catch (err) {
        if (err instanceof ToolReportedError) return err.result;
        if (isRefusal(err)) {
          client.logger.info({ tool: toolName, err: { code: err.code, message: err.message } }, `${toolName} refused`);
          if (config.raiseOnDenial || options.onDenied === 'throw') throw err;
          return errorResult(refusalMessage(toolName, err)!);
        }
        throw err; // the tool's own error (recorded): the MCP SDK answers it as isError
      }
    };
    return governed as unknown as H;
  };
}

/** {@link mcpGovernance} that always asks a person (`requireHumanApproval`). */
export function highRiskAction(client: GovernsCalls, options: McpGovernOptions = {}): <H extends McpToolHandler>(handler: H) => H {
  return mcpGovernance(client, { ...options, requireHumanApproval: true });
}

/** Governs handlers by tool name, and remembers which. */
export class MCPGovernanceMiddleware {
  private readonly names = new Set<string>();

  constructor(
    private readonly client: GovernsCalls,
    private readonly config: MCPGovernanceConfig = {},
    private readonly defaults: Omit<McpGovernOptions, 'toolName' | 'config'> = {},
  ) {}

  /** The governed handler of tool `toolName`. */
  govern<H extends McpToolHandler>(toolName: string, handler: H, options: Omit<McpGovernOptions, 'toolName'> = {}): H {
    this.names.add(toolName);
    return mcpGovernance(this.client, { ...this.defaults, ...options, toolName, config: { ...this.config, ...options.config } })(handler);
  }

  /** Names of the tools governed so far. */
  get governedTools(): string[] {
    return [...this.names];
  }
}

/**
 * Govern every tool of `server`: those registered already and every one registered later, by
 * any of the SDK's methods (`registerTool`, each `tool(...)` overload), and a handler swapped
 * later with `update({ callback })`. The default action type is `mcp.<the server's name>.<tool>`
 * (`new McpServer({ name: 'notes', … })` gives `mcp.notes.<tool>`). `map` gives a tool's
 * options by name (a record, or a function; `false` leaves a tool ungoverned — say so
 * deliberately). Throws a `ValidationError` naming them for task-based tools
 * (`registerToolTask`), which cannot be governed. Returns the server.
 */
export function governMcpServer(
  server: McpServer,
  client: GovernsCalls,
  map: Record<string, McpGovernOptions | false> | ((toolName: string) => McpGovernOptions | false | undefined) = {},
  config: MCPGovernanceConfig = {},
): McpServer {
  governToolRegistry(server, (name) => {
    // Own keys only: a tool named "constructor" must not find Object.prototype's.
    const options = typeof map === 'function' ? map(name) : Object.hasOwn(map, name) ? map[name] : undefined;
    if (options === false) return false;
    const govern = mcpGovernance(client, { ...options, toolName: name, server, config: { ...config, ...options?.config } });
    return (handler) => govern(handler as McpToolHandler);
  });
  return server;
}
