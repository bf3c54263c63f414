/**
 * The PostgreSQL {@link Store}: one database shared by several processes (server replicas).
 *
 * Every mutation appends its audit events in the same transaction as the state change. Each
 * write transaction first takes the schema's advisory lock, then reads the chain head, then
 * appends (postgres-tx.ts): the lock serialises writers across processes, so the trail stays one
 * valid chain. Within one store, writes also run one at a time (postgres-writer.ts): they would
 * wait for the lock anyway, and in `batched` mode the queue must commit in order.
 *
 * Watchers hear this store's commits at once and everyone's through LISTEN/NOTIFY
 * (postgres-watch.ts). The audit data of every event is byte-identical to what the SQLite store
 * writes (same record writers, same payloads), so hashes and `verifyAudit` agree.
 */
import pg from 'pg';
import { type AscendError, ConflictError, NotFoundError, StoreError } from '../core/errors.js';
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
import type { FlushReport, WriteQueue } from './batch.js';
import { isForeignKeyViolation, isUniqueViolation, toPgStoreError } from './postgres-errors.js';
import { migratePostgres } from './postgres-migrations.js';
import { CHAIN_BEGINNING } from './chain-walk.js';
import { archiveStatements, checkPlan, planArchive } from './archive-plan.js';
import { PgReader } from './postgres-reads.js';
import { DEFAULT_PG_SCHEMA, describeTarget, PG_TYPES, type PgSchema, pgSchema } from './postgres-schema.js';
import { PG_CONSTRAINTS, type PgStatements, pgStatements } from './postgres-statements.js';
import { checkout, type PgWriteTx } from './postgres-tx.js';
import { PgChangeListener } from './postgres-watch.js';
import { appendDecision, appendOutcome, PgWriter } from './postgres-writer.js';
import {
  actionJson,
  agentFromRow,
  type AgentRow,
  agentIdsColumn,
  apiKeyFromRow,
  type ApiKeyRow,
  approvalFromRow,
  approvalInsertParams,
  type ApprovalRow,
  grantFromRow,
  type GrantRow,
  invalid,
  isoUtc,
  json,
  outcomeJson,
  type PolicyRow,
  storedPolicyFromRow,
  positive,
} from './records.js';
import { checkApprovalDecision, planDecision } from './approval-rules.js';
import {
  apiKeyAlreadyRevoked,
  apiKeyExists,
  approvalNotSpendable,
  duplicateAction,
  duplicateOutcome,
  grantAlreadyRevoked,
  mustExist,
  refuseStaleAgent,
} from './refusals.js';
import type {
  AgentRegistrationInput,
  ApprovalDecision,
  ApprovalFilter,
  ArchivePlan,
  AuditBase,
  AuditQuery,
  ChainLockStats,
  BudgetUse,
  BudgetWindow,
  DurabilityOptions,
  RecordDecisionOptions,
  Store,
} from './store.js';
import { PgBudgets } from './postgres-budgets.js';
import {
  agentBlockChanged,
  agentRegistered,
  approvalConsumed,
  approvalExpired,
  approvalRequested,
  type AuditEntry,
  auditArchived,
  checkpointKeyRegistered,
  checkpointRecorded,
  grantRevoked,
  keyCreated,
  keyRevoked,
  policyChanged,
} from './audit-events.js';

export type { FlushReport } from './batch.js';

/** Options of {@link openPostgresStore}. */
export interface PostgresStoreOptions extends Partial<DurabilityOptions> {
  /** The schema holding the store's tables, created when missing. Default `ascend`. */
  schema?: string;
  /** Pooled connections (plus one for LISTEN once someone watches). Default 10. */
  poolSize?: number;
  /** How long a write waits for the audit-chain lock held by another writer; 0: forever. Default 5000. */
  lockTimeoutMs?: number;
  /** How long to wait for a connection (new, or free in the pool). Default 10000. */
  connectTimeoutMs?: number;
  /**
   * `batched` mode: called right after each commit that made queued writes durable, with exactly
   * which ones (their promises resolve when queued). `await store.flush()` also makes everything
   * queued before it durable.
   */
  onFlush?: (report: FlushReport) => void;
  /** `batched` mode: a flush nobody awaits failed, or dropped writes that can never commit. Default: a process warning. */
  onFlushError?: (error: StoreError) => void;
}

/** Defaults of {@link openPostgresStore}. */
export const POSTGRES_DEFAULTS = {
  schema: DEFAULT_PG_SCHEMA,
  durability: 'sync',
  flushIntervalMs: 5,
  maxBatchSize: 256,
  poolSize: 10,
  lockTimeoutMs: 5000,
  connectTimeoutMs: 10_000,
} as const;

