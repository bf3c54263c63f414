/**
 * AscendClient: configuration, fail mode, logging and the public methods. Embedded by default
 * (policy file + SQLite under `.ascend/`); everything below the Transport is swappable.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { ARGUMENTS_COPIED, toCallArguments } from '../core/arguments.js';
import { callDigest } from '../core/call-digest.js';
import { canonicalJsonFast } from '../core/canonical-fast.js';
import { storableResult } from '../core/storable.js';
import type { LivePolicy } from '../policy/live.js';
import { AscendError, ConflictError, NotFoundError, ServerError, StoreError, ValidationError } from '../core/errors.js';
import { decideEdited, settlePending, waitForDecidedApproval, type PendingCall } from './approvals.js';
import { denied } from '../decision/denial.js';
import { describeError, governCall, type GovernedCall, type LifecycleClient } from './govern.js';
import { createLogger } from './logging.js';
import type * as z from '../core/zod.js';
import {
  ClientOptionsSchema,
  parseInput,
  refuseUnknownKeys,
  WebhookInputSchema,
  type AscendClientOptions,
  type OnApprovalRequired,
} from './options.js';
import { embeddedTransport } from './embedded.js';
import { platformTransport, protocolOf, serverTransport } from './transports.js';
import { Redactor } from '../core/redact.js';
import type { ArgumentEdit } from '../core/argument-edits.js';
import { isoTime } from '../core/time.js';
import { timeOrderedId } from '../core/ids.js';
import { endSpan, startSpan } from './tracing.js';
import { DecisionLog } from './decision-log.js';
import { FailOpenRecords, type UnreachableCall } from './fail-open.js';
import { HttpTransport } from '../transport/http.js';
import { PlatformTransport } from '../transport/platform.js';
import { LocalTransport } from '../transport/local.js';
import type { BreakerState } from '../transport/resilience.js';
import type { Transport, WebhookInfo, WebhookInput } from '../transport/transport.js';
import type { EvaluationRequest } from '../decision/request.js';
import { isUnreachable, knownDecisionOf } from '../decision/unreachable.js';
import {
  FailMode,
  type AgentRecord,
  type ApprovalChannel,
  type ApprovalRecord,
  type DecisionResult,
  type OutcomeRecord,
} from '../core/types.js';
import {
  ActionCompletedInputSchema,
  ActionFailedInputSchema,
  ApprovalDecisionInputSchema,
  EvaluateActionInputSchema,
  RegisterAgentInputSchema,
  type ActionCompletedInput,
  type ActionFailedInput,
  type EvaluateActionInput,
  type RegisterAgentInput,
} from '../core/inputs.js';

export type { AscendClientOptions, ApprovalVerdict, OnApprovalRequired } from './options.js';

const RESULT_PREVIEW_CHARS = 2000;
/** The options the client reads itself (objects and functions: not in the schema); complete by type. */
const OPTIONS_READ_ITSELF = Object.keys({
  policy: true, onApprovalRequired: true, logDestination: true, logger: true, transport: true,
} satisfies Record<Exclude<keyof AscendClientOptions, keyof z.output<typeof ClientOptionsSchema>>, true>);
/** What `evaluateAction` reads itself, beside its input schema's keys. */
const EVALUATE_READS_ITSELF = ['signal', 'onApprovalRequired'] as const;
/** Every key of a {@link GovernedCall} (symbol-keyed marks aside). */
const GOVERNED_CALL_KEYS: ReadonlySet<string> = new Set(
  Object.keys({
    actionType: true, resource: true, parameters: true, context: true, requireHumanApproval: true, waitForApproval: true,
    approvalTimeoutMs: true, signal: true, redact: true, summarize: true, decided: true, parametersFromSchema: true, onApprovalRequired: true,
  } satisfies Record<Exclude<keyof GovernedCall, symbol>, true>),
);

