/**
 * The hosted ASCEND platform as the decision point (`protocol: 'ascend-platform'`): the same
 * Transport contract as `ascend serve`, spoken in the platform's wire API
 * (docs/architecture.md#the-ascend-platform-protocol). Every call goes through the same
 * deadline, retries and circuit breaker as the HTTP transport; the submit has no idempotency key
 * on the platform, so it is sent again only when the platform certainly did not take it (a 429,
 * a refused connection). What the platform cannot do throws {@link UnsupportedError}.
 */
import type { Logger } from 'pino';
import { NotFoundError, UnsupportedError } from '../core/errors.js';
import { timeOrderedId } from '../core/ids.js';
import type { ActionRecord, AgentRecord, ApprovalRecord, DecisionResult, OutcomeRecord, SpoolEntry } from '../core/types.js';
import { denialHere } from '../decision/denial.js';
import type { AgentRegistration, EvaluationRequest } from '../decision/request.js';
import type { ApprovalDecision } from '../store/store.js';
import { isBody, PlatformClient, PlatformRefusedError, type Body } from './platform-client.js';
import { KillSwitchWatch } from './platform-kill-switch.js';
import { approvalStatusOfWord, decisionOfWord, idFrom, platformTimestamp, riskLevelFrom, riskScoreFrom, stringsFrom, violationsFrom } from './platform-wire.js';
import type { BreakerState, CircuitBreakerOptions } from './resilience.js';
import type { Transport, WebhookInfo, WebhookInput } from './transport.js';

/** Options of {@link PlatformTransport}. */
export interface PlatformTransportOptions {
  /** The platform's base URL, e.g. `https://pilot.owkai.app`. */
  apiUrl: string;
  /** An `owkai_…` API key. */
  apiKey: string;
  /** Sign every request with a body (`X-Signature`). */
  signingSecret?: string;
  /** `X-Environment`. Default `production`. */
  environment?: string;
  /** The agent's display name, sent with each submit. */
  agentName: string;
  /** How long a pending call may wait when the platform names no expiry. Default 300 000. */
  approvalTimeoutMs?: number;
  /** How often the kill switch is read. Default 5000. */
  killSwitchPollMs?: number;
  /** Failed reads in a row after which the kill switch counts as unknown (the call fails as unreachable). Default 3. */
  killSwitchMaxFailures?: number;
  /** How often a heartbeat is sent once registered (the platform may ask for another). Default 60 000. */
  heartbeatIntervalMs?: number;
  timeoutMs?: number;
  maxRetries?: number;
  circuitBreaker?: CircuitBreakerOptions;
  retryBaseDelayMs?: number;
  logger?: Logger;
}

/** What this process remembers of a pending call, to describe its approval as ours. */
interface PendingCall {
  request: EvaluationRequest;
  actionId: string;
  decision: DecisionResult;
  requestedAt: string;
  expiresAt: string;
}

/** {@link Transport} to the hosted ASCEND platform. */
export class PlatformTransport implements Transport {
  readonly kind = 'platform' as const;
  private readonly client: PlatformClient;
  private readonly pending = new Map<string, PendingCall>();
  /** Approvals spent by a call of this process: a platform approval lets one call run. */
  private readonly spent = new Set<string>();
  /** Approvals this process stopped waiting for (the platform has no way to expire one). */
  private readonly expired = new Set<string>();
  /** Our action ids of fail-open records uploaded in this process, to the platform's. */
  private readonly uploaded = new Map<string, string>();
  private readonly killSwitch: KillSwitchWatch;
  private heartbeat: NodeJS.Timeout | undefined;
  private heartbeatEveryMs = 60_000;

