/**
 * The Store: everything Ascend remembers. One interface; SQLite now, PostgreSQL later, and one
 * contract test suite for both. Every mutation appends hash-chained audit events in the same
 * transaction as the state change, so the audit trail and the state can never disagree.
 */
import type {
  ActionRecord,
  AgentRecord,
  ApiKeyRecord,
  ApprovalChannel,
  ApprovalRecord,
  ApprovalStatus,
  AuditEvent,
  AuditEventType,
  AuditCheckpoint,
  AuditVerification,
  ChainStart,
  GrantRecord,
  OutcomeRecord,
  PolicyChangeRecord,
  StoredPolicy,
} from '../core/types.js';
import type { ArgumentEdit } from '../core/argument-edits.js';

/**
 * When a write is committed.
 * - `sync`: every write is committed before its promise resolves.
 * - `batched`: allowed decisions without an approval and outcomes are queued and group-committed
 *   every `flushIntervalMs`, on the next turn of the event loop once `maxBatchSize` are queued
 *   (at once when a caller that never yields has queued four times that), on `flush()`,
 *   `close()` and normal process exit.
 *   Everything else (pending decisions, denials, approvals, grants, blocks) commits at once,
 *   together with the queue ahead of it, so the chain keeps the order in which things happened.
 *   A queued write's promise resolves when it is queued (it is visible to `getAction` /
 *   `getOutcome` of the same store at once); it is durable once a later `flush()` resolves, or
 *   when the implementation reports its commit (SQLite: the `onFlush` option). A crash or
 *   `kill -9` may lose queued writes, never committed ones.
 */
export interface DurabilityOptions {
  durability: 'sync' | 'batched';
  flushIntervalMs: number;
  maxBatchSize: number;
}

/**
 * Where the live chain starts once events were archived: event `seq` (the last archived one)
 * had hash `hash`, and the chain through it held `counts` events of each type.
 */
export interface AuditBase extends ChainStart {
  /**
   * Rows the tables kept for archived events, by table (`actions`, `outcomes`,
   * `outcomes:failed`): PostgreSQL keeps the actions an approval still refers to.
   */
  retained: Record<string, number>;
  /** When the last archive was taken (ISO). */
  archivedAt?: string;
}

/** What an archive takes: the events after `afterSeq` through `throughSeq`. */
export interface ArchivePlan {
  afterSeq: number;
  /** The hash of event `afterSeq` (the archive's `prevHash`). */
  afterHash: string;
  throughSeq: number;
  throughHash: string;
  /** The head when it was planned: what was appended later is checked again at removal. */
  headSeq: number;
}

/**
 * How long a process's write transactions held the chain lock (PostgreSQL: every write on one
 * schema takes it). Summed over every replica, `holdSeconds` per second is how busy the one chain
 * is; near 1 is the cluster's write ceiling (docs/architecture.md#the-cluster).
 */
export interface ChainLockStats {
  /** Write transactions committed. */
  commits: number;
  /** Seconds the lock was held, from taking it to COMMIT, summed. */
  holdSeconds: number;
  /** Audit events those transactions appended. */
  events: number;
}

/** Filter for reading the audit trail. */
export interface AuditQuery {
  /** Only events with `seq` greater than this. */
  afterSeq?: number;
  /** Only events with `seq` less than this (a page older than one already shown). */
  beforeSeq?: number;
  /** Newest first when true (for `tail`). Default oldest first. */
  newestFirst?: boolean;
  limit?: number;
  agentId?: string;
  /** Only events of agents whose stored id starts with this (an organisation's `ORG::`); `''`:
   * of agents whose id has no `::` (the default organisation). Agentless events are left out. */
  agentIdPrefix?: string;
  actionId?: string;
  /** Only events whose data names this action type (evaluations, approvals, grants). */
  actionType?: string;
  /** Only evaluations with this decision. */
  decision?: 'allowed' | 'denied' | 'pending';
  types?: AuditEventType[];
  /** ISO times, inclusive. */
  since?: string;
  until?: string;
}

