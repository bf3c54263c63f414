/**
 * Organisations share one database and one audit chain but never see each other. A key's
 * organisation is applied here, at the Store boundary: agent ids and action ids are stored
 * qualified as `ORG::ID` (the `default` organisation's unqualified), every read of another
 * organisation's record answers "not found", and records leave with the caller's own ids. The
 * engine above sees the ids the caller sent, so a policy's `agents:` globs read naturally, and an
 * action id a client chooses (an idempotency key) is its own organisation's: the same id in
 * another organisation is another action, so probing with one reveals nothing. Audit events keep
 * the stored (qualified) ids: the hash chain covers them. (Actions recorded before action ids
 * were qualified keep their unqualified ids and are still found, by a second read.)
 */
import { NotFoundError, ValidationError } from '../core/errors.js';
import { type TrailVerification, type TrailVerificationOptions, verifyAuditTrail } from '../store/audit-checkpoints.js';
import type { AgentRegistrationInput, ApprovalDecision, ApprovalFilter, ArchivePlan, AuditBase, AuditQuery, BudgetUse, BudgetWindow, RecordDecisionOptions, Store } from '../store/store.js';
import type {
  ActionRecord,
  AgentRecord,
  ApiKeyRecord,
  ApprovalRecord,
  AuditEvent,
  AuditCheckpoint,
  AuditVerification,
  ChainStart,
  GrantRecord,
  OutcomeRecord,
  PolicyChangeRecord,
  StoredPolicy,
} from '../core/types.js';

/** The organisation of keys made without `--org`. Its agent ids are stored as they are. */
export const DEFAULT_ORG = 'default';
/** Between organisation and agent id in a stored id. Refused inside agent ids sent to a server. */
export const ORG_SEPARATOR = '::';

/** The stored id of `agentId` in `org`. */
export function qualifyAgentId(org: string, agentId: string): string {
  return org === DEFAULT_ORG ? agentId : `${org}${ORG_SEPARATOR}${agentId}`;
}

/** The organisation a stored agent id belongs to. */
export function orgOfAgentId(storedId: string): string {
  const at = storedId.indexOf(ORG_SEPARATOR);
  return at < 0 ? DEFAULT_ORG : storedId.slice(0, at);
}

/** A {@link Store} seen by one organisation. `close()` leaves the shared store open. */
export class TenantStore implements Store {
  readonly kind: string;
  private readonly prefix: string;

  /**
   * @param trustedCheckpointKeys public keys (base64) whose checkpoints verification trusts: the
   *   server's own checkpoint key's, held outside the database.
   */
  constructor(
    private readonly base: Store,
    readonly org: string,
    private readonly trustedCheckpointKeys: readonly string[] = [],
  ) {
    this.kind = base.kind;
    this.prefix = org === DEFAULT_ORG ? '' : `${org}${ORG_SEPARATOR}`;
  }

  /** The stored id of one of this organisation's agents. An id that names an organisation
   * (contains `::`) is nobody's here: refused as not found, so it cannot reach another's. */
  private q(agentId: string): string {
    if (agentId.includes(ORG_SEPARATOR)) throw new NotFoundError('agent', agentId);
    return this.prefix + agentId;
  }

  private owns(storedAgentId: string | null | undefined): boolean {
    return typeof storedAgentId === 'string' && orgOfAgentId(storedAgentId) === this.org;
  }

  private strip<T extends { agentId: string }>(record: T): T {
    return this.prefix === '' ? record : { ...record, agentId: record.agentId.slice(this.prefix.length) };
  }

  /** A record with an action id, as this organisation knows it (agent and action ids unqualified). */
  private stripAction<T extends { agentId: string; actionId: string }>(record: T): T {
    if (this.prefix === '') return record;
    const actionId = record.actionId.startsWith(this.prefix) ? record.actionId.slice(this.prefix.length) : record.actionId;
    return { ...record, agentId: record.agentId.slice(this.prefix.length), actionId };
  }

