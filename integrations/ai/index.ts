/**
 * `ascend-sdk/ai`: govern Vercel AI SDK tools (v6 and v7). `execute` is wrapped so every call goes
 * through `governCall`: it runs only when allowed (or approved), its completion or failure is
 * recorded, and the SDK's `abortSignal` stops a wait for approval. A refusal becomes the SDK's
 * tool-error (the model reads why) — or, with `onDenied: 'message'`, a plain tool result.
 */
import type { AscendClient } from '../../src/client.js';
import { governedCall, refusalMessage, toolActionType, type GovernToolOptions } from '../shared.js';

export type { GovernToolOptions } from '../shared.js';

/** The part of an AI SDK tool we touch: `execute(input, { abortSignal, … })`. */
export interface AiSdkTool {
  execute?: (input: never, options: never) => unknown;
}

/** What governing needs from a client. */
export type GovernsCalls = Pick<AscendClient, 'govern'>;

/** Options of {@link governTool}: the shared ones, plus the tool's name when `actionType` is not given. */
export interface AiGovernToolOptions<A = Record<string, unknown>> extends GovernToolOptions<A> {
  /** The tool's key in the tool set (default action type `tool.<name>`). */
  name?: string;
}

/**
 * The same tool, governed. A tool without `execute` (the client runs it) is returned unchanged:
 * there is nothing on this side to govern.
 */
export function governTool<T extends AiSdkTool>(tool: T, client: GovernsCalls, options: AiGovernToolOptions = {}): T {
  const execute = tool.execute as ((input: unknown, options: { abortSignal?: AbortSignal }) => unknown) | undefined;
  if (!execute) return tool;
  const name = options.name ?? 'tool';
  const governed = async (input: unknown, executeOptions: { abortSignal?: AbortSignal }): Promise<unknown> => {
    try {
      return await client.govern(governedCall(toolActionType(name), input as Record<string, unknown>, options, executeOptions?.abortSignal), () =>
        execute.call(tool, input, executeOptions),
      );
    } catch (err) {
      const message = options.onDenied === 'message' ? refusalMessage(name, err) : undefined;
      if (message !== undefined) return message;
      throw err; // a refusal (or the tool's own error) becomes the SDK's tool-error; the loop goes on
    }
  };
  return { ...tool, execute: governed as unknown as T['execute'] };
}

/**
 * Govern every tool of a tool set. `options` apply to all; `perTool` overrides them by tool name.
 */
export function governTools<S extends Record<string, AiSdkTool>>(
  tools: S,
  client: GovernsCalls,
  options: GovernToolOptions = {},
  perTool: Partial<Record<keyof S & string, GovernToolOptions>> = {},
): S {
  const out: Record<string, AiSdkTool> = {};
  for (const [name, tool] of Object.entries(tools)) out[name] = governTool(tool, client, { ...options, ...perTool[name], name });
  return out as S;
}
