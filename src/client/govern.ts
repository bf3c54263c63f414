/**
 * The governed-call lifecycle, in one place: evaluate → (wait for a person) → run → record.
 * Every integration adapts its framework's tool shape to {@link governCall}; none re-implements it.
 */
import { performance } from 'node:perf_hooks';
import { ARGUMENTS_COPIED, ARGUMENTS_REFUSED, toCallArguments } from '../core/arguments.js';
import { ApprovalTimeoutError, AuthorizationError, ValidationError } from '../core/errors.js';
import type { ApprovalChannel, DecisionResult, OutcomeRecord } from '../core/types.js';
import type { EvaluateActionInput } from '../core/inputs.js';
import { endSpan, startSpan, type SpanLike } from './tracing.js';
import type { ArgumentEdit } from '../core/argument-edits.js';

/** One tool call to govern. */
export interface GovernedCall {
  actionType: string;
  resource?: string;
  parameters?: Record<string, unknown>;
  context?: Record<string, unknown>;
  requireHumanApproval?: boolean;
  /** Wait for a person when the call is pending (default true: the tool cannot run otherwise). */
  waitForApproval?: boolean;
  approvalTimeoutMs?: number;
  /** Stops a wait for approval early (the call then throws the abort reason). */
  signal?: AbortSignal;
  /** Extra parameter paths never stored, logged or sent for this call. */
  redact?: string[];
  /** What of the tool's result to record (default: the result itself, redacted and bounded).
   * Integrations pass the text of a framework's message object here. */
  summarize?: (result: unknown) => unknown;
  /**
   * A decision already made for this exact call (an approval bridge decided before the framework
   * ran the tool): the lifecycle starts at run. Anything but `allowed` refuses, as usual.
   */
  decided?: DecisionResult;
  /**
   * The parameters were made by the tool's own schema from the model's JSON (integrations set
   * this): Dates in them are accepted, recorded as their ISO strings. See `toCallArguments`.
   */
  parametersFromSchema?: boolean;
  /** Decide a pending call in process for this call only (before the client's own approver). */
  onApprovalRequired?: (decision: DecisionResult) => ApprovalAnswer | void | Promise<ApprovalAnswer | void>;
  /**
   * Set by integrations that made the one copy of the arguments when they built the call (their
   * action type, resource and context are read from it): `parameters` is that copy, and it is
   * what is evaluated and run — the caller's object is not read again.
   */
  [ARGUMENTS_COPIED]?: true;
  /** Set by integrations whose copy of the arguments was refused: governing the call throws it. */
  [ARGUMENTS_REFUSED]?: ValidationError;
}

/** An in-process answer to a pending call. */
export interface ApprovalAnswer {
  approved: boolean;
  comment?: string;
  /** Who decided (default `callback`). */
  decidedBy?: string;
  /** With `approved`: also grant this agent + action type for this many minutes. */
  grantMinutes?: number;
  /** Through what the answer came (default `callback`; `mcp-elicitation`, `app-ui` from integrations). */
  channel?: ApprovalChannel;
  /** With `approved`: change the arguments first (edit and approve); the edited call is decided again. */
  edits?: ArgumentEdit[];
}

/** What the lifecycle needs from a client. {@link AscendClient} implements it. */
export interface LifecycleClient {
  evaluateAction(input: EvaluateActionInput & { signal?: AbortSignal; onApprovalRequired?: GovernedCall['onApprovalRequired']; [ARGUMENTS_COPIED]?: true }): Promise<DecisionResult>;
  /** Record an outcome of an action this client decided (no existence check: hot path). */
  recordOutcome(outcome: Omit<OutcomeRecord, 'recordedAt'>): Promise<void>;
  /** Make a tool's result storable: redacted and bounded in size. */
  summarizeResult(result: unknown): unknown;
}

/**
 * Run `run` only if the call is allowed (or approved), and record how it ended. `run` receives
 * the decision and the arguments exactly as they were evaluated, digested and recorded: a copy
 * of `call.parameters` as plain JSON data, or, when an approver edited the call, the edited
 * arguments (`decision.editedParameters`). Integrations hand that copy to the tool.
 * - denied → throws {@link AuthorizationError} (the tool never runs);
 * - pending and nobody decides in time → throws {@link ApprovalTimeoutError};
 * - the tool throws → the failure is recorded and the tool's error rethrown unchanged.
 */