  /** The stored id and record of one of this organisation's actions, if any. */
  private async storedAction(actionId: string): Promise<ActionRecord | undefined> {
    if (actionId.includes(ORG_SEPARATOR)) return undefined;
    if (this.prefix === '') {
      const action = await this.base.getAction(actionId);
      return action && this.owns(action.agentId) ? action : undefined;
    }
    const action = (await this.base.getAction(this.prefix + actionId)) ?? (await this.base.getAction(actionId)); // the second: recorded unqualified, before
    return action && this.owns(action.agentId) ? action : undefined;
  }

  async upsertAgent(agent: AgentRegistrationInput, now: string): Promise<AgentRecord> {
    return this.strip(await this.base.upsertAgent({ ...agent, agentId: this.q(agent.agentId) }, now));
  }

  async getAgent(agentId: string): Promise<AgentRecord | undefined> {
    if (agentId.includes(ORG_SEPARATOR)) return undefined;
    const agent = await this.base.getAgent(this.q(agentId));
    return agent && this.owns(agent.agentId) ? this.strip(agent) : undefined;
  }

  agentForDecision(agentId: string): Promise<Readonly<AgentRecord> | undefined> {
    return this.base.agentForDecision(this.q(agentId));
  }

  async listAgents(): Promise<AgentRecord[]> {
    return (await this.base.listAgents()).filter((a) => this.owns(a.agentId)).map((a) => this.strip(a));
  }

  async setAgentBlocked(agentId: string, blocked: boolean, reason: string, actor: string, now: string): Promise<AgentRecord> {
    return this.strip(await this.base.setAgentBlocked(this.q(agentId), blocked, reason, actor, now));
  }

  recordDecision(action: ActionRecord, approval?: ApprovalRecord, options?: RecordDecisionOptions): Promise<void> {
    // An id naming an organisation would take that organisation's id (an uploaded record's id is the client's).
    if (action.actionId.includes(ORG_SEPARATOR)) {
      return Promise.reject(new ValidationError(`Action ids never contain "${ORG_SEPARATOR}"`, [{ path: 'actionId', message: `contains "${ORG_SEPARATOR}"` }]));
    }
    if (this.prefix === '') return this.base.recordDecision(action, approval, options); // hot path: no copies
    const stored = { ...action, agentId: this.q(action.agentId), actionId: this.prefix + action.actionId };
    const budgets = options?.budgets?.map((b) => ({ ...b, key: this.budgetKey(b.key) }));
    return this.base.recordDecision(
      stored,
      approval && { ...approval, agentId: this.q(approval.agentId), actionId: stored.actionId },
      budgets === undefined ? options : { ...options, budgets },
    );
  }

  /** Budgets are the organisation's own (see {@link budgetKey}). */
  budgetUsage(budgets: readonly BudgetWindow[], nowMs: number): Promise<number[]> {
    if (this.prefix === '') return this.base.budgetUsage(budgets, nowMs);
    return this.base.budgetUsage(
      budgets.map((b) => ({ ...b, key: this.budgetKey(b.key) })),
      nowMs,
    );
  }

  /** See {@link budgetUsage}. */
  budgetUse(budgets: readonly BudgetWindow[], nowMs: number): Promise<BudgetUse[]> {
    if (this.prefix === '') return this.base.budgetUse(budgets, nowMs);
    return this.base.budgetUse(
      budgets.map((b) => ({ ...b, key: this.budgetKey(b.key) })),
      nowMs,
    );
  }

  /**
   * A budget key qualified with the organisation: `o:ORG` before the engine's key (which starts
   * with `r:`), so it can equal neither another organisation's key nor a default-org one.
   */
  private budgetKey(key: string): string {
    return `o:${this.org}\u001f${key}`;
  }