/** The Ascend client: govern tool calls, record outcomes, work with approvals. */
export class AscendClient implements LifecycleClient {
  /** The agent this client speaks for. */
  readonly agentId: string;
  readonly agentName: string;
  readonly failMode: FailMode;
  /** The logger (redacting). */
  readonly logger: Logger;
  private readonly transport: Transport;
  /** The policy file being watched (embedded, with a file). */
  private livePolicy: LivePolicy | undefined;
  /** The `policyVersion` of the latest decision (for {@link policyVersion} of a remote client). */
  private lastPolicyVersion: string | undefined;
  private readonly redactor: Redactor;
  private readonly failOpen: FailOpenRecords;
  private readonly decisionLog: DecisionLog;
  private readonly registrationWarnings = new Set<string>();
  private readonly options: AscendClientOptions;
  private closed = false;
  private released = false;

  constructor(options: AscendClientOptions) {
    parseInput(ClientOptionsSchema, options, 'AscendClient options', OPTIONS_READ_ITSELF);
    this.options = options;
    this.agentId = options.agentId;
    this.agentName = options.agentName ?? options.agentId;
    this.failMode = options.failMode ?? FailMode.CLOSED;
    this.redactor = new Redactor(options.redact ?? []);
    this.logger = createLogger({
      ...(options.logLevel ? { logLevel: options.logLevel } : {}),
      ...(options.jsonLogs !== undefined ? { jsonLogs: options.jsonLogs } : {}),
      ...(options.logDestination ? { destination: options.logDestination } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.redact ? { redact: options.redact } : {}),
    }).child({ agentId: this.agentId });
    const dataDir = options.dataDir ?? process.env.ASCEND_DATA_DIR ?? '.ascend';
    this.decisionLog = new DecisionLog(this.logger);
    this.failOpen = new FailOpenRecords(path.join(dataDir, 'spool'), (entry) => this.transport.uploadFailOpen(entry), this.logger);
    this.transport = options.transport ?? this.buildTransport(options, dataDir);
  }

  private buildTransport(options: AscendClientOptions, dataDir: string): Transport {
    if (protocolOf(options) === 'ascend-platform') return platformTransport(options, this.agentName, this.logger);
    const remote = serverTransport(options, this.logger);
    if (remote) return remote;
    const embedded = embeddedTransport(options, dataDir, this.agentId, this.logger);
    this.livePolicy = embedded.livePolicy;
    return embedded.transport;
  }

  /** Where decisions are made: `local` (embedded engine), `http` (`ascend serve`) or `platform` (the hosted ASCEND platform). */
  get transportKind(): 'local' | 'http' | 'platform' {
    return this.transport.kind;
  }

  /**
   * The version of the policy deciding this client's calls (`sha256:…`, a hash of the policy
   * file's content; decisions carry it as `policyVersion`). Embedded: the policy loaded, or
   * undefined when it failed to load. Remote: the version the server named in its latest answer
   * (undefined before the first).
   */
  get policyVersion(): string | undefined {
    return this.transport instanceof LocalTransport ? this.transport.policyVersion : this.lastPolicyVersion;
  }

  /** The circuit breaker's state (remote only; the embedded engine has none and reads `closed`). */
  get circuitState(): BreakerState {
    return this.transport instanceof HttpTransport || this.transport instanceof PlatformTransport ? this.transport.circuitState : 'closed';
  }

  /** Register (or update) this agent: what it may do and touch. */
  async register(input: RegisterAgentInput = {}): Promise<AgentRecord> {
    const data = parseInput(RegisterAgentInputSchema, input, 'register');
    data.metadata = toCallArguments(data.metadata, 'metadata');
    const record = await this.transport.register({ agentId: this.agentId, agentName: this.agentName, ...data });
    this.logger.info({ agentType: record.agentType }, 'agent registered');
    for (const warning of record.warnings ?? []) {
      if (this.registrationWarnings.has(warning)) continue; // once per client
      this.registrationWarnings.add(warning);
      this.logger.warn({ agentId: this.agentId }, warning);
    }
    return record;
  }

