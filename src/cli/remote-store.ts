/**
 * The CLI against a server: the part of the {@link Store} the `ascend` commands use (agents,
 * approvals, grants, audit), over the HTTP API with the user's API key. The key's role and
 * organisation apply, as for any client: an approver key approves, an agent key cannot.
 */
import * as z from 'zod';
import { ValidationError } from '../core/errors.js';
import type { ApprovalDecision, ApprovalFilter, AuditBase, AuditQuery, BudgetUse, Store } from '../store/store.js';
import { approvalVerdictBody, HttpTransport, undefinedIfNotFound } from '../transport/http.js';
import type { AgentRecord, ApiKeyRecord, ApprovalRecord, AuditEvent, AuditVerification, ChainStart, GrantRecord, PolicyHistoryEntry, StoredPolicy } from '../core/types.js';
import type { ReplayResult } from '../engine/replay.js';
import type { TrailVerification, TrailVerificationOptions } from '../store/audit-checkpoints.js';
import { AgentRecordSchema, ApprovalRecordSchema, AuditEventSchema, TrailVerificationSchema, GrantRecordSchema, PolicyHistoryEntrySchema } from '../core/wire.js';

/** How often `watch` listeners are called (the commands re-read on each call). */
const POLL_MS = 1000;

function notRemoteError(what: string): ValidationError {
  return new ValidationError(`${what} is not available against a server from the CLI`, [{ path: 'api-url', message: 'run this command on the server database (--data-dir) instead' }]);
}

function notRemote(what: string): never {
  throw notRemoteError(what);
}

/** {@link Store} over the HTTP API (the operations the CLI needs). */
export class RemoteStore implements Store {
  readonly kind = 'http';
  private readonly http: HttpTransport;

  constructor(options: { apiUrl: string; apiKey: string; signingSecret?: string; timeoutMs?: number }) {
    this.http = new HttpTransport({ ...options, maxRetries: 2 });
  }


  auditBase(): Promise<AuditBase> {
    return Promise.reject(notRemoteError('Archiving the audit trail'));
  }

  planArchive(): Promise<undefined> {
    return Promise.reject(notRemoteError('Archiving the audit trail'));
  }

  removeArchived(): Promise<AuditBase> {
    return Promise.reject(notRemoteError('Archiving the audit trail'));
  }

  recordCheckpoint(): Promise<void> {
    return Promise.reject(notRemoteError('Checkpointing the audit trail'));
  }

  registerCheckpointKey(): Promise<void> {
    return Promise.reject(notRemoteError('Registering a checkpoint key'));
  }

  budgetUsage(): Promise<number[]> {
    return Promise.reject(notRemoteError('Budget use'));
  }

  budgetUse(): Promise<BudgetUse[]> {
    return Promise.reject(notRemoteError('Budget use'));
  }

  recordPolicyChange(): Promise<void> {
    return Promise.reject(notRemoteError('Recording a policy change'));
  }

  /** Push a policy's text (`POST /v1/policy`, admin key): the server checks it, stores it and adopts it. */
  async pushPolicyText(text: string, source: string): Promise<{ policyVersion: string | null; pushed: { id: number } | null }> {
    return this.http.call('POST', '/v1/policy', { text, source }, z.object({ policyVersion: z.string().nullable(), pushed: z.object({ id: z.number() }).nullable() }), false);
  }

  /** The text of the policy in force on the server (`GET /v1/policy/text`). */
  async policyText(): Promise<{ policyVersion: string; text: string }> {
    return this.http.call('GET', '/v1/policy/text', undefined, z.object({ policyVersion: z.string(), text: z.string() }), true);
  }

  /** The server's policy switches, newest first (`GET /v1/policy/history`). */
  async policyHistory(limit: number): Promise<PolicyHistoryEntry[]> {
    const answer = await this.http.call('GET', `/v1/policy/history?limit=${limit}`, undefined, z.object({ changes: z.array(PolicyHistoryEntrySchema) }), true);
    return answer.changes as PolicyHistoryEntry[];
  }

  /** Replay the organisation's history on the server against a candidate (`POST /v1/policy/replay`). */
  async replayPolicy(body: { text: string; source: string; since?: string; until?: string; agent?: string }): Promise<ReplayResult> {
    return (await this.http.call('POST', '/v1/policy/replay', body, z.record(z.string(), z.unknown()), true)) as unknown as ReplayResult;
  }

  /** `ascend policy push` talks to `POST /v1/policy` itself (the server works out the change). */
  pushPolicy(): Promise<StoredPolicy> {
    return Promise.reject(notRemoteError('Storing a policy directly'));
  }

  latestPolicy(): Promise<StoredPolicy | undefined> {
    return Promise.reject(notRemoteError('Reading the stored policy directly'));
  }

  async listAgents(): Promise<AgentRecord[]> {
    const answer = await this.http.call('GET', '/v1/agents', undefined, z.object({ agents: z.array(AgentRecordSchema) }), true);
    return answer.agents as AgentRecord[];
  }

  async getAgent(agentId: string): Promise<AgentRecord | undefined> {
    return (await undefinedIfNotFound(this.http.call('GET', `/v1/agents/${encodeURIComponent(agentId)}`, undefined, AgentRecordSchema, true))) as AgentRecord | undefined;
  }

  async setAgentBlocked(agentId: string, blocked: boolean, reason: string): Promise<AgentRecord> {
    const path = `/v1/agents/${encodeURIComponent(agentId)}/${blocked ? 'block' : 'unblock'}`;
    return (await this.http.call('POST', path, blocked ? { reason } : {}, AgentRecordSchema, true)) as AgentRecord;
  }