  async recordOutcome(outcome: OutcomeRecord): Promise<void> {
    const action = await this.storedAction(outcome.actionId);
    if (!action) throw new NotFoundError('action', outcome.actionId);
    return this.base.recordOutcome(action.actionId === outcome.actionId ? outcome : { ...outcome, actionId: action.actionId });
  }

  async getAction(actionId: string): Promise<ActionRecord | undefined> {
    const action = await this.storedAction(actionId);
    return action && this.stripAction(action);
  }

  async getOutcome(actionId: string): Promise<OutcomeRecord | undefined> {
    const action = await this.storedAction(actionId);
    const outcome = action && (await this.base.getOutcome(action.actionId));
    return outcome && (outcome.actionId === actionId ? outcome : { ...outcome, actionId });
  }

  async getApproval(approvalId: string): Promise<ApprovalRecord | undefined> {
    const approval = await this.base.getApproval(approvalId);
    return approval && this.owns(approval.agentId) ? this.stripAction(approval) : undefined;
  }

  async listApprovals(filter: ApprovalFilter = {}): Promise<ApprovalRecord[]> {
    if (filter.agentId !== undefined) {
      if (filter.agentId.includes(ORG_SEPARATOR)) return [];
      const found = await this.base.listApprovals({ ...filter, agentId: this.q(filter.agentId) });
      return found.filter((a) => this.owns(a.agentId)).map((a) => this.stripAction(a));
    }
    // The store filters by organisation (and applies the limit); the check here is a second lock.
    const found = await this.base.listApprovals({ ...filter, agentIdPrefix: this.prefix });
    return found.filter((a) => this.owns(a.agentId)).map((a) => this.stripAction(a));
  }

  private async mustOwnApproval(approvalId: string): Promise<void> {
    if (!(await this.getApproval(approvalId))) throw new NotFoundError('approval', approvalId);
  }

  async decideApproval(decision: ApprovalDecision): Promise<ApprovalRecord> {
    await this.mustOwnApproval(decision.approvalId);
    return this.stripAction(await this.base.decideApproval(decision));
  }

  async expireApproval(approvalId: string, now: string): Promise<ApprovalRecord> {
    await this.mustOwnApproval(approvalId);
    return this.stripAction(await this.base.expireApproval(approvalId, now));
  }

  async consumeApproval(approvalId: string, digest: string, now: string): Promise<boolean> {
    await this.mustOwnApproval(approvalId);
    return this.base.consumeApproval(approvalId, digest, now);
  }

  async findUsableApproval(agentId: string, digest: string, now: string): Promise<ApprovalRecord | undefined> {
    const approval = await this.base.findUsableApproval(this.q(agentId), digest, now);
    return approval && this.stripAction(approval);
  }

  async findActiveGrant(agentId: string, actionType: string, now: string): Promise<GrantRecord | undefined> {
    const grant = await this.base.findActiveGrant(this.q(agentId), actionType, now);
    return grant && this.strip(grant);
  }

  async listGrants(filter: { activeAt?: string; agentId?: string } = {}): Promise<GrantRecord[]> {
    const grants = await this.base.listGrants(filter.agentId === undefined ? filter : { ...filter, agentId: this.q(filter.agentId) });
    return grants.filter((g) => this.owns(g.agentId)).map((g) => this.strip(g));
  }

  async revokeGrant(grantId: string, actor: string, now: string): Promise<GrantRecord> {
    const grant = (await this.base.listGrants()).find((g) => g.grantId === grantId);
    if (!grant || !this.owns(grant.agentId)) throw new NotFoundError('grant', grantId);
    return this.strip(await this.base.revokeGrant(grantId, actor, now));
  }

  /** A policy is the server's, not an organisation's. */
  recordPolicyChange(change: PolicyChangeRecord): Promise<void> {
    return this.base.recordPolicyChange(change);
  }
  pushPolicy(policy: Omit<StoredPolicy, 'id'>, change: PolicyChangeRecord): Promise<StoredPolicy> {
    return this.base.pushPolicy(policy, change);
  }
  latestPolicy(): Promise<StoredPolicy | undefined> {
    return this.base.latestPolicy();
  }