/** Which approval requests to list. */
export interface ApprovalFilter {
  status?: ApprovalStatus;
  agentId?: string;
  /** See {@link AuditQuery.agentIdPrefix}. */
  agentIdPrefix?: string;
  limit?: number;
}

/** Approving or rejecting one approval request. */
export interface ApprovalDecision {
  approvalId: string;
  status: 'approved' | 'rejected';
  decidedBy: string;
  /** The channel the answer came through, as the code that received it knows it. */
  channel: ApprovalChannel;
  /**
   * The channel a remote caller said it used, when the server could not check it and recorded
   * another (`channel` is then `api`). Kept beside `channel` in the audit event, never instead.
   */
  claimedChannel?: ApprovalChannel;
  comment?: string;
  /** With `approved`: also create a grant for this agent + action type lasting this long. */
  grantMinutes?: number;
  /**
   * With `approved`: the approver's changes to the arguments (checked by the caller against the
   * recorded arguments, see `checkEdits`). The approval then lets only the edited call run.
   */
  edits?: ArgumentEdit[];
  /** ISO time of the decision. */
  now: string;
}

/** A budget to read: its key (engine `budgetKey`) and the window it is counted over. */
export interface BudgetWindow {
  key: string;
  windowMs: number;
}

/** How much of a budget is used, for display. */
export interface BudgetUse {
  /** Spends within the window. */
  used: number;
  /** Time of the oldest of them (epoch ms): a unit frees up when it leaves the window. Null when none. */
  oldestAtMs: number | null;
}

/** One budget an allowed decision spends (see engine/budget.ts). */
export interface BudgetSpend extends BudgetWindow {
  /** Calls the budget allows within its window. */
  count: number;
  /**
   * The decision relied on this budget not being used up (its rule did not apply yet). Checked
   * again inside the transaction that commits the decision when it commits at once (not when it
   * is queued); StaleDecisionError when the budget is used up by then.
   */
  mustFit: boolean;
}

/** Options of {@link Store.recordDecision}. */
export interface RecordDecisionOptions {
  /**
   * The `version` of the agent registration the decision was made on (0: not registered). When
   * given, the decision is recorded only if that version is still current; otherwise nothing is
   * recorded and StaleAgentError is thrown, so the caller decides again (the kill switch is
   * exact). Not checked for a decision queued in `batched` mode, whose registration came from
   * {@link Store.agentForDecision} at most `flushIntervalMs` earlier.
   */
  agentVersion?: number;
  /**
   * The decision spends this approved request (which must be bound to the action's digest):
   * both are recorded together or not at all. StaleDecisionError when it can no longer be spent.
   * Such a decision is never queued.
   */
  spendsApproval?: string;
  /**
   * The decision spends this approval, which a person approved with edits, for the edited call:
   * the approval is bound to the original call's `digest` (the action's digest is the edited
   * call's). Otherwise as {@link spendsApproval}; give one or the other.
   */
  spendsEditedApproval?: { approvalId: string; digest: string };
  /**
   * Commit the decision before resolving, even in `batched` mode. For an action id the caller
   * chose (an idempotency key), which another process may record at the same time: committed at
   * once, a duplicate is refused to this caller (ConflictError), not dropped from a later group
   * commit after the caller was answered.
   */
  commitNow?: boolean;
  /**
   * The budgets the call draws on. An `allowed` decision spends one unit of each, committed with
   * the decision (a queued decision's spends count in this store at once and commit with it).
   */
  budgets?: readonly BudgetSpend[];
}

/** A new or updated registration (the store sets blocked, times and version). */
export type AgentRegistrationInput = Omit<AgentRecord, 'blocked' | 'blockedReason' | 'registeredAt' | 'updatedAt' | 'version'>;