  async listApprovals(filter: ApprovalFilter = {}): Promise<ApprovalRecord[]> {
    const query = new URLSearchParams();
    if (filter.status) query.set('status', filter.status);
    if (filter.agentId) query.set('agentId', filter.agentId);
    query.set('limit', String(Math.min(filter.limit ?? 1000, 1000)));
    const answer = await this.http.call('GET', `/v1/approvals?${query}`, undefined, z.object({ approvals: z.array(ApprovalRecordSchema) }), true);
    return answer.approvals as ApprovalRecord[];
  }

  async getApproval(approvalId: string): Promise<ApprovalRecord | undefined> {
    return (await undefinedIfNotFound(this.http.call('GET', `/v1/approvals/${encodeURIComponent(approvalId)}`, undefined, ApprovalRecordSchema, true))) as
      | ApprovalRecord
      | undefined;
  }

  async decideApproval(decision: ApprovalDecision): Promise<ApprovalRecord> {
    const body = approvalVerdictBody(decision);
    const verb = decision.status === 'approved' ? 'approve' : 'reject';
    return (await this.http.call('POST', `/v1/approvals/${encodeURIComponent(decision.approvalId)}/${verb}`, body, ApprovalRecordSchema, false)) as ApprovalRecord;
  }

  async listGrants(filter: { activeAt?: string; agentId?: string } = {}): Promise<GrantRecord[]> {
    const query = new URLSearchParams();
    if (filter.agentId) query.set('agentId', filter.agentId);
    if (filter.activeAt) query.set('active', 'true'); // in force now, by the server's clock
    const answer = await this.http.call('GET', `/v1/grants?${query}`, undefined, z.object({ grants: z.array(GrantRecordSchema) }), true);
    return answer.grants as GrantRecord[];
  }

  async revokeGrant(grantId: string): Promise<GrantRecord> {
    return (await this.http.call('DELETE', `/v1/grants/${encodeURIComponent(grantId)}`, undefined, GrantRecordSchema, false)) as GrantRecord;
  }

  async readAudit(q: AuditQuery = {}): Promise<AuditEvent[]> {
    const query = new URLSearchParams();
    if (q.afterSeq !== undefined) query.set('afterSeq', String(q.afterSeq));
    if (q.beforeSeq !== undefined) query.set('beforeSeq', String(q.beforeSeq));
    query.set('limit', String(Math.min(q.limit ?? 5000, 5000)));
    if (q.agentId) query.set('agentId', q.agentId);
    if (q.actionId) query.set('actionId', q.actionId);
    if (q.actionType) query.set('actionType', q.actionType);
    if (q.decision) query.set('decision', q.decision);
    for (const type of q.types ?? []) query.append('type', type);
    if (q.since) query.set('since', q.since);
    if (q.until) query.set('until', q.until);
    if (q.newestFirst) query.set('order', 'desc');
    const answer = await this.http.call('GET', `/v1/audit?${query}`, undefined, z.object({ events: z.array(AuditEventSchema) }), true);
    return answer.events as AuditEvent[];
  }

  /** The server verifies from its newest trusted checkpoint; a start cannot be chosen from here. */
  async verifyAudit(from?: ChainStart): Promise<AuditVerification> {
    if (from !== undefined && from.seq > 0) throw notRemoteError('Verifying from a chosen start');
    return (await this.http.call('GET', '/v1/audit/verify', undefined, TrailVerificationSchema, true)) as AuditVerification;
  }

  /** `POST /v1/audit/verify` (admin key): the server verifies, against the checkpoints given. */
  async verifyTrail(options: TrailVerificationOptions): Promise<TrailVerification> {
    const body = { full: options.full === true, against: options.against ?? [], publicKeys: options.publicKeys ?? [] };
    return (await this.http.call('POST', '/v1/audit/verify', body, TrailVerificationSchema, true)) as TrailVerification;
  }

  /** Calls `listener` every second: the commands that follow (`watch`, `tail --follow`) re-read. */
  watch(listener: () => void): () => void {
    const timer = setInterval(listener, POLL_MS);
    return () => clearInterval(timer);
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}

  // What the CLI never asks of a server.
  upsertAgent(): Promise<AgentRecord> {
    return notRemote('registering an agent');
  }
  agentForDecision(): Promise<AgentRecord | undefined> {
    return notRemote('deciding');
  }
  recordDecision(): Promise<void> {
    return notRemote('recording a decision');
  }
  recordOutcome(): Promise<void> {
    return notRemote('recording an outcome');
  }
  getAction(): Promise<undefined> {
    return notRemote('reading an action');
  }
  getOutcome(): Promise<undefined> {
    return notRemote('reading an outcome');
  }
  expireApproval(): Promise<ApprovalRecord> {
    return notRemote('expiring an approval');
  }
  consumeApproval(): Promise<boolean> {
    return notRemote('spending an approval');
  }
  findUsableApproval(): Promise<undefined> {
    return notRemote('finding approvals');
  }
  findActiveGrant(): Promise<undefined> {
    return notRemote('finding grants');
  }
  createApiKey(): Promise<void> {
    return notRemote('making API keys (use `ascend keys create --db …` on the server)');
  }
  getApiKey(): Promise<ApiKeyRecord | undefined> {
    return notRemote('reading API keys');
  }
  listApiKeys(): Promise<ApiKeyRecord[]> {
    return notRemote('listing API keys');
  }
  revokeApiKey(): Promise<ApiKeyRecord> {
    return notRemote('revoking API keys');
  }
}