  // Keys are managed with `ascend keys` on the server's database, not per organisation.
  createApiKey(key: ApiKeyRecord): Promise<void> {
    return this.base.createApiKey(key);
  }
  getApiKey(keyId: string): Promise<ApiKeyRecord | undefined> {
    return this.base.getApiKey(keyId);
  }
  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return (await this.base.listApiKeys()).filter((k) => k.org === this.org);
  }
  revokeApiKey(keyId: string, actor: string, now: string): Promise<ApiKeyRecord> {
    return this.base.revokeApiKey(keyId, actor, now);
  }

  /**
   * This organisation's events (those about its agents). Events of no agent (API keys made and
   * revoked) belong to no organisation: read them on the server's database (`ascend audit`).
   */
  async readAudit(query: AuditQuery = {}): Promise<AuditEvent[]> {
    if (query.actionId !== undefined && this.prefix !== '') {
      if (query.actionId.includes(ORG_SEPARATOR)) return [];
      query = { ...query, actionId: (await this.storedAction(query.actionId))?.actionId ?? this.prefix + query.actionId };
    }
    if (query.agentId !== undefined) {
      if (query.agentId.includes(ORG_SEPARATOR)) return [];
      return (await this.base.readAudit({ ...query, agentId: this.q(query.agentId) })).filter((e) => this.owns(e.agentId));
    }
    return (await this.base.readAudit({ ...query, agentIdPrefix: this.prefix })).filter((e) => this.owns(e.agentId));
  }

  /** The newest `seq` of the shared chain (any organisation's): a cursor to follow from. */
  async latestSeq(): Promise<number> {
    const [newest] = await this.base.readAudit({ newestFirst: true, limit: 1 });
    return newest?.seq ?? 0;
  }

  verifyAudit(from?: ChainStart): Promise<AuditVerification> {
    return this.base.verifyAudit(from);
  }

  /**
   * Verify the one chain every organisation shares, from its newest trusted checkpoint
   * (audit-checkpoints.ts). Another organisation's events are not shown, only counted: the
   * counts by type are left out but for the default organisation.
   */
  async verifyTrail(options: TrailVerificationOptions = {}): Promise<TrailVerification> {
    const result = await verifyAuditTrail(this.base, { ...options, publicKeys: [...this.trustedCheckpointKeys, ...(options.publicKeys ?? [])] });
    return this.prefix === '' ? result : { ...result, counts: {} };
  }

  /** Archives are the server's (`ascend audit archive` on its database). */
  auditBase(): Promise<AuditBase> {
    return this.base.auditBase();
  }
  planArchive(before: string): Promise<ArchivePlan | undefined> {
    return this.base.planArchive(before);
  }
  removeArchived(plan: ArchivePlan, counts: Record<string, number>, actor: string, at: string): Promise<AuditBase> {
    return this.base.removeArchived(plan, counts, actor, at);
  }

  /** Checkpoints are the server's, of the one chain every organisation shares. */
  recordCheckpoint(checkpoint: AuditCheckpoint, actor: string, at: string): Promise<void> {
    return this.base.recordCheckpoint(checkpoint, actor, at);
  }
  registerCheckpointKey(key: { keyId: string; publicKey: string }, actor: string, at: string): Promise<void> {
    return this.base.registerCheckpointKey(key, actor, at);
  }

  watch(listener: () => void): () => void {
    return this.base.watch(listener);
  }

  flush(): Promise<void> {
    return this.base.flush();
  }

  /** See {@link Store.whenDurable}: what the server waits for before it acknowledges a write. */
  whenDurable(): Promise<void> {
    return this.base.whenDurable ? this.base.whenDurable() : this.base.flush();
  }

  /** The shared store stays open: the server closes it. */
  async close(): Promise<void> {}
}