/**
 * Connect to the database at `url` (`postgres://user@host:port/db`), create the schema when
 * missing and migrate it. Rejects with StoreError when the server cannot be reached or the schema
 * is from a newer ascend-sdk, and with ValidationError for bad options.
 */
export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
  const store = new PostgresStore(url, options);
  await store.migrate();
  return store;
}

/** {@link Store} on PostgreSQL via `pg`. Create with {@link openPostgresStore}. */
export class PostgresStore implements Store {
  /** Always `postgres`. */
  readonly kind = 'postgres';
  /** The schema holding the tables. */
  readonly schema: string;
  /** When writes commit. */
  readonly durability: 'sync' | 'batched';
  /** Host, database and schema, for messages (no credentials). */
  readonly label: string;

  private readonly names: PgSchema;
  private readonly sql: PgStatements;
  private readonly pool: pg.Pool;
  private readonly reads: PgReader;
  private readonly writer: PgWriter;
  private readonly budgets: PgBudgets;
  private readonly notifier: PgChangeListener;
  private readonly lockTimeoutMs: number;
  private closing: Promise<void> | undefined;

  /** Prefer {@link openPostgresStore}, which also connects and migrates. */
  constructor(url: string, options: PostgresStoreOptions = {}) {
    if (typeof url !== 'string' || url === '') throw invalid('url', 'must be a postgres:// connection string');
    this.names = pgSchema(options.schema ?? POSTGRES_DEFAULTS.schema);
    this.schema = this.names.name;
    this.label = describeTarget(url, this.schema);
    this.sql = pgStatements(this.names.quoted);
    const durability = options.durability ?? POSTGRES_DEFAULTS.durability;
    if (durability !== 'sync' && durability !== 'batched') throw invalid('durability', "must be 'sync' or 'batched'");
    this.durability = durability;
    const flushIntervalMs = positive(options.flushIntervalMs, POSTGRES_DEFAULTS.flushIntervalMs, 'flushIntervalMs', true);
    const maxBatchSize = positive(options.maxBatchSize, POSTGRES_DEFAULTS.maxBatchSize, 'maxBatchSize', false);
    const poolSize = positive(options.poolSize, POSTGRES_DEFAULTS.poolSize, 'poolSize', false);
    this.lockTimeoutMs = positive(options.lockTimeoutMs, POSTGRES_DEFAULTS.lockTimeoutMs, 'lockTimeoutMs', true);
    const connectTimeoutMs = positive(options.connectTimeoutMs, POSTGRES_DEFAULTS.connectTimeoutMs, 'connectTimeoutMs', true);

    const config: pg.ClientConfig = {
      connectionString: url,
      types: PG_TYPES,
      application_name: `ascend-sdk ${this.schema}`, // which schema a session serves, in pg_stat_activity
      connectionTimeoutMillis: connectTimeoutMs,
    };
    // allowExitOnIdle: like the SQLite store, an open store does not keep the process alive.
    this.pool = new pg.Pool({ ...config, max: Math.ceil(poolSize), allowExitOnIdle: true });
    // An idle pooled connection that dies emits 'error' on the pool; unheard, it would crash the process.
    this.pool.on('error', (err) => process.emitWarning(`${this.label}: idle connection lost: ${err.message}`));
    this.notifier = new PgChangeListener(() => new pg.Client(config), this.names.channel, (err) =>
      process.emitWarning(this.storeError(err, 'listening for changes').message),
    );
    this.reads = new PgReader(this.pool, this.sql);
    this.budgets = new PgBudgets(this.sql);
    this.writer = new PgWriter({
      budgets: this.budgets,
      pool: this.pool,
      names: this.names,
      sql: this.sql,
      label: this.label,
      lockTimeoutMs: this.lockTimeoutMs,
      batch: durability === 'batched' ? { flushIntervalMs, maxBatchSize } : undefined,
      committed: () => this.notifier.notify(),
      onFlush: options.onFlush,
      onFlushError: options.onFlushError ?? ((err) => process.emitWarning(err.message)),
      storeError: (err, operation) => this.storeError(err, operation),
    });
  }

  /** Create and migrate the schema (done by {@link openPostgresStore}); ends the pool on failure. */
  async migrate(): Promise<void> {
    try {
      const { client, release } = await checkout(this.pool);
      try {
        await migratePostgres(client, this.names, this.label);
      } finally {
        release();
      }
    } catch (err) {
      await this.close().catch(() => undefined);
      throw this.storeError(err, 'opening the database');
    }
  }

  // Agents -------------------------------------------------------------------------------------