  constructor(private readonly options: PlatformTransportOptions) {
    this.client = new PlatformClient(options);
    this.killSwitch = new KillSwitchWatch({
      read: () => this.client.call('GET', '/api/sdk/kill-switch/status', undefined, true),
      pollMs: options.killSwitchPollMs ?? 5000,
      maxFailures: options.killSwitchMaxFailures ?? 3,
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }

  /** The circuit breaker's state. */
  get circuitState(): BreakerState {
    return this.client.circuitState;
  }

  async register(agent: AgentRegistration): Promise<AgentRecord> {
    const body = await this.client.call('POST', '/api/registry/agents', {
      agent_id: agent.agentId,
      display_name: agent.agentName,
      agent_type: agent.agentType,
      environment: this.options.environment ?? 'production',
      capabilities: agent.capabilities,
      allowed_resources: agent.allowedResources,
      sdk_version: this.client.version,
      metadata: agent.metadata,
    }, true);
    const record = (isBody(body.agent) ? body.agent : body) as Body;
    this.startHeartbeat(agent.agentId);
    const now = new Date().toISOString();
    const status = typeof record.status === 'string' ? record.status : undefined;
    const result: AgentRecord = {
      agentId: agent.agentId,
      agentName: typeof record.display_name === 'string' ? record.display_name : agent.agentName,
      agentType: typeof record.agent_type === 'string' ? record.agent_type : agent.agentType,
      capabilities: agent.capabilities,
      allowedResources: agent.allowedResources,
      metadata: agent.metadata,
      blocked: status === 'suspended' || status === 'blocked',
      registeredAt: typeof record.created_at === 'string' ? record.created_at : now,
      updatedAt: typeof record.updated_at === 'string' ? record.updated_at : now,
      version: 0,
    };
    if (status !== undefined && status !== 'active') {
      result.warnings = [`the platform registered this agent with status "${status}": an admin may have to activate it in the platform's console before its calls are allowed`];
    }
    return result;
  }

  async evaluate(request: EvaluationRequest): Promise<DecisionResult> {
    const stop = await this.killSwitch.state();
    if (stop.active) return denialHere(request, timeOrderedId(), 'agent_blocked', `The platform's kill switch is on${stop.reason ? `: ${stop.reason}` : ''}; nothing runs`);
    const submit = {
      agent_id: request.agentId,
      agent_name: this.options.agentName,
      action_type: request.actionType,
      resource: request.resource,
      action_details: request.redactedParameters, // secrets never leave the process
      context: request.requireHumanApproval ? { ...request.context, require_human_approval: true } : request.context,
      // The older platform refused a submit without these (422).
      description: request.resource === '' ? request.actionType : `${request.actionType} on ${request.resource}`,
      tool_name: request.actionType,
    };
    let body: Body;
    try {
      body = await this.client.call('POST', '/api/v1/actions/submit', submit, 'unsent');
    } catch (err) {
      // A 402 (kill switch, spend limit) or 403 is the platform's "no": a denial, not a failure.
      if (err instanceof PlatformRefusedError) {
        const denial = denialHere(request, timeOrderedId(), err.status === 402 ? 'agent_blocked' : 'platform_denied', `The platform refused the call: ${err.message}`);
        denial.policyViolations.push(...err.policyViolations);
        return denial;
      }
      throw err;
    }
    return this.decisionOf(request, body);
  }

  /** The platform's answer to a submit as our decision; a word this client does not know is a denial. */
  private decisionOf(request: EvaluationRequest, body: Body): DecisionResult {
    const actionId = idFrom(body.action_id, body.id);
    const word = body.decision ?? body.enforcement_decision ?? body.status;
    let decision = decisionOfWord(word);
    if (actionId === undefined) return denialHere(request, timeOrderedId(), 'unrecognised_answer', 'The platform answered without an action id; denied');
    if (decision === undefined) {
      return denialHere(request, actionId, 'unrecognised_answer', `The platform answered ${JSON.stringify(word ?? null)}, which this client does not understand; denied`);
    }
    const riskScore = riskScoreFrom(body.risk_score);
    const conditions = stringsFrom(body.conditions);
    let reason = typeof body.reason === 'string' && body.reason !== '' ? body.reason : `The platform answered "${String(word)}"`;
    const violations = violationsFrom(body.policy_violations);
    if (decision === 'allowed' && request.requireHumanApproval) {
      // The platform has no such switch: a call that must see a person does not run without one.
      decision = 'denied';
      reason = 'The call requires a person, and the platform allowed it without one; denied';
      violations.push({ code: 'approval_required', message: reason });
    }
    const nowMs = Date.now();
    const expiresAtMs = typeof body.expires_at === 'string' && !Number.isNaN(Date.parse(body.expires_at)) ? Date.parse(body.expires_at) : nowMs + (this.options.approvalTimeoutMs ?? 300_000);
    const result: DecisionResult = {
      decision,
      reason,
      riskScore,
      riskLevel: riskLevelFrom(body.risk_level, riskScore),
      riskFactors: [],
      matchedRules: stringsFrom(body.matched_policies),
      policyViolations: violations,
      requiredApprovers: stringsFrom(body.required_approvers),
      approvalTimeoutSeconds: Math.max(0, Math.round((expiresAtMs - nowMs) / 1000)),
      mode: 'enforce',
      actionId,
      agentId: request.agentId,
      actionType: request.actionType,
      resource: request.resource,
      conditions,
      decidedAt: new Date(nowMs).toISOString(),
    };
    if (decision === 'pending') {
      const approvalId = idFrom(body.approval_request_id, actionId)!;
      result.approvalRequestId = approvalId;
      remember(this.pending, approvalId, { request, actionId, decision: result, requestedAt: result.decidedAt, expiresAt: new Date(expiresAtMs).toISOString() });
    }
    const approvedBy = idFrom(body.approved_by, body.reviewed_by);
    if (decision === 'allowed' && approvedBy !== undefined) result.approvedBy = { decidedBy: approvedBy, channel: 'api', decidedAt: result.decidedAt };
    return result;
  }

  async recordOutcome(outcome: OutcomeRecord): Promise<void> {
    const id = this.uploaded.get(outcome.actionId) ?? outcome.actionId;
    const body =
      outcome.status === 'completed'
        ? { action_id: id, status: 'completed', completed_at: platformTimestamp(new Date(outcome.recordedAt)), result: outcome.result, duration_ms: Math.round(outcome.durationMs) }
        : { action_id: id, status: 'failed', failed_at: platformTimestamp(new Date(outcome.recordedAt)), error: outcome.error ?? 'failed', duration_ms: Math.round(outcome.durationMs) };
    const verb = outcome.status === 'completed' ? 'complete' : 'fail';
    try {
      await this.client.call('POST', `/api/agent-action/${encodeURIComponent(id)}/${verb}`, body, true);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      // The older platform's route.
      await this.client.call('POST', `/api/sdk/action/${encodeURIComponent(id)}/${outcome.status}`, body, true);
    }
  }

  async getAction(actionId: string): Promise<ActionRecord | undefined> {
    let body: Body;
    try {
      body = await this.client.call('GET', `/api/v1/actions/${encodeURIComponent(actionId)}`, undefined, true);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
    const riskScore = riskScoreFrom(body.risk_score);
    return {
      actionId,
      agentId: typeof body.agent_id === 'string' ? body.agent_id : '',
      actionType: typeof body.action_type === 'string' ? body.action_type : '',
      resource: typeof body.resource === 'string' ? body.resource : '',
      parameters: isBody(body.action_details) ? body.action_details : {},
      context: isBody(body.context) ? body.context : {},
      digest: '',
      decision: decisionOfWord(body.decision ?? body.status) ?? 'denied',
      reason: typeof body.reason === 'string' ? body.reason : '',
      riskScore,
      riskLevel: riskLevelFrom(body.risk_level, riskScore),
      riskFactors: [],
      matchedRules: [],
      policyViolations: violationsFrom(body.policy_violations),
      conditions: [],
      createdAt: typeof body.created_at === 'string' ? body.created_at : new Date().toISOString(),
    };
  }

  async getApproval(approvalId: string): Promise<ApprovalRecord | undefined> {
    const known = this.pending.get(approvalId);
    let body: Body;
    try {
      body = await this.client.call('GET', `/api/sdk/approval/${encodeURIComponent(approvalId)}`, undefined, true);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      // The older platform: the approval is the action, read through its status.
      try {
        body = await this.client.call('GET', `/api/v1/actions/${encodeURIComponent(known?.actionId ?? approvalId)}/status`, undefined, true);
      } catch (again) {
        if (again instanceof NotFoundError) return undefined;
        throw again;
      }
    }
    const word = body.status ?? body.decision;
    const status = this.expired.has(approvalId) ? 'expired' : approvalStatusOfWord(word);
    const decidedBy = idFrom(body.approved_by, body.rejected_by, body.reviewed_by);
    const record: ApprovalRecord = {
      approvalId,
      actionId: known?.actionId ?? idFrom(body.action_id) ?? approvalId,
      agentId: known?.request.agentId ?? '',
      actionType: known?.request.actionType ?? '',
      resource: known?.request.resource ?? '',
      parameters: known?.request.redactedParameters ?? {},
      digest: known?.request.digest ?? '',
      // A word this client does not know ends the wait as a rejection, never as a yes.
      status: status ?? 'rejected',
      reason: known?.decision.reason ?? '',
      riskScore: known?.decision.riskScore ?? riskScoreFrom(body.risk_score),
      riskLevel: known?.decision.riskLevel ?? riskLevelFrom(body.risk_level, riskScoreFrom(body.risk_score)),
      riskFactors: [],
      matchedRules: known?.decision.matchedRules ?? [],
      requiredApprovers: known?.decision.requiredApprovers ?? [],
      requestedAt: known?.requestedAt ?? new Date().toISOString(),
      expiresAt: known?.expiresAt ?? new Date(Date.now() + (this.options.approvalTimeoutMs ?? 300_000)).toISOString(),
    };
    if (status === undefined) record.comment = `The platform answered approval status ${JSON.stringify(word ?? null)}, which this client does not understand`;
    else if (typeof body.rejection_reason === 'string') record.comment = body.rejection_reason;
    if (record.status !== 'pending' && record.status !== 'expired') {
      record.decidedBy = decidedBy ?? 'the ASCEND platform';
      record.channel = 'api';
      record.decidedAt = typeof body.decided_at === 'string' ? body.decided_at : new Date().toISOString();
    }
    if (this.spent.has(approvalId)) record.consumedAt = record.decidedAt ?? new Date().toISOString();
    return record;
  }

  decideApproval(_decision: Omit<ApprovalDecision, 'now'>): Promise<ApprovalRecord> {
    return Promise.reject(new UnsupportedError('Approving or rejecting from the client', "people decide in the platform's console"));
  }

  async expireApproval(approvalId: string): Promise<ApprovalRecord> {
    const now = await this.getApproval(approvalId);
    if (!now) throw new NotFoundError('approval', approvalId);
    if (now.status !== 'pending') return now;
    // The platform cannot be told; this process stops waiting, and a late yes runs nothing here.
    remember(this.expired, approvalId);
    this.pending.delete(approvalId);
    return { ...now, status: 'expired' };
  }

  async consumeApproval(approvalId: string, digest: string): Promise<boolean> {
    const known = this.pending.get(approvalId);
    if (!known || known.request.digest !== digest || this.spent.has(approvalId) || this.expired.has(approvalId)) return false;
    const now = await this.getApproval(approvalId);
    if (now?.status !== 'approved') return false;
    remember(this.spent, approvalId);
    this.pending.delete(approvalId);
    return true;
  }

  async uploadFailOpen(entry: SpoolEntry): Promise<void> {
    if (entry.kind === 'decision') {
      // The platform takes no decisions made elsewhere: the call is submitted as it happened,
      // marked, so its audit shows that it ran while the platform could not be asked.
      const a = entry.action;
      const body = await this.client.call('POST', '/api/v1/actions/submit', {
        agent_id: a.agentId,
        agent_name: this.options.agentName,
        action_type: a.actionType,
        resource: a.resource,
        action_details: a.parameters,
        context: { ...a.context, ascend_fail_open: { action_id: a.actionId, decided_at: a.createdAt, reason: a.reason } },
        description: `${a.actionType} (ran in fail-open mode at ${a.createdAt})`,
        tool_name: a.actionType,
      }, 'unsent');
      const id = idFrom(body.action_id, body.id);
      if (id !== undefined) remember(this.uploaded, a.actionId, id);
      return;
    }
    if (!this.uploaded.has(entry.outcome.actionId)) {
      throw new UnsupportedError(`Uploading the outcome of fail-open action ${entry.outcome.actionId} without its decision`, 'the decision was uploaded by an earlier process; the outcome stays in the spool file');
    }
    await this.recordOutcome(entry.outcome);
    this.uploaded.delete(entry.outcome.actionId);
  }

  async configureWebhook(input: WebhookInput): Promise<WebhookInfo> {
    if ((input.format !== undefined && input.format !== 'json') || input.interactive || input.approvalLinks) {
      throw new UnsupportedError('A webhook with a message format, buttons or approval links', 'the platform delivers its own JSON events');
    }
    const body = await this.client.call('POST', '/api/webhooks/configure', { url: input.url, events: input.events ?? [], ...(input.secret ? { secret: input.secret } : {}) }, false);
    const info: WebhookInfo = {
      webhookId: idFrom(body.webhook_id, body.id) ?? '',
      url: typeof body.url === 'string' ? body.url : input.url,
      events: stringsFrom(body.events),
      createdAt: typeof body.created_at === 'string' ? body.created_at : new Date().toISOString(),
    };
    if (typeof body.secret === 'string') info.secret = body.secret;
    return info;
  }

  /** Approvals are polled (the platform pushes nothing to an agent). */
  watch(): () => void {
    return () => undefined;
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.killSwitch.stop();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.client.close();
  }

  /** Heartbeats every interval once registered (never keeping the process alive). */
  private startHeartbeat(agentId: string): void {
    if (this.heartbeat) return;
    const beat = async (): Promise<void> => {
      try {
        const body = await this.client.call('POST', '/api/agents/health/heartbeat', { agent_id: agentId, sdk_version: this.client.version, timestamp: platformTimestamp(), metrics: {} }, true);
        // The platform may ask for another interval, unless the client set its own.
        const seconds = body.heartbeat_interval_seconds;
        if (this.options.heartbeatIntervalMs === undefined && typeof seconds === 'number' && seconds >= 5 && this.heartbeat && Math.round(seconds * 1000) !== this.heartbeatEveryMs) {
          this.heartbeatEveryMs = Math.round(seconds * 1000);
          clearInterval(this.heartbeat);
          this.heartbeat = setInterval(() => void beat(), this.heartbeatEveryMs).unref();
        }
      } catch (err) {
        this.options.logger?.warn({ err: { message: err instanceof Error ? err.message : String(err) } }, 'heartbeat to the platform failed');
      }
    };
    this.heartbeatEveryMs = this.options.heartbeatIntervalMs ?? 60_000;
    this.heartbeat = setInterval(() => void beat(), this.heartbeatEveryMs).unref();
    void beat();
  }
}

/** Calls a process remembers at most (pending, spent, expired, uploaded): a long-lived agent's memory stays bounded. */
const REMEMBERED_MAX = 10_000;

/** Add to a set or map, forgetting the oldest entry beyond {@link REMEMBERED_MAX}. */
function remember<K, V>(into: Set<K> | Map<K, V>, key: K, value?: V): void {
  if (into instanceof Map) into.set(key, value as V);
  else into.add(key);
  if (into.size > REMEMBERED_MAX) into.delete(into.keys().next().value as K);
}
