/**
 * AscendClient: configuration, fail mode, logging and the public methods. Embedded by default
 * (policy file + SQLite under `.ascend/`); everything below the Transport is swappable.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { ARGUMENTS_COPIED, toCallArguments } from '../core/arguments.js';
import { callDigest } from '../core/call-digest.js';
import { canonicalJsonFast } from '../core/canonical-fast.js';
import { parsePolicy, STARTER_POLICY_YAML, type CompiledPolicy } from '../engine/index.js';
import { loadPolicyFile } from '../policy/file.js';
import { LivePolicy, type PolicySwitch } from '../policy/live.js';
import { switchRecord } from '../policy/changes.js';
import { AscendError, ConflictError, NotFoundError, PolicyError, ServerError, StoreError, ValidationError } from '../core/errors.js';
import { settlePending, waitForDecidedApproval } from './approvals.js';
import { denied } from '../transport/denial.js';
import { describeError, governCall, type GovernedCall, type LifecycleClient } from './govern.js';
import { createLogger } from './logging.js';
import {
  ClientOptionsSchema,
  nonEmpty,
  parseInput,
  toValidationError,
  WebhookInputSchema,
  type AscendClientOptions,
  type OnApprovalRequired,
} from './options.js';
import { platformTransport, protocolOf, serverTransport } from './transports.js';
import { Redactor } from '../core/redact.js';
import { applyEdits, type ArgumentEdit } from '../core/argument-edits.js';
import { isoTime } from '../core/time.js';
import { timeOrderedId } from '../core/ids.js';
import { endSpan, startSpan } from './tracing.js';
import { defaultDbPath, openSqliteStore } from '../store/sqlite.js';
import { HttpTransport } from '../transport/http.js';
import { PlatformTransport } from '../transport/platform.js';
import { LocalTransport } from '../transport/local.js';
import type { BreakerState } from '../transport/resilience.js';
import { FailOpenSpool } from '../transport/spool.js';
import type { EvaluationRequest, Transport, WebhookInfo, WebhookInput } from '../transport/transport.js';
import { isUnreachable, knownDecisionOf } from '../transport/unreachable.js';
import {
  ActionCompletedInputSchema,
  ActionFailedInputSchema,
  ApprovalDecisionInputSchema,
  EvaluateActionInputSchema,
  FailMode,
  RegisterAgentInputSchema,
  riskLevelOf,
  type ActionCompletedInput,
  type ActionFailedInput,
  type ActionRecord,
  type AgentRecord,
  type ApprovalChannel,
  type ApprovalRecord,
  type DecisionResult,
  type EvaluateActionInput,
  type OutcomeRecord,
  type RegisterAgentInput,
} from '../core/types.js';

export type { AscendClientOptions, ApprovalVerdict, OnApprovalRequired } from './options.js';

/** A pending call as it was asked, with the redactor it was asked with: what an edited approval is applied to. */
interface PendingCall {
  request: EvaluationRequest;
  redactor: Redactor;
}