/** The persistence contract. All methods may reject with {@link StoreError}. */
export interface Store {
  /** Which implementation (`sqlite`, `postgres`), for logs and `/readyz`. */
  readonly kind: string;

  // Agents -------------------------------------------------------------------------------------
  /** Insert or update a registration (keeps `blocked`); appends `agent.registered`. */
  upsertAgent(agent: AgentRegistrationInput, now: string): Promise<AgentRecord>;
  /** The registration as stored now (a copy the caller may change). */
  getAgent(agentId: string): Promise<AgentRecord | undefined>;
  /**
   * The registration to decide a call with. May be served from a cache and lag another process's
   * change; record the decision with its `version` (see {@link RecordDecisionOptions}).
   */
  agentForDecision(agentId: string): Promise<Readonly<AgentRecord> | undefined>;
  listAgents(): Promise<AgentRecord[]>;
  /** Kill switch. Creates the agent row if unknown; appends `agent.blocked` / `agent.unblocked`. */
  setAgentBlocked(agentId: string, blocked: boolean, reason: string, actor: string, now: string): Promise<AgentRecord>;

  // Actions --------------------------------------------------------------------------------------
  /**
   * Record a decision (`action.evaluated`), and with a pending one its approval request
   * (`approval.requested`) in the same transaction. Batched only when allowed with no approval.
   */
  recordDecision(action: ActionRecord, approval?: ApprovalRecord, options?: RecordDecisionOptions): Promise<void>;
  /** Record how the action ended (`action.completed` / `action.failed`). Batchable. */
  recordOutcome(outcome: OutcomeRecord): Promise<void>;
  /** Includes actions still queued in a batch. */
  getAction(actionId: string): Promise<ActionRecord | undefined>;
  getOutcome(actionId: string): Promise<OutcomeRecord | undefined>;

  /**
   * How many spends each budget has within its window ending at `nowMs` (exclusive of spends at
   * or before `nowMs - windowMs`): committed by any process or replica using this store, plus
   * those queued in this store instance. SQLite may answer from a copy read up to
   * `BUDGET_COPY_MAX_AGE_MS` (1 ms) earlier; a decision's own transaction checks exactly.
   */
  budgetUsage(budgets: readonly BudgetWindow[], nowMs: number): Promise<number[]>;
  /** {@link budgetUsage} with the oldest spend of each budget, for display (`ascend agents list`, the dashboard, `/metrics`). */
  budgetUse(budgets: readonly BudgetWindow[], nowMs: number): Promise<BudgetUse[]>;

  // Approvals ------------------------------------------------------------------------------------
  getApproval(approvalId: string): Promise<ApprovalRecord | undefined>;
  /** Newest first. `agentIdPrefix` as in {@link AuditQuery}. */
  listApprovals(filter?: ApprovalFilter): Promise<ApprovalRecord[]>;
  /**
   * Approve or reject a pending, unexpired request (atomically); with `grantMinutes` also create
   * the grant. Throws NotFoundError, or ConflictError when it is no longer pending or has expired
   * (an expired pending request is marked `expired` first).
   */
  decideApproval(decision: ApprovalDecision): Promise<ApprovalRecord>;
  /** Mark a still-pending request `expired` (a timeout). Returns the record as it now stands,
   * which may be approved or rejected if a person got there first. */
  expireApproval(approvalId: string, now: string): Promise<ApprovalRecord>;
  /**
   * Use an approved request for the call with this digest, once: succeeds only when approved,
   * unconsumed, unexpired and the digest matches. Appends `approval.consumed`.
   */
  consumeApproval(approvalId: string, digest: string, now: string): Promise<boolean>;
  /** An approved, unconsumed, unexpired request for exactly this call, if any. */
  findUsableApproval(agentId: string, digest: string, now: string): Promise<ApprovalRecord | undefined>;