  /** Insert or update a registration (keeps `blocked`); appends `agent.registered`. */
  async upsertAgent(agent: AgentRegistrationInput, now: string): Promise<AgentRecord> {
    return this.guard('upsertAgent', async () => {
      const ts = isoUtc(now, 'now');
      const capabilities = json(agent.capabilities);
      const allowedResources = json(agent.allowedResources);
      const metadata = json(agent.metadata);
      return this.writer.write(async (tx) => {
        const entry = agentRegistered(agent, ts, { capabilities, allowedResources, metadata });
        const seq = tx.append(entry.event, entry.data);
        const params = [agent.agentId, agent.agentName, agent.agentType, capabilities, allowedResources, metadata, ts, seq];
        return agentFromRow(await tx.writeOne<AgentRow>(this.sql.upsertAgent, params));
      });
    });
  }

  /** The agent's registration as the database has it now. */
  async getAgent(agentId: string): Promise<AgentRecord | undefined> {
    return this.guard('getAgent', () => this.reads.agent(agentId));
  }

  /**
   * The registration to decide a call with: read fresh (one indexed read), so it never lags;
   * a `sync` decision's transaction checks the version again anyway.
   */
  async agentForDecision(agentId: string): Promise<Readonly<AgentRecord> | undefined> {
    return this.getAgent(agentId);
  }

  /** All agents, by id. */
  async listAgents(): Promise<AgentRecord[]> {
    return this.guard('listAgents', () => this.reads.agents());
  }

  /** Kill switch. Creates the agent row if unknown; appends `agent.blocked` / `agent.unblocked`. */
  async setAgentBlocked(agentId: string, blocked: boolean, reason: string, actor: string, now: string): Promise<AgentRecord> {
    return this.guard('setAgentBlocked', async () => {
      const ts = isoUtc(now, 'now');
      return this.writer.write(async (tx) => {
        const existing = (await tx.read(this.sql.agentExists, [agentId])).length > 0;
        const entry = agentBlockChanged(agentId, blocked, reason, actor, ts, !existing);
        const seq = tx.append(entry.event, entry.data);
        const params = [agentId, blocked, blocked ? reason : null, ts, seq];
        return agentFromRow(await tx.writeOne<AgentRow>(this.sql.setBlocked, params));
      });
    });
  }

  // Actions --------------------------------------------------------------------------------------

  /**
   * Record a decision (`action.evaluated`), and with a pending one its approval request
   * (`approval.requested`) in the same transaction. In `batched` mode an allowed decision
   * without an approval is queued. ConflictError when the action id is already recorded;
   * StaleDecisionError when the agent changed since `agentVersion` or `spendsApproval` cannot be
   * spent (see {@link RecordDecisionOptions}).
   */
  async recordDecision(action: ActionRecord, approval?: ApprovalRecord, options: RecordDecisionOptions = {}): Promise<void> {
    return this.guard('recordDecision', async () => {
      const recordJson = actionJson(action);
      const ts = isoUtc(action.createdAt, 'action.createdAt');
      const actionId = action.actionId;
      const spends = action.decision === 'allowed' && options.budgets !== undefined && options.budgets.length > 0 ? options.budgets : undefined;
      const atMs = Date.parse(ts);
      const queue = this.writer.queue;
      if (queue && approval === undefined && action.decision === 'allowed' && options.spendsApproval === undefined && options.spendsEditedApproval === undefined && options.commitNow !== true) {
        // Checked again, against the database, when the queue is written.
        if (queue.decision(actionId) || this.writer.recentAction(actionId)) throw duplicateAction(actionId);
        if (spends === undefined) return this.writer.enqueue({ kind: 'decision', action, json: recordJson });
        // Counted at once, so the next call in this process sees them.
        this.budgets.own.add(actionId, spends, atMs);
        try {
          await this.writer.enqueue({ kind: 'decision', action, json: recordJson, spends });
        } catch (err) {
          this.budgets.own.settled(new Set([actionId]));
          throw err;
        }
        return;
      }
      const approvalParams = approval ? approvalInsertParams(approval) : undefined;
      await this.writer.write(async (tx) => {
        try {
          if (spends !== undefined) await this.budgets.check(tx, spends, atMs);
          await this.writeDecision(tx, action, recordJson, ts, options);
          if (spends !== undefined) this.budgets.write(tx, [{ actionId, spends, atMs }]);
          if (approval && approvalParams) {
            tx.defer(this.sql.insertApproval, approvalParams);
            const entry = approvalRequested(approval, approvalParams[7]);
            tx.append(entry.event, entry.data);
          }
          await this.checkVersion(tx, action.agentId, options);
        } catch (err) {
          throw isUniqueViolation(err, PG_CONSTRAINTS.actionsPkey) ? duplicateAction(actionId) : err;
        }
      });
      this.writer.remember(actionId, action.agentId, false);
    });
  }

  /**
   * Spends of each budget within its window ending at `nowMs`: every replica's committed ones
   * (one read), plus this store's queued ones.
   */
  async budgetUsage(budgets: readonly BudgetWindow[], nowMs: number): Promise<number[]> {
    return (await this.budgetUse(budgets, nowMs)).map((u) => u.used);
  }