export async function governCall<T>(
  client: LifecycleClient,
  call: GovernedCall,
  run: (decision: DecisionResult, parameters: Record<string, unknown>) => T | Promise<T>,
): Promise<T> {
  const root = startSpan('ascend.govern', { 'ascend.action_type': call.actionType });
  const evaluating = startSpan('ascend.evaluate', { 'ascend.action_type': call.actionType }, root);
  let decision: DecisionResult;
  let parameters: Record<string, unknown>;
  try {
    const refused = call[ARGUMENTS_REFUSED];
    if (refused !== undefined) throw refused;
    // The one copy that is evaluated, digested, recorded and handed to the tool (made already
    // when an integration built the call).
    parameters = call[ARGUMENTS_COPIED] === true && call.parameters !== undefined
      ? call.parameters
      : toCallArguments(call.parameters ?? {}, 'parameters', call.parametersFromSchema ? SCHEMA_VALUES : {});
    decision = call.decided ?? await client.evaluateAction(evaluationInput(call, parameters));
  } catch (err) {
    // The call's own content refused as input (arguments, resource, action type): the model
    // reads why, as for a denial. Other bad input (the code's own options) stays an error.
    if (err instanceof ValidationError && err.issues.length > 0 && err.issues.every((i) => CALL_INPUT.test(i.path))) REFUSALS.add(err);
    endSpan(evaluating, err);
    endSpan(root, err);
    throw err;
  }
  if (evaluating) {
    evaluating.setAttribute('ascend.decision', decision.decision);
    evaluating.setAttribute('ascend.risk_score', decision.riskScore);
    evaluating.setAttribute('ascend.action_id', decision.actionId);
    endSpan(evaluating);
  }
  if (decision.decision !== 'allowed') {
    const refused = refusal(decision, call);
    endSpan(root, refused);
    throw refused;
  }
  // A person edited the call before approving it: the edited call is what was decided and recorded.
  if (decision.editedParameters !== undefined) parameters = decision.editedParameters;

  const running = startSpan('ascend.run', { 'ascend.action_id': decision.actionId }, root);
  const started = performance.now();
  let result: T;
  try {
    result = await run(decision, parameters);
  } catch (err) {
    endSpan(running, err);
    await record(client, root, { actionId: decision.actionId, status: 'failed', error: describeError(err), durationMs: performance.now() - started });
    endSpan(root, err);
    throw err;
  }
  endSpan(running);
  await record(client, root, { actionId: decision.actionId, status: 'completed', result: recordedResult(client, call, result), durationMs: performance.now() - started });
  endSpan(root);
  return result;
}

/** What `evaluateAction` is asked about a governed call whose one copy of the arguments is `parameters`. */
export type EvaluationInput = EvaluateActionInput & { signal?: AbortSignal; onApprovalRequired?: GovernedCall['onApprovalRequired']; [ARGUMENTS_COPIED]: true };

/**
 * The `evaluateAction` input for a governed call, its arguments already copied (`parameters`).
 * Field by field rather than a spread: cheaper on the hot path (see transport/local.ts).
 */
export function evaluationInput(call: GovernedCall, parameters: Record<string, unknown>): EvaluationInput {
  return {
    [ARGUMENTS_COPIED]: true,
    actionType: call.actionType,
    resource: call.resource,
    parameters,
    context: call.context,
    requireHumanApproval: call.requireHumanApproval,
    waitForApproval: call.waitForApproval ?? true,
    approvalTimeoutMs: call.approvalTimeoutMs,
    signal: call.signal,
    redact: call.redact,
    onApprovalRequired: call.onApprovalRequired,
  };
}

/**
 * What the audit keeps of a result. The tool has run, so its completion is recorded whatever the
 * result is: one that cannot be summarised (a getter that throws, a summariser that fails) is
 * recorded as a note saying why.
 */
function recordedResult(client: LifecycleClient, call: GovernedCall, result: unknown): unknown {
  try {
    return client.summarizeResult(call.summarize ? call.summarize(result) : result);
  } catch (err) {
    return { unrecordable: true, reason: `the result could not be recorded: ${describeError(err)}` };
  }
}

async function record(client: LifecycleClient, root: SpanLike | undefined, outcome: Omit<OutcomeRecord, 'recordedAt'>): Promise<void> {
  const recording = startSpan('ascend.record', { 'ascend.action_id': outcome.actionId, 'ascend.status': outcome.status }, root);
  try {
    await client.recordOutcome(outcome);
  } catch (err) {
    endSpan(recording, err);
    endSpan(root, err);
    throw err;
  }
  endSpan(recording);
}

const REFUSALS = new WeakSet<object>();
const SCHEMA_VALUES = { schemaValues: true } as const;
/** Paths of a call's own content, as the client (`parameters.x`) or a server (`body.parameters.x`) names them; `(request)`: a value the store refused. */
const CALL_INPUT = /^(?:body\.)?(?:parameters|context|resource|actionType)(?:\.|$)|^\(request\)$/;

/**
 * True for the error {@link governCall} throws when the call may not run (denied, rejected,
 * timed out, or arguments refused as input) — never for an error thrown by the tool itself,
 * even an AuthorizationError.
 * Integrations turn refusals into messages the model can read.
 */
export function isRefusal(err: unknown): err is AuthorizationError | ApprovalTimeoutError | ValidationError {
  return typeof err === 'object' && err !== null && REFUSALS.has(err);
}

/** The error for a call that may not run. */
export function refusal(decision: DecisionResult, call: Pick<GovernedCall, 'approvalTimeoutMs'> = {}): Error {
  let err: Error;
  if (decision.conditions.includes('approval_timeout') && decision.approvalRequestId) {
    err = new ApprovalTimeoutError(decision.approvalRequestId, call.approvalTimeoutMs ?? decision.approvalTimeoutSeconds * 1000);
  } else {
    const what = decision.decision === 'pending' ? 'is waiting for approval' : 'was denied';
    err = new AuthorizationError(`${decision.actionType} ${what}: ${decision.reason}`, {
      decision: decision.decision,
      policyViolations: decision.policyViolations,
      riskScore: decision.riskScore,
      actionId: decision.actionId,
    });
  }
  REFUSALS.add(err);
  return err;
}

/**
 * A tool error as one bounded line. Never throws: whatever a tool threw (an object without a
 * prototype, a getter that throws, a Proxy), its failure is still recorded.
 */
export function describeError(err: unknown): string {
  const text = errorText(err);
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
}

function errorText(err: unknown): string {
  try {
    return err instanceof Error ? `${String(err.name)}: ${String(err.message)}` : String(err);
  } catch {
    // Not describable by its own account: say what kind of value it was.
  }
  try {
    return `a thrown ${Object.prototype.toString.call(err).slice(8, -1)} that cannot be described`;
  } catch {
    return 'a thrown value that cannot be described';
  }
}