  // Grants ---------------------------------------------------------------------------------------
  /** An unrevoked, unexpired grant for this agent and action type, if any. */
  findActiveGrant(agentId: string, actionType: string, now: string): Promise<GrantRecord | undefined>;
  listGrants(filter?: { activeAt?: string; agentId?: string }): Promise<GrantRecord[]>;
  /** Throws NotFoundError; ConflictError if already revoked. Appends `grant.revoked`. */
  revokeGrant(grantId: string, actor: string, now: string): Promise<GrantRecord>;

  // API keys (ascend serve) ----------------------------------------------------------------------
  /** Store a new key; appends `key.created` (without any secret). ConflictError if the id exists. */
  createApiKey(key: ApiKeyRecord): Promise<void>;
  getApiKey(keyId: string): Promise<ApiKeyRecord | undefined>;
  /** Every key, newest first. */
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** Throws NotFoundError; ConflictError if already revoked. Appends `key.revoked`. */
  revokeApiKey(keyId: string, actor: string, now: string): Promise<ApiKeyRecord>;

  // Policies -------------------------------------------------------------------------------------
  /** A decision point switched policies: appends `policy.changed` (actor and time from `change`). */
  recordPolicyChange(change: PolicyChangeRecord): Promise<void>;
  /**
   * Store a pushed policy and append its `policy.changed` (cause `push`) in one transaction;
   * returns it with its id (higher than every earlier push).
   */
  pushPolicy(policy: Omit<StoredPolicy, 'id'>, change: PolicyChangeRecord): Promise<StoredPolicy>;
  /** The latest pushed policy, if any was pushed. */
  latestPolicy(): Promise<StoredPolicy | undefined>;

  // Audit ----------------------------------------------------------------------------------------
  readAudit(query?: AuditQuery): Promise<AuditEvent[]>;
  /** Append a signed checkpoint as an `audit.checkpoint` event (see audit-checkpoints.ts). */
  recordCheckpoint(checkpoint: AuditCheckpoint, actor: string, at: string): Promise<void>;
  /** Trust a checkpoint key's signatures: appends `audit.checkpoint_key`. */
  registerCheckpointKey(key: { keyId: string; publicKey: string }, actor: string, at: string): Promise<void>;
  /** Where the live chain starts: after the last archived event (seq 0 when none was). */
  auditBase(): Promise<AuditBase>;
  /**
   * The events an archive of everything before `before` (ISO) may take, or undefined when there
   * are none: see audit-archives.ts for what holds the cut back.
   */
  planArchive(before: string): Promise<ArchivePlan | undefined>;
  /**
   * Remove the events of `plan` (written to an archive by the caller) in one transaction, with
   * the action rows nothing else refers to, move the base past them and append `audit.archived`.
   * ConflictError when the chain is not as planned (another archive ran, or the events changed).
   */
  removeArchived(plan: ArchivePlan, counts: Record<string, number>, actor: string, at: string): Promise<AuditBase>;
  /**
   * Recompute the chain from the first row, or from `from` (a verified point such as a signed
   * checkpoint: see audit-checkpoints.ts); name the first row that does not verify.
   */
  verifyAudit(from?: ChainStart): Promise<AuditVerification>;

  // Lifecycle ------------------------------------------------------------------------------------
  /**
   * Call `listener` whenever state may have changed: at once for this process's own writes
   * (after they commit: queued writes when their batch commits), and within a short poll
   * interval for other processes' writes. Returns an unsubscribe function.
   */
  watch(listener: () => void): () => void;
  /** Commit everything queued. */
  flush(): Promise<void>;
  /**
   * Optional: resolve once every write made before the call is committed, waiting for the next
   * group commit rather than forcing one (see SqliteStore). Absent: writes are durable when their
   * promises resolve, or after {@link flush}.
   */
  whenDurable?(): Promise<void>;
  /** Optional (PostgreSQL): how long this store's writes held the chain lock. */
  chainLockStats?(): Readonly<ChainLockStats>;
  /** Flush, stop timers, close the database. Idempotent. */
  close(): Promise<void>;
}