  /** {@link budgetUsage} with each budget's oldest spend. */
  async budgetUse(budgets: readonly BudgetWindow[], nowMs: number): Promise<BudgetUse[]> {
    return this.guard('budgetUse', () => this.budgets.usage((sql, params) => this.reads.query(sql, params), budgets, nowMs));
  }

  /**
   * The decision's checks and rows. With `spendsApproval` the checks are read first (the spend
   * appends before the decision); otherwise the duplicate shows as a unique violation and the
   * version is read back with the insert ({@link checkVersion}), saving a round trip.
   */
  private async writeDecision(tx: PgWriteTx, action: ActionRecord, recordJson: string, ts: string, options: RecordDecisionOptions): Promise<void> {
    const edited = options.spendsEditedApproval;
    const spends = options.spendsApproval ?? edited?.approvalId;
    if (spends !== undefined) {
      const [check] = await tx.read<{ version: number | null; taken: boolean }>(this.sql.decisionCheck, [action.agentId, action.actionId]);
      if (check?.taken) throw duplicateAction(action.actionId);
      refuseStaleAgent(action.agentId, options.agentVersion, check?.version ?? null);
      if (!(await this.spendApproval(tx, spends, edited?.digest ?? action.digest, ts, edited !== undefined))) {
        throw approvalNotSpendable(spends);
      }
    }
    const seq = appendDecision(tx, action, recordJson, ts);
    tx.defer(this.sql.insertAction, [action.actionId, action.agentId, action.decision, action.approvalId ?? null, ts, seq]);
  }

  /**
   * Send the pending rows (so a duplicate id fails here, inside the caller's catch), with a read
   * of the agent's version when it is to be checked; refuse a stale decision.
   */
  private async checkVersion(tx: PgWriteTx, agentId: string, options: RecordDecisionOptions): Promise<void> {
    if (options.agentVersion === undefined || options.spendsApproval !== undefined || options.spendsEditedApproval !== undefined) return tx.flush();
    const [row] = await tx.write<{ version: number | null }>(this.sql.agentVersion, [agentId]);
    refuseStaleAgent(agentId, options.agentVersion, row?.version ?? null);
  }

  /**
   * Record how the action ended (`action.completed` / `action.failed`); queued in `batched`
   * mode. NotFoundError for an unknown action; ConflictError when it already has an outcome.
   */
  async recordOutcome(outcome: OutcomeRecord): Promise<void> {
    return this.guard('recordOutcome', async () => {
      const actionId = outcome.actionId;
      const recordJson = outcomeJson(outcome);
      const ts = isoUtc(outcome.recordedAt, 'outcome.recordedAt');
      const recent = this.writer.recentAction(actionId);
      if (recent?.outcome) throw duplicateOutcome(actionId);
      if (this.writer.queue) {
        await this.enqueueOutcome(this.writer.queue, outcome, recordJson);
        return;
      }
      const known = recent?.agentId;
      const agentId = await this.writer.write(async (tx) => {
        try {
          const agent = known ?? (await this.actionAgent(tx, actionId));
          const seq = appendOutcome(tx, outcome, recordJson, ts, agent);
          tx.defer(this.sql.insertOutcome, [actionId, outcome.status, ts, seq]);
          await tx.flush(); // here, so a duplicate or unknown action is caught below
          return agent;
        } catch (err) {
          if (isUniqueViolation(err, PG_CONSTRAINTS.outcomesPkey)) throw duplicateOutcome(actionId);
          if (isForeignKeyViolation(err, PG_CONSTRAINTS.outcomesAction)) throw new NotFoundError('action', actionId);
          throw err;
        }
      });
      this.writer.remember(actionId, agentId, true);
    });
  }

  private async enqueueOutcome(queue: WriteQueue, outcome: OutcomeRecord, recordJson: string): Promise<void> {
    const actionId = outcome.actionId;
    if (queue.outcome(actionId)) throw duplicateOutcome(actionId);
    let agentId = queue.decision(actionId)?.action.agentId ?? this.writer.recentAction(actionId)?.agentId;
    if (agentId === undefined) {
      const state = await this.reads.actionState(actionId);
      if (state === undefined) throw new NotFoundError('action', actionId);
      if (state.has_outcome) throw duplicateOutcome(actionId);
      agentId = state.agent_id;
      if (queue.outcome(actionId)) throw duplicateOutcome(actionId); // queued while we read
    }
    await this.writer.enqueue({ kind: 'outcome', outcome, json: recordJson, agentId });
  }