  /**
   * Ask the decision point about one call. Returns the decision with its explanation; with
   * `waitForApproval`, a pending call waits for a person (or the `onApprovalRequired` callback)
   * and comes back allowed or denied.
   */
  async evaluateAction(input: EvaluateActionInput & { signal?: AbortSignal; onApprovalRequired?: OnApprovalRequired; [ARGUMENTS_COPIED]?: true }): Promise<DecisionResult> {
    this.assertOpen();
    const signal = input.signal;
    const approver = chainApprovers(input.onApprovalRequired, this.options.onApprovalRequired);
    const call = parseInput(EvaluateActionInputSchema, input, 'evaluateAction', EVALUATE_READS_ITSELF); // drops `signal`
    // One copy of the arguments, plain JSON data: what the policy, the digest and the audit see
    // (and, through govern(), what the tool receives).
    const parameters = input[ARGUMENTS_COPIED] === true ? call.parameters : toCallArguments(call.parameters);
    const redactor = call.redact ? this.redactorWith(call.redact) : this.redactor;
    const request: EvaluationRequest = {
      agentId: this.agentId,
      actionType: call.actionType,
      resource: call.resource,
      parameters,
      redactedParameters: redactor.redact(parameters),
      context: this.contextOf(call.context),
      requireHumanApproval: call.requireHumanApproval,
      digest: callDigest({ agentId: this.agentId, actionType: call.actionType, resource: call.resource, parameters }),
    };
    if (call.actionId !== undefined) request.actionId = call.actionId;

    let decision: DecisionResult;
    try {
      decision = await this.transport.evaluate(request);
    } catch (err) {
      decision = this.whenUnreachable(err, request);
      this.decisionLog.record(decision);
      return decision;
    }
    this.failOpen.uploadIfAny();
    if (decision.policyVersion !== undefined) this.lastPolicyVersion = decision.policyVersion;

    if (decision.decision === 'pending') {
      decision = await this.resolvePending(decision, { request, redactor }, call.waitForApproval ?? false, call.approvalTimeoutMs, signal, approver);
    }
    this.decisionLog.record(decision);
    return decision;
  }

  /** The call's context as the policy and the audit see it: plain JSON data, checked like the
   * arguments, with the client's `environment` unless the call gives its own. */
  private contextOf(context: Record<string, unknown>): Record<string, unknown> {
    const checked = toCallArguments(context, 'context');
    return this.options.environment === undefined || 'environment' in checked ? checked : { environment: this.options.environment, ...checked };
  }

  private async resolvePending(
    pending: DecisionResult,
    asked: PendingCall,
    wait: boolean,
    timeoutMs: number | undefined,
    signal: AbortSignal | undefined,
    approver: OnApprovalRequired | undefined,
  ): Promise<DecisionResult> {
    const approvalId = pending.approvalRequestId;
    if (!approvalId) return pending;
    this.logger.info(
      { actionId: pending.actionId, approvalId, actionType: pending.actionType, riskScore: pending.riskScore },
      'action is pending approval',
    );
    let decidedInProcess = false;
    if (approver) {
      let verdict = await approver(pending);
      if (verdict?.channel === 'mcp-elicitation' && pending.elicitationAllowed === false) {
        // The policy does not let an MCP client's answer decide this call: a person must.
        this.logger.warn({ approvalId, riskScore: pending.riskScore }, 'ignored an MCP client answer the policy does not accept for this call');
        verdict = undefined;
      }
      if (verdict) {
        decidedInProcess = true;
        await this.decide(approvalId, verdict.approved ? 'approved' : 'rejected', {
          decidedBy: verdict.decidedBy ?? 'callback',
          channel: verdict.channel ?? 'callback',
          ...(verdict.comment ? { comment: verdict.comment } : {}),
          ...(verdict.grantMinutes ? { grantMinutes: verdict.grantMinutes } : {}),
          ...(verdict.approved && verdict.edits ? { edits: verdict.edits } : {}),
        }).catch((err: unknown) => {
          // Someone else decided first: their answer stands and is read below.
          if (!(err instanceof ConflictError)) throw err;
        });
      }
    }
    if (!wait && !decidedInProcess) return pending;
    const waitMs = timeoutMs ?? this.options.approvalTimeoutMs ?? pending.approvalTimeoutSeconds * 1000;
    const span = startSpan('ascend.wait', { 'ascend.approval_id': approvalId, 'ascend.action_id': pending.actionId });
    try {
      const approval = await waitForDecidedApproval(this.transport, approvalId, {
        timeoutMs: waitMs,
        ...(signal ? { signal } : {}),
      });
      span?.setAttribute('ascend.approval_status', approval.status);
      endSpan(span);
      if (approval.status === 'approved' && approval.edits !== undefined) return await decideEdited(this.transport, pending, asked, approval, approval.edits, this.logger);
      return await settlePending(this.transport, pending, approval, asked.request.digest);
    } catch (err) {
      if (err instanceof AscendError && err.code === 'approval_timeout') {
        span?.setAttribute('ascend.approval_status', 'timeout');
        endSpan(span);
        return denied(pending, 'approval_timeout', `Nobody decided within ${waitMs} ms; the call is denied`);
      }
      endSpan(span, err);
      throw err;
    }
  }