const RESULT_PREVIEW_CHARS = 2000;

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
  /** The embedded transport, once built (where policy changes are recorded). */
  private localTransport: LocalTransport | undefined;
  /** The `policyVersion` of the latest decision (for {@link policyVersion} of a remote client). */
  private lastPolicyVersion: string | undefined;
  private readonly redactor: Redactor;
  private readonly spool: FailOpenSpool;
  private spoolDirty: boolean;
  private draining: Promise<void> | undefined;
  private readonly failOpenActions = new Set<string>();
  private readonly registrationWarnings = new Set<string>();
  private readonly options: AscendClientOptions;
  private closed = false;
  private released = false;

  constructor(options: AscendClientOptions) {
    const parsed = ClientOptionsSchema.safeParse(options);
    if (!parsed.success) throw toValidationError('AscendClient options', parsed.error);
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
    this.spool = new FailOpenSpool(path.join(dataDir, 'spool'));
    this.spoolDirty = this.spool.hasEntries();
    this.transport = options.transport ?? this.buildTransport(options, dataDir);
  }

  private buildTransport(options: AscendClientOptions, dataDir: string): Transport {
    if (protocolOf(options) === 'ascend-platform') return platformTransport(options, this.agentName, this.logger);
    const remote = serverTransport(options, this.logger);
    if (remote) return remote;
    const audit = options.audit ?? {};
    const loaded = this.loadPolicy(options.policy, dataDir);
    let policy: CompiledPolicy | Error | LivePolicy = loaded.policy;
    if (loaded.file !== undefined && options.watchPolicy !== false) {
      const live = new LivePolicy(loaded.file, loaded.policy, {
        cacheDir: dataDir,
        onSwitch: (change) => this.policySwitched(change),
        onLoadError: (failure) =>
          this.logger.error({ err: { message: failure.error.message, code: (failure.error as AscendError).code } }, 'The changed policy did not load; the policy in force stays'),
      });
      this.livePolicy = policy = live.watch();
    }
    const transport = new LocalTransport({
      policy,
      openStore: () =>
        openSqliteStore(defaultDbPath(dataDir), {
          durability: audit.durability ?? 'sync',
          ...(audit.flushIntervalMs ? { flushIntervalMs: audit.flushIntervalMs } : {}),
          ...(audit.maxBatchSize ? { maxBatchSize: audit.maxBatchSize } : {}),
          onFlushError: (err) => this.logger.error({ err: { code: err.code, message: err.message } }, 'group commit failed'),
        }),
    });
    this.localTransport = transport;
    return transport;
  }

  /** The policy file changed and loaded: say so, and record it in the audit trail. */
  private policySwitched(change: PolicySwitch): void {
    const record = switchRecord(change, change.to.file, `${this.agentId} (pid ${process.pid})`, new Date().toISOString());
    this.logger.info({ from: record.from, to: record.to, file: record.source }, 'policy changed: later decisions use the new version');
    void Promise.resolve()
      .then(() => this.localTransport?.getStore().recordPolicyChange(record))
      .catch((err: unknown) => this.logger.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'could not record the policy change'));
  }

  /** The policy, and the file it comes from (watched for changes; also when it does not exist yet). */
  private loadPolicy(option: string | CompiledPolicy | undefined, dataDir: string): { policy: CompiledPolicy | Error; file?: string } {
    if (option !== undefined && typeof option !== 'string') return { policy: option };
    // As `ascend serve` does: the option, then ASCEND_POLICY, then ./ascend.policy.yaml.
    const policy = option ?? nonEmpty(process.env.ASCEND_POLICY);
    const file = path.resolve(policy ?? 'ascend.policy.yaml');
    try {
      if (policy === undefined && !fs.existsSync(file)) {
        this.logger.warn({ file }, 'No policy file found: using the starter policy (run `ascend init` to write one)');
        return { policy: parsePolicy(STARTER_POLICY_YAML, '<starter policy>'), file };
      }
      return { policy: loadPolicyFile(file, { cacheDir: dataDir }), file };
    } catch (err) {
      // A policy that does not load never allows: every call is denied with this error as reason.
      const error = err instanceof Error ? err : new PolicyError(String(err), { file });
      this.logger.error({ err: { message: error.message, code: (error as AscendError).code } }, 'Policy failed to load; every call will be denied');
      return { policy: error, file };
    }
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
    const call = parseInput(EvaluateActionInputSchema, input, 'evaluateAction'); // drops `signal`
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
      this.logDecision(decision);
      return decision;
    }
    if (this.spoolDirty) this.startDrain();
    if (decision.policyVersion !== undefined) this.lastPolicyVersion = decision.policyVersion;

    if (decision.decision === 'pending') {
      decision = await this.resolvePending(decision, { request, redactor }, call.waitForApproval ?? false, call.approvalTimeoutMs, signal, approver);
    }
    this.logDecision(decision);
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
      if (approval.status === 'approved' && approval.edits !== undefined) return await this.decideEdited(pending, asked, approval, approval.edits);
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
   * A pending call a person approved with edits: the edits applied to this process's own
   * arguments (the person saw and edited the redacted ones), and the edited call decided again
   * by the decision point, which checks it is the call the person approved and spends the
   * approval on it. Allowed: `editedParameters` are what the tool must run with.
   */
  private async decideEdited(pending: DecisionResult, asked: PendingCall, approval: ApprovalRecord, edits: ArgumentEdit[]): Promise<DecisionResult> {
    const original = asked.request;
    let parameters: Record<string, unknown>;
    try {
      parameters = toCallArguments(applyEdits(original.parameters, edits), 'parameters');
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return denied({ ...pending, approvalRequestId: approval.approvalId }, 'edit_unusable', `The approver's edits do not apply to this call's arguments (${why}); the call does not run`);
    }
    const edited: EvaluationRequest = {
      agentId: original.agentId,
      actionType: original.actionType,
      resource: original.resource,
      parameters,
      redactedParameters: asked.redactor.redact(parameters),
      context: original.context,
      requireHumanApproval: original.requireHumanApproval,
      digest: callDigest({ agentId: original.agentId, actionType: original.actionType, resource: original.resource, parameters }),
      editOf: { approvalId: approval.approvalId, digest: original.digest },
    };
    const decision = await this.transport.evaluate(edited);
    if (decision.decision === 'allowed') decision.editedParameters = parameters;
    this.logger.info({ actionId: decision.actionId, approvalId: approval.approvalId, editedBy: approval.decidedBy, decision: decision.decision }, 'the approver edited the call; decided again as edited');
    return decision;
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
    this.logDecision(settled);
    return settled;
  }

  /** Fail mode: the only place an unreachable decision point is turned into an answer. */
  private whenUnreachable(err: unknown, request: { agentId: string; actionType: string; resource: string; redactedParameters: Record<string, unknown>; context: Record<string, unknown>; digest: string }): DecisionResult {
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
    const action: ActionRecord = {
      actionId: timeOrderedId(),
      agentId: request.agentId,
      actionType: request.actionType,
      resource: request.resource,
      parameters: request.redactedParameters,
      context: request.context,
      digest: request.digest,
      decision: 'allowed',
      reason: `Decision point unreachable (${err.code}); allowed by fail-open mode`,
      riskScore: known?.riskScore ?? 0,
      riskLevel: known?.riskLevel ?? riskLevelOf(0),
      riskFactors: known?.riskFactors ?? [],
      matchedRules: known?.matchedRules ?? [],
      policyViolations: [],
      conditions: ['fail_open_mode'],
      createdAt: nowIso,
    };
    // Durable before the tool runs: if the spool cannot be written, nothing runs.
    try {
      this.spool.append({ kind: 'decision', action });
    } catch (spoolErr) {
      throw new StoreError(`Fail-open mode could not write its spool (${spoolErr instanceof Error ? spoolErr.message : String(spoolErr)}); the call does not run`, { cause: spoolErr });
    }
    this.spoolDirty = true;
    this.failOpenActions.add(action.actionId);
    return {
      decision: 'allowed',
      reason: action.reason,
      riskScore: action.riskScore,
      riskLevel: action.riskLevel,
      riskFactors: action.riskFactors,
      matchedRules: action.matchedRules,
      policyViolations: [],
      requiredApprovers: [],
      approvalTimeoutSeconds: known?.approvalTimeoutSeconds ?? 0,
      mode: known?.mode ?? 'enforce',
      actionId: action.actionId,
      agentId: action.agentId,
      actionType: action.actionType,
      resource: action.resource,
      conditions: action.conditions,
      decidedAt: nowIso,
    };
  }

  private startDrain(): void {
    if (this.draining) return;
    this.spoolDirty = false;
    this.draining = this.spool
      .drain((entry) => this.transport.uploadFailOpen(entry))
      .then((count) => {
        if (count > 0) this.logger.info({ count }, 'uploaded fail-open records to the audit trail');
      })
      .catch((err: unknown) => {
        this.spoolDirty = true;
        this.logger.warn({ err: { message: err instanceof Error ? err.message : String(err) } }, 'fail-open upload failed; will retry');
      })
      .finally(() => {
        this.draining = undefined;
      });
  }

  /** Upload spooled fail-open records now (normally done after the next successful call). */
  async uploadSpool(): Promise<void> {
    if (this.spool.hasEntries()) {
      this.spoolDirty = true;
      this.startDrain();
    }
    await this.draining;
  }

  private readonly decisionCounts = new Map<string, number>();
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
    const lines = ['# HELP ascend_client_decisions_total Decisions this client received, by outcome.', '# TYPE ascend_client_decisions_total counter'];
    for (const [decision, n] of this.decisionCounts) lines.push(`ascend_client_decisions_total{decision="${decision}"} ${n}`);
    const state = this.circuitState;
    lines.push(
      '# HELP ascend_client_circuit_state Circuit breaker to the decision point: 0 closed, 1 half-open, 2 open.',
      '# TYPE ascend_client_circuit_state gauge',
      `ascend_client_circuit_state ${state === 'closed' ? 0 : state === 'half_open' ? 1 : 2}`,
    );
    return lines.join('\n') + '\n';
  }

  private logDecision(d: DecisionResult): void {
    const counted = d.conditions.includes('fail_open_mode') ? 'fail_open' : d.decision;
    this.decisionCounts.set(counted, (this.decisionCounts.get(counted) ?? 0) + 1);
    const routine = d.decision === 'allowed' && d.conditions.length === 0;
    // Routine allows log at debug: skip building the record when nobody listens (hot path).
    if (routine && !this.logger.isLevelEnabled('debug')) return;
    const fields = {
      actionId: d.actionId,
      actionType: d.actionType,
      resource: d.resource,
      decision: d.decision,
      riskScore: d.riskScore,
      matchedRules: d.matchedRules,
      conditions: d.conditions,
    };
    if (routine) this.logger.debug(fields, d.reason);
    else this.logger.info({ ...fields, violations: d.policyViolations.map((v) => v.code) }, d.reason);
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
    if (this.failOpenActions.has(actionId)) return;
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
    if (!this.failOpenActions.has(outcome.actionId)) {
      try {
        await this.transport.recordOutcome(outcome);
        return;
      } catch (err) {
        // The tool has run: an outcome the server failed on (a 500) is kept on disk and uploaded
        // later, like one it could not be sent at all, rather than reported as the tool failing.
        if (!isUnreachable(err) && !(err instanceof ServerError)) throw err;
        this.logger.warn({ actionId: outcome.actionId, err: { code: err.code } }, 'outcome spooled: the decision point could not record it');
      }
    } else {
      this.failOpenActions.delete(outcome.actionId);
    }
    this.spool.append({ kind: 'outcome', outcome });
    this.spoolDirty = true;
  }

  /** @internal A tool result as stored: redacted, and a bounded preview when it is large. */
  summarizeResult(result: unknown): unknown {
    if (result === undefined) return undefined;
    const redacted = this.redactor.redact(result);
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
    return governCall(this, call, fn);
  }

  /** Commit every queued record (batched durability) and upload spooled fail-open records. */
  async flush(): Promise<void> {
    await this.draining;
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
      await this.draining;
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