  /** The agent of a recorded action without an outcome (inside the write transaction). */
  private async actionAgent(tx: PgWriteTx, actionId: string): Promise<string> {
    const [state] = await tx.read<{ agent_id: string; has_outcome: boolean }>(this.sql.actionStates, [[actionId]]);
    if (state === undefined) throw new NotFoundError('action', actionId);
    if (state.has_outcome) throw duplicateOutcome(actionId);
    return state.agent_id;
  }

  /** The action and its decision; includes actions still queued in a batch. */
  async getAction(actionId: string): Promise<ActionRecord | undefined> {
    return this.guard('getAction', async () => {
      const text = this.writer.queue?.decision(actionId)?.json ?? (await this.reads.actionRecord(actionId));
      return text === undefined ? undefined : (JSON.parse(text) as ActionRecord);
    });
  }

  /** How the action ended, if recorded; includes outcomes still queued in a batch. */
  async getOutcome(actionId: string): Promise<OutcomeRecord | undefined> {
    return this.guard('getOutcome', async () => {
      const text = this.writer.queue?.outcome(actionId)?.json ?? (await this.reads.outcomeRecord(actionId));
      return text === undefined ? undefined : (JSON.parse(text) as OutcomeRecord);
    });
  }

  // Approvals ------------------------------------------------------------------------------------

  /** The approval request, if any. */
  async getApproval(approvalId: string): Promise<ApprovalRecord | undefined> {
    return this.guard('getApproval', () => this.reads.approval(approvalId));
  }

  /** Approval requests, newest first. */
  async listApprovals(filter: ApprovalFilter = {}): Promise<ApprovalRecord[]> {
    return this.guard('listApprovals', () => this.reads.approvals(filter));
  }

  /**
   * Approve or reject a pending, unexpired request atomically; with `grantMinutes` (approve
   * only) also create the grant. NotFoundError; ConflictError when no longer pending or expired
   * (an expired pending request is first marked `expired`, with an `approval.expired` event).
   */
  async decideApproval(decision: ApprovalDecision): Promise<ApprovalRecord> {
    return this.guard('decideApproval', async () => {
      const now = isoUtc(decision.now, 'now');
      const { approvalId, status, decidedBy, channel } = decision;
      checkApprovalDecision(decision);
      const outcome = await this.writer.write(async (tx): Promise<ApprovalRecord | ConflictError> => {
        const row = await this.approvalRow(tx, approvalId);
        const plan = planDecision(row, decision, now);
        if (plan.refused) {
          if (plan.expire) await this.markExpired(tx, row, now, 'expired before a decision');
          return plan.refused; // returned, not thrown: the expiry commits
        }
        const grant = plan.grant?.record;
        tx.append(plan.decided.event, plan.decided.data);
        if (grant !== undefined && plan.grant) {
          tx.defer(this.sql.insertGrant, [grant.grantId, grant.agentId, grant.actionType, now, grant.expiresAt, decidedBy, channel, approvalId]);
          tx.append(plan.grant.created.event, plan.grant.created.data);
        }
        const params = [status, now, decidedBy, channel, decision.comment ?? null, grant?.grantId ?? null, approvalId, plan.edits];
        return approvalFromRow(await tx.writeOne<ApprovalRow>(this.sql.decideApproval, params));
      });
      if (outcome instanceof ConflictError) throw outcome;
      return outcome;
    });
  }

  /** Mark a still-pending request `expired`; returns the record as it now stands. */
  async expireApproval(approvalId: string, now: string): Promise<ApprovalRecord> {
    return this.guard('expireApproval', async () => {
      const ts = isoUtc(now, 'now');
      return this.writer.write(async (tx) => {
        const row = await this.approvalRow(tx, approvalId);
        return approvalFromRow(row.status === 'pending' ? await this.markExpired(tx, row, ts, 'timeout') : row);
      });
    });
  }

  /**
   * Use an approved request for the call with this digest, once. True only when approved,
   * unconsumed, unexpired and the digest matches; appends `approval.consumed` then.
   */
  async consumeApproval(approvalId: string, digest: string, now: string): Promise<boolean> {
    return this.guard('consumeApproval', async () => {
      const ts = isoUtc(now, 'now');
      return this.writer.write((tx) => this.spendApproval(tx, approvalId, digest, ts, false));
    });
  }

  /** {@link consumeApproval} inside the current write transaction; `edited`: an approval with edits, for the edited call. */
  private async spendApproval(tx: PgWriteTx, approvalId: string, digest: string, ts: string, edited: boolean): Promise<boolean> {
    const [row] = await tx.write<{ agent_id: string; action_id: string }>(this.sql.consumeApproval, [ts, approvalId, digest, edited]);
    if (row === undefined) return false;
    const entry = approvalConsumed({ approvalId, agentId: row.agent_id, actionId: row.action_id }, digest, ts);
    tx.append(entry.event, entry.data);
    return true;
  }

