/**
 * What every integration shares (docs/architecture.md#shared-options): the options of a governed tool, how a tool call
 * becomes a {@link GovernedCall}, and the words a model reads when a call is refused. Adapters
 * only translate their framework's tool shape; the lifecycle is `governCall`'s.
 */
import type { GovernedCall } from '../src/client/govern.js';
import { describeError, isRefusal } from '../src/client/govern.js';
import { ARGUMENTS_COPIED, ARGUMENTS_REFUSED, toCallArguments } from '../src/core/arguments.js';
import { ApprovalTimeoutError, AuthorizationError, issuesSummary, ValidationError } from '../src/core/errors.js';

/** A value, or a function of the tool call's arguments that gives it. */
export type FromArgs<T, A> = T | ((args: A) => T);

/** Options of a governed tool, in every integration. */
export interface GovernToolOptions<A = Record<string, unknown>> {
  /** Action type the policy sees. Default `tool.<name>` (MCP: `mcp.<server>.<tool>`). */
  actionType?: FromArgs<string, A>;
  /** Resource the policy sees. Default `''`. */
  resource?: FromArgs<string, A>;
  /** Extra context for the policy. */
  context?: FromArgs<Record<string, unknown>, A>;
  /** Always ask a person, whatever the policy says. */
  requireHumanApproval?: boolean;
  /** Wait for a person when pending (default true; false refuses a pending call at once). */
  waitForApproval?: boolean;
  approvalTimeoutMs?: number;
  /** A refused call becomes a message to the model (`'message'`) or an error (`'throw'`). */
  onDenied?: 'message' | 'throw';
  /** Argument paths never stored, logged or sent (added to the client's `redact`). */
  redact?: string[];
}

function pick<T, A>(value: FromArgs<T, A> | undefined, args: A): T | undefined {
  return typeof value === 'function' ? (value as (args: A) => T)(args) : value;
}

/** Tool arguments as the parameters the policy and the audit trail see. */
export function asParameters(args: unknown): Record<string, unknown> {
  if (typeof args === 'object' && args !== null && !Array.isArray(args)) return args as Record<string, unknown>;
  return args === undefined ? {} : { input: args };
}

/**
 * The tool's arguments from the parameters as evaluated (the inverse of {@link asParameters}):
 * what the tool is handed, so that it runs exactly what was decided.
 */
export function argumentsOf(args: unknown, evaluated: Record<string, unknown>): unknown {
  if (typeof args === 'object' && args !== null && !Array.isArray(args)) return evaluated;
  return args === undefined ? undefined : evaluated.input;
}

/**
 * The governed call for one invocation of a tool. The tool's arguments are copied here, once:
 * its action type, resource and context are read from that copy, and the copy is what is
 * evaluated and what the tool runs with — a model's arguments with a getter, or an object the
 * framework changes later, cannot make them differ. Arguments the copy refuses make a call that
 * is refused when governed.
 */
export function governedCall<A>(defaultActionType: string, args: A, options: GovernToolOptions<A>, signal?: AbortSignal): GovernedCall {
  const copied = copyArguments(args);
  let call: GovernedCall;
  if (copied instanceof ValidationError) {
    call = { actionType: defaultActionType, resource: '', parameters: asParameters(args), [ARGUMENTS_REFUSED]: copied };
  } else {
    const read = argumentsOf(args, copied) as A; // what the option functions see: the copy, in the tool's shape
    call = { actionType: pick(options.actionType, read) ?? defaultActionType, resource: pick(options.resource, read) ?? '', parameters: copied, [ARGUMENTS_COPIED]: true };
    const context = pick(options.context, read);
    if (context !== undefined) call.context = context;
  }
  // The framework's schema parsed the model's JSON into these (a Date from `z.coerce.date()`).
  call.parametersFromSchema = true;
  if (options.requireHumanApproval !== undefined) call.requireHumanApproval = options.requireHumanApproval;
  if (options.waitForApproval !== undefined) call.waitForApproval = options.waitForApproval;
  if (options.approvalTimeoutMs !== undefined) call.approvalTimeoutMs = options.approvalTimeoutMs;
  if (options.redact !== undefined) call.redact = options.redact;
  if (signal !== undefined) call.signal = signal;
  return call;
}

/** The one copy of a tool call's arguments (`schemaValues`: see `toCallArguments`), or why it was refused. */
export function copyArguments(args: unknown, schemaValues = true): Record<string, unknown> | ValidationError {
  try {
    return toCallArguments(asParameters(args), 'parameters', { schemaValues });
  } catch (err) {
    if (err instanceof ValidationError) return err;
    // A getter or a Proxy that throws: arguments that cannot be read are refused like any other.
    const message = `could not be read (${describeError(err)})`;
    return new ValidationError(`Invalid tool arguments: parameters: ${message}`, [{ path: 'parameters', message }]);
  }
}

/**
 * What a model reads when a call was refused: that the tool did not run, and why, so it can
 * adapt (ask for less, ask the user) rather than retry blindly. Undefined for other errors.
 */
export function refusalMessage(toolName: string, err: unknown): string | undefined {
  if (!isRefusal(err)) return undefined;
  if (err instanceof ValidationError) {
    return `Tool "${toolName}" did not run: its arguments were refused (${issuesSummary(err.issues)}). Send plain JSON arguments.`;
  }
  if (err instanceof ApprovalTimeoutError) {
    return `Tool "${toolName}" did not run: it needed a person's approval and nobody approved it in time. Do not retry it unchanged; tell the user it is waiting for approval.`;
  }
  const e = err as AuthorizationError;
  const rules = e.policyViolations.map((v) => v.ruleId ?? v.code).filter(Boolean);
  return `Tool "${toolName}" did not run: ${e.message.replace(/^[^:]*: /, '')}${rules.length ? ` (policy: ${[...new Set(rules)].join(', ')})` : ''}. The call was not made; change the request or ask the user.`;
}

/** Default action type of a tool named `name`. */
export function toolActionType(name: string): string {
  return `tool.${name}`;
}