  /**
   * Finish a pending decision made earlier for this exact call (approval bridges of
   * integrations): ask `approver`, else wait for a person, then spend the approval on the call.
   * Resolves allowed or denied, like a waiting {@link evaluateAction}.
   */
  async settlePending(
    pending: DecisionResult,
    call: {
      actionType: string;
      resource?: string;
      parameters?: Record<string, unknown>;
      parametersFromSchema?: boolean;
      context?: Record<string, unknown>;
      requireHumanApproval?: boolean;
      redact?: string[];
    },
    options: { approver?: OnApprovalRequired; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<DecisionResult> {
    if (pending.decision !== 'pending') return pending;
    const parameters = toCallArguments(call.parameters ?? {}, 'parameters', { schemaValues: call.parametersFromSchema === true });
    const resource = call.resource ?? '';
    const redactor = call.redact ? this.redactorWith(call.redact) : this.redactor;
    const request: EvaluationRequest = {
      agentId: this.agentId,
      actionType: call.actionType,
      resource,
      parameters,
      redactedParameters: redactor.redact(parameters),
      context: this.contextOf(call.context ?? {}),
      requireHumanApproval: call.requireHumanApproval === true,
      digest: callDigest({ agentId: this.agentId, actionType: call.actionType, resource, parameters }),
    };
    const asked = { request, redactor };
    const settled = await this.resolvePending(pending, asked, true, options.timeoutMs, options.signal, chainApprovers(options.approver, this.options.onApprovalRequired));
    this.decisionLog.record(settled);
    return settled;
  }

  /** Fail mode: the only place an unreachable decision point is turned into an answer. */
  private whenUnreachable(err: unknown, request: UnreachableCall): DecisionResult {
    if (!isUnreachable(err)) throw err;
    const known = knownDecisionOf(err);
    const nowIso = new Date().toISOString();
    this.logger.error({ err: { code: err.code, message: err.message }, failMode: this.failMode }, 'decision point unreachable');
    if (this.failMode === FailMode.CLOSED) throw err;
    if (known && known.decision !== 'allowed') {
      // The engine already said no (or "ask a person", who cannot be asked now): that stands.
      const base: DecisionResult = {
        ...known,
        actionId: timeOrderedId(),
        agentId: request.agentId,
        actionType: request.actionType,
        resource: request.resource,
        conditions: [],
        decidedAt: nowIso,
      };
      return known.decision === 'denied' ? base : denied(base, 'approval_unavailable', 'Needs approval, but approvals cannot be recorded right now');
    }
    return this.failOpen.allow(request, err.code, known);
  }

  /** Upload spooled fail-open records now (normally done after the next successful call). */
  async uploadSpool(): Promise<void> {
    await this.failOpen.uploadNow();
  }

  private readonly callRedactors = new Map<string, Redactor>();

  /** The client's redactor plus a call's own paths (cached: integrations pass the same list each call). */
  private redactorWith(extra: readonly string[]): Redactor {
    const key = extra.join('\u0000');
    let redactor = this.callRedactors.get(key);
    if (!redactor) {
      redactor = new Redactor([...(this.options.redact ?? []), ...extra]);
      if (this.callRedactors.size < 1000) this.callRedactors.set(key, redactor);
    }
    return redactor;
  }

  /**
   * This client's figures in the Prometheus text format, for an agent process's own `/metrics`:
   * `ascend_client_decisions_total{decision}` (`fail_open` counted apart) and
   * `ascend_client_circuit_state` (0 closed, 1 half-open, 2 open; always 0 embedded).
   */
  metrics(): string {
    return this.decisionLog.metrics(this.circuitState);
  }

  /** Record that an allowed action completed. */
  async logActionCompleted(input: ActionCompletedInput): Promise<void> {
    const data = parseInput(ActionCompletedInputSchema, input, 'logActionCompleted');
    await this.requireAction(data.actionId);
    await this.recordOutcome({ actionId: data.actionId, status: 'completed', result: this.summarizeResult(data.result), durationMs: data.durationMs });
  }

  /** Record that an allowed action failed. */
  async logActionFailed(input: ActionFailedInput): Promise<void> {
    const data = parseInput(ActionFailedInputSchema, input, 'logActionFailed');
    await this.requireAction(data.actionId);
    await this.recordOutcome({ actionId: data.actionId, status: 'failed', error: describeError(data.error), durationMs: data.durationMs });
  }

  private async requireAction(actionId: string): Promise<void> {
    if (this.failOpen.has(actionId)) return;
    if (!(await this.transport.getAction(actionId))) throw new NotFoundError('action', actionId);
  }

  /**
   * Record an outcome. If the decision point is unreachable (or the action was decided in
   * fail-open mode) the outcome goes to the durable spool instead — written, not just claimed.
   * @internal used by {@link governCall}
   */
  async recordOutcome(input: Omit<OutcomeRecord, 'recordedAt'>): Promise<void> {
    const outcome: OutcomeRecord = { actionId: input.actionId, status: input.status, durationMs: input.durationMs, recordedAt: isoTime(Date.now()) };
    if (input.result !== undefined) outcome.result = input.result;
    if (input.error !== undefined) outcome.error = input.error;
    if (!this.failOpen.has(outcome.actionId)) {
      try {
        await this.transport.recordOutcome(outcome);
        return;
      } catch (err) {
        // The tool has run: an outcome the server failed on (a 500) is kept on disk and uploaded
        // later, like one it could not be sent at all, rather than reported as the tool failing.
        if (!isUnreachable(err) && !(err instanceof ServerError)) throw err;
        this.logger.warn({ actionId: outcome.actionId, err: { code: err.code } }, 'outcome spooled: the decision point could not record it');
      }
    }
    this.failOpen.keepOutcome(outcome);
  }

  /** @internal A tool result as stored: redacted, and a bounded preview when it is large. */
  summarizeResult(result: unknown): unknown {
    if (result === undefined) return undefined;
    // Plain data first (cycles, throwing getters and class instances made storable), then redacted.
    const redacted = this.redactor.redact(storableResult(result));
    let text: string;
    try {
      text = typeof redacted === 'string' ? redacted : canonicalJsonFast(redacted);
    } catch {
      text = String(redacted);
    }
    if (text.length <= RESULT_PREVIEW_CHARS) return redacted;
    return { truncated: true, chars: text.length, preview: text.slice(0, RESULT_PREVIEW_CHARS) };
  }

  /** The state of an approval request. */
  async checkApproval(approvalRequestId: string): Promise<ApprovalRecord> {
    if (!approvalRequestId) throw new ValidationError('approvalRequestId is required', [{ path: 'approvalRequestId', message: 'required' }]);
    const approval = await this.transport.getApproval(approvalRequestId);
    if (!approval) throw new NotFoundError('approval', approvalRequestId);
    return approval;
  }

  /**
   * Wait until a person decides. Resolves with the decided request (approved, rejected or
   * expired); throws {@link ApprovalTimeoutError} after `timeoutMs` (the request is then expired).
   */
  async waitForApproval(approvalRequestId: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ApprovalRecord> {
    if (options.timeoutMs !== undefined && !(Number.isFinite(options.timeoutMs) && options.timeoutMs > 0)) {
      throw new ValidationError('timeoutMs must be a positive number', [{ path: 'timeoutMs', message: 'must be a positive number' }]);
    }
    await this.checkApproval(approvalRequestId);
    return waitForDecidedApproval(this.transport, approvalRequestId, {
      timeoutMs: options.timeoutMs ?? this.options.approvalTimeoutMs ?? 300_000,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /**
   * Approve a pending request (in-process approvers, tests, tooling). With `edits`, the call runs
   * with its arguments changed as they say, after the policy decides the edited call again.
   */
  async approve(
    approvalRequestId: string,
    by: { decidedBy: string; channel?: ApprovalChannel; comment?: string; grantMinutes?: number; edits?: ArgumentEdit[] },
  ): Promise<ApprovalRecord> {
    return this.decide(approvalRequestId, 'approved', { channel: 'api', ...by });
  }

  /** Reject a pending request. */
  async reject(approvalRequestId: string, by: { decidedBy: string; channel?: ApprovalChannel; comment?: string }): Promise<ApprovalRecord> {
    return this.decide(approvalRequestId, 'rejected', { channel: 'api', ...by });
  }

  private async decide(
    approvalId: string,
    status: 'approved' | 'rejected',
    by: { decidedBy: string; channel: ApprovalChannel; comment?: string; grantMinutes?: number; edits?: ArgumentEdit[] },
  ): Promise<ApprovalRecord> {
    const input = parseInput(ApprovalDecisionInputSchema, { approvalId, ...by }, status === 'approved' ? 'approve' : 'reject');
    const { edits, ...rest } = input;
    const record = await this.transport.decideApproval({ ...rest, status, ...(edits === undefined ? {} : { edits: edits as ArgumentEdit[] }) });
    this.logger.info({ approvalId, status, decidedBy: by.decidedBy, channel: by.channel }, `approval ${status}`);
    return record;
  }

  /**
   * Register a webhook on the server (admin key): signed deliveries of `events` (default all:
   * `action.evaluated`, `action.approved`, `action.denied`, `action.completed`, `action.failed`,
   * `approval.requested`; for a `slack`, `teams` or `email` message: `approval.requested`,
   * `action.approved`, `action.denied`). Give your own `secret` (≥ 16 characters) or read the one made for you
   * from the answer — it is shown once. Receivers check deliveries with `verifyWebhookSignature`.
   */
  async configureWebhook(input: WebhookInput): Promise<WebhookInfo> {
    const data = parseInput(WebhookInputSchema, input, 'configureWebhook');
    if (!this.transport.configureWebhook) {
      throw new ValidationError('Webhooks are delivered by `ascend serve`: set apiUrl to configure one', [{ path: 'apiUrl', message: 'required for webhooks' }]);
    }
    return this.transport.configureWebhook(data);
  }

  /**
   * Govern one tool call: evaluate, wait for a person if needed, run `fn` only if allowed, and
   * record completion or failure. See {@link governCall}.
   */
  async govern<T>(call: GovernedCall, fn: (decision: DecisionResult, parameters: Record<string, unknown>) => T | Promise<T>): Promise<T> {
    // A misspelt key (`params`) would govern a call without what the tool then runs with.
    refuseUnknownKeys(call, GOVERNED_CALL_KEYS, 'govern');
    return governCall(this, call, fn);
  }

  /** Commit every queued record (batched durability) and upload spooled fail-open records. */
  async flush(): Promise<void> {
    await this.failOpen.settled();
    await this.transport.flush();
  }

  /**
   * Flush, then release the store. No new calls are accepted once it is called. If records
   * cannot be written (a full disk) it rejects and keeps them — still retried in the background,
   * and once more at process exit — so call it again once the disk has room. Idempotent.
   */
  async close(): Promise<void> {
    if (this.released) return;
    this.closed = true;
    this.livePolicy?.close();
    try {
      await this.failOpen.settled();
      await this.transport.close();
      this.released = true;
    } catch (err) {
      this.logger.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'close failed; records not yet written are kept and retried');
      throw err;
    } finally {
      this.logger.flush?.();
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError('The Ascend client is closed');
  }
}

/** A call's own approver first; when it leaves the call undecided, the client's. */
function chainApprovers(first: OnApprovalRequired | undefined, second: OnApprovalRequired | undefined): OnApprovalRequired | undefined {
  if (!first || !second) return first ?? second;
  return async (decision) => (await first(decision)) ?? (await second(decision));
}