  /** An approved, unconsumed, unexpired request for exactly this call (latest decided), if any. */
  async findUsableApproval(agentId: string, digest: string, now: string): Promise<ApprovalRecord | undefined> {
    return this.guard('findUsableApproval', () => this.reads.usableApproval(agentId, digest, now));
  }

  private async approvalRow(tx: PgWriteTx, approvalId: string): Promise<ApprovalRow> {
    const [row] = await tx.read<ApprovalRow>(this.sql.getApproval, [approvalId]);
    return mustExist(row, 'approval', approvalId);
  }

  private async markExpired(tx: PgWriteTx, row: ApprovalRow, now: string, why: string): Promise<ApprovalRow> {
    const entry = approvalExpired({ approvalId: row.approval_id, agentId: row.agent_id, actionId: row.action_id }, row.expires_at, now, why);
    tx.append(entry.event, entry.data);
    return tx.writeOne<ApprovalRow>(this.sql.expireApproval, [now, row.approval_id]);
  }

  // Grants ---------------------------------------------------------------------------------------

  /** The latest unrevoked, unexpired grant for this agent and action type, if any. */
  async findActiveGrant(agentId: string, actionType: string, now: string): Promise<GrantRecord | undefined> {
    return this.guard('findActiveGrant', () => this.reads.activeGrant(agentId, actionType, now));
  }

  /**
   * Grants, newest first. `activeAt`: only those in force at that time (created by then, not yet
   * expired, not revoked by then).
   */
  async listGrants(filter: { activeAt?: string; agentId?: string } = {}): Promise<GrantRecord[]> {
    return this.guard('listGrants', () => this.reads.grants(filter));
  }

  /** Revoke a grant. NotFoundError; ConflictError if already revoked. Appends `grant.revoked`. */
  async revokeGrant(grantId: string, actor: string, now: string): Promise<GrantRecord> {
    return this.guard('revokeGrant', async () => {
      const ts = isoUtc(now, 'now');
      return this.writer.write(async (tx) => {
        const row = mustExist((await tx.read<GrantRow>(this.sql.getGrant, [grantId]))[0], 'grant', grantId);
        if (row.revoked_at !== null) throw grantAlreadyRevoked(grantId, row.revoked_at);
        const entry = grantRevoked({ grantId, agentId: row.agent_id, approvalId: row.approval_id, actionType: row.action_type }, actor, ts);
        tx.append(entry.event, entry.data);
        return grantFromRow(await tx.writeOne<GrantRow>(this.sql.revokeGrant, [ts, actor, grantId]));
      });
    });
  }

  // API keys -------------------------------------------------------------------------------------

  /** Store a new key; appends `key.created` (no secret in it). ConflictError if the id exists. */
  async createApiKey(key: ApiKeyRecord): Promise<void> {
    return this.guard('createApiKey', async () => {
      const ts = isoUtc(key.createdAt, 'createdAt');
      await this.writer.write(async (tx) => {
        const entry = keyCreated(key, ts);
        tx.append(entry.event, entry.data);
        const params = [key.keyId, key.name, key.role, key.org, key.secretHash, key.signingSecret ?? null, key.requireSigning, ts, key.createdBy, agentIdsColumn(key)];
        try {
          await tx.write(this.sql.insertApiKey, params);
        } catch (err) {
          if (isUniqueViolation(err, PG_CONSTRAINTS.apiKeysPkey)) throw apiKeyExists(key.keyId);
          throw err;
        }
      });
    });
  }

  /** Appends `policy.changed`. */
  async recordPolicyChange(change: PolicyChangeRecord): Promise<void> {
    return this.guard('recordPolicyChange', async () => {
      const ts = isoUtc(change.at, 'at');
      const entry = policyChanged(change, ts);
      await this.writer.write(async (tx) => {
        tx.append(entry.event, entry.data);
        await tx.flush();
      });
    });
  }

  /** See {@link Store.recordCheckpoint}. */
  async recordCheckpoint(checkpoint: AuditCheckpoint, actor: string, at: string): Promise<void> {
    return this.appendStandalone('recordCheckpoint', () => checkpointRecorded(checkpoint, actor, isoUtc(at, 'at')));
  }

  /** See {@link Store.registerCheckpointKey}. */
  async registerCheckpointKey(key: { keyId: string; publicKey: string }, actor: string, at: string): Promise<void> {
    return this.appendStandalone('registerCheckpointKey', () => checkpointKeyRegistered(key, actor, isoUtc(at, 'at')));
  }

  /** How long this store's writes held the chain lock (see {@link ChainLockStats}): `/metrics` exports it. */
  chainLockStats(): Readonly<ChainLockStats> {
    return this.writer.lockStats;
  }

  /** See {@link Store.auditBase}. */
  async auditBase(): Promise<AuditBase> {
    return this.guard('auditBase', () => this.reads.base());
  }

  /** See {@link Store.planArchive}. */
  async planArchive(before: string): Promise<ArchivePlan | undefined> {
    return this.guard('planArchive', async () => {
      const beforeIso = isoUtc(before, 'before');
      await this.writer.flush();
      return planArchive((sql, params) => this.reads.scalar(sql, params), this.table, await this.reads.base(), beforeIso);
    });
  }

  /**
   * See {@link Store.removeArchived}. The actions an approval still refers to stay (with their
   * outcomes), counted in the base's `retained`; the others go with their events.
   */
  async removeArchived(plan: ArchivePlan, counts: Record<string, number>, actor: string, at: string): Promise<AuditBase> {
    return this.guard('removeArchived', async () => {
      const ts = isoUtc(at, 'at');
      const sql = archiveStatements(this.table);
      const t = this.table;
      return this.writer.write(async (tx) => {
        const base = await this.reads.base(tx.client);
        const throughHash = await this.reads.scalar(sql.hashAt, { seq: plan.throughSeq }, tx.client);
        const held = await this.reads.scalar(sql.firstHeldEvent, { after: plan.afterSeq, through: plan.throughSeq, since: plan.headSeq }, tx.client);
        checkPlan(base, plan, throughHash, held);
        const range = [plan.afterSeq, plan.throughSeq];
        const archivedActions = `SELECT action_id FROM ${t('audit_events')} WHERE seq > $1 AND seq <= $2 AND type = 'action.evaluated'`;
        const referenced = `EXISTS (SELECT 1 FROM ${t('approvals')} p WHERE p.action_id = x.action_id)`;
        const [kept] = await tx.read<{ actions: string; outcomes: string; failed: string }>(
          `SELECT (SELECT COUNT(*) FROM ${t('actions')} x WHERE x.action_id IN (${archivedActions}) AND ${referenced}) AS actions,
                  (SELECT COUNT(*) FROM ${t('outcomes')} x WHERE x.action_id IN (${archivedActions}) AND ${referenced}) AS outcomes,
                  (SELECT COUNT(*) FROM ${t('outcomes')} x WHERE x.action_id IN (${archivedActions}) AND ${referenced} AND x.status = 'failed') AS failed`,
          range,
        );
        const add = (key: string, n: string | undefined): number => (base.retained[key] ?? 0) + Number(n ?? 0);
        const retained = { actions: add('actions', kept?.actions), outcomes: add('outcomes', kept?.outcomes), 'outcomes:failed': add('outcomes:failed', kept?.failed) };
        const next: AuditBase = { seq: plan.throughSeq, hash: plan.throughHash, counts, retained, archivedAt: ts };
        await tx.read(`UPDATE ${t('audit_base')} SET seq = $1, hash = $2, counts = $3, retained = $4, archived_at = $5 WHERE id = 1`, [
          next.seq, next.hash, json(next.counts), json(next.retained), ts,
        ]);
        await tx.read(`DELETE FROM ${t('outcomes')} x WHERE x.action_id IN (${archivedActions}) AND NOT ${referenced}`, range);
        await tx.read(`DELETE FROM ${t('actions')} x WHERE x.action_id IN (${archivedActions}) AND NOT ${referenced}`, range);
        // The rows kept lose the events that hold their records: they keep the records themselves.
        for (const table of ['actions', 'outcomes']) {
          await tx.read(
            `UPDATE ${t(table)} x SET record = e.data FROM ${t('audit_events')} e
              WHERE x.action_id IN (${archivedActions}) AND x.record IS NULL AND e.seq = x.seq AND e.seq > $1 AND e.seq <= $2`,
            range,
          );
        }
        const removed = (await tx.client.query(`DELETE FROM ${t('audit_events')} WHERE seq <= $1`, [plan.throughSeq])).rowCount ?? 0;
        const entry = auditArchived({ ...plan, events: removed }, actor, ts);
        tx.append(entry.event, entry.data);
        await tx.flush();
        return next;
      });
    });
  }

  /** A table's name, schema-qualified. */
  private readonly table = (name: string): string => `${this.names.quoted}.${name}`;

  /** Append one event that changes no table. */
  private appendStandalone(operation: string, entryOf: () => AuditEntry): Promise<void> {
    return this.guard(operation, async () => {
      const entry = entryOf();
      await this.writer.write(async (tx) => {
        tx.append(entry.event, entry.data);
        await tx.flush();
      });
    });
  }

  /** Stores the policy and appends its `policy.changed`, in one transaction. */
  async pushPolicy(policy: Omit<StoredPolicy, 'id'>, change: PolicyChangeRecord): Promise<StoredPolicy> {
    return this.guard('pushPolicy', async () => {
      const ts = isoUtc(change.at, 'at');
      const entry = policyChanged(change, ts);
      return this.writer.write(async (tx) => {
        tx.append(entry.event, entry.data);
        const row = await tx.writeOne<{ id: number }>(
          `INSERT INTO ${this.names.quoted}.policies (policy_version, text, name, revision, pushed_by, pushed_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
          [policy.policyVersion, policy.text, policy.name ?? null, policy.revision ?? null, policy.pushedBy, isoUtc(policy.pushedAt, 'pushedAt')],
        );
        return { ...policy, id: Number(row.id) };
      });
    });
  }

  /** The latest pushed policy. */
  async latestPolicy(): Promise<StoredPolicy | undefined> {
    return this.guard('latestPolicy', async () => {
      const [row] = await this.reads.query<PolicyRow>(`SELECT * FROM ${this.names.quoted}.policies ORDER BY id DESC LIMIT 1`);
      return row === undefined ? undefined : storedPolicyFromRow(row);
    });
  }

  /** The key, if any. */
  async getApiKey(keyId: string): Promise<ApiKeyRecord | undefined> {
    return this.guard('getApiKey', () => this.reads.apiKey(keyId));
  }

  /** Every key, newest first. */
  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.guard('listApiKeys', () => this.reads.apiKeys());
  }

  /** Revoke a key. NotFoundError; ConflictError if already revoked. Appends `key.revoked`. */
  async revokeApiKey(keyId: string, actor: string, now: string): Promise<ApiKeyRecord> {
    return this.guard('revokeApiKey', async () => {
      const ts = isoUtc(now, 'now');
      return this.writer.write(async (tx) => {
        const row = mustExist((await tx.read<ApiKeyRow>(this.sql.getApiKey, [keyId]))[0], 'API key', keyId);
        if (row.revoked_at !== null) throw apiKeyAlreadyRevoked(keyId, row.revoked_at);
        const entry = keyRevoked({ keyId, name: row.name, role: row.role, org: row.org }, actor, ts);
        tx.append(entry.event, entry.data);
        return apiKeyFromRow(await tx.writeOne<ApiKeyRow>(this.sql.revokeApiKey, [ts, actor, keyId]));
      });
    });
  }

  // Audit ----------------------------------------------------------------------------------------

  /** Audit events matching `query` (committed ones: queued writes are flushed first). */
  async readAudit(query: AuditQuery = {}): Promise<AuditEvent[]> {
    return this.guard('readAudit', async () => {
      await this.writer.flush();
      return this.reads.audit(query);
    });
  }

  /**
   * Recompute the chain from row 1, or from `from` (a verified point such as a checkpoint), in
   * constant memory and one snapshot, and name the first row that does not verify: a changed row
   * (hash mismatch), a broken link (prevHash mismatch) or a missing row (seq gap). Queued writes
   * are flushed first.
   */
  async verifyAudit(from: ChainStart = CHAIN_BEGINNING): Promise<AuditVerification> {
    return this.guard('verifyAudit', async () => {
      await this.writer.flush();
      return this.reads.verify(from);
    });
  }

  // Lifecycle ------------------------------------------------------------------------------------

  /**
   * Call `listener` whenever state may have changed: right after this store's own commits, and
   * on every commit by any writer of the schema (LISTEN/NOTIFY; the connection opens at the first
   * watch, and once up, it calls listeners once for what it may have missed). Returns the unsubscribe.
   */
  watch(listener: () => void): () => void {
    this.assertOpen();
    return this.notifier.add(listener);
  }

  /** Resolves once other writers' commits are heard (the LISTEN connection is up); opens it if needed. */
  async listening(): Promise<void> {
    return this.guard('listening for changes', () => this.notifier.listening());
  }

  /** Commit everything queued; when it resolves, every write made before the call is durable. */
  async flush(): Promise<void> {
    return this.guard('flush', () => this.writer.flush());
  }

  /** Flush, stop timers, end the LISTEN connection and the pool. Idempotent. */
  async close(): Promise<void> {
    if (this.closing) return this.closing.catch(() => undefined);
    this.closing = this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    let failure: unknown;
    try {
      await this.writer.stop();
    } catch (err) {
      failure = err;
    }
    await this.notifier.close();
    try {
      await this.pool.end();
    } catch (err) {
      failure ??= err;
    }
    if (failure !== undefined) throw this.storeError(failure, 'closing');
  }

  // Internals ------------------------------------------------------------------------------------

  /** Run `fn` on an open store, turning database failures into StoreErrors. */
  private async guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    this.assertOpen();
    try {
      return await fn();
    } catch (err) {
      throw this.storeError(err, operation);
    }
  }

  private assertOpen(): void {
    if (this.closing) throw new StoreError(`${this.label}: the store is closed`);
  }

  private storeError(err: unknown, operation: string): AscendError {
    return toPgStoreError(err, this.label, operation, this.lockTimeoutMs);
  }
}
