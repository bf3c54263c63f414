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
 * writes (same record writers, same payloads), so hashes and `verifyAudit` agree. The parts:
 * opening (postgres-open.ts), reads (postgres-reads.ts), decisions and outcomes
 * (postgres-decisions.ts), approvals and grants (postgres-approvals.ts), archives
 * (postgres-archive.ts). See docs/architecture.md, "Store and durability".
 */
import pg from 'pg';
import { type AscendError, StoreError } from '../core/errors.js';
import type {
  ActionRecord,
  AgentRecord,
  ApiKeyRecord,
  ApprovalRecord,
  AuditCheckpoint,
  AuditEvent,
  AuditVerification,
  ChainStart,
  GrantRecord,
  OutcomeRecord,
  PolicyChangeRecord,
  StoredPolicy,
} from '../core/types.js';
import {
  agentBlockChanged,
  agentRegistered,
  type AuditEntry,
  checkpointKeyRegistered,
  checkpointRecorded,
  keyCreated,
  keyRevoked,
  policyChanged,
} from './audit-events.js';
import { CHAIN_BEGINNING } from './chain-walk.js';
import { PgApprovals } from './postgres-approvals.js';
import { PgArchive } from './postgres-archive.js';
import { PgBudgets } from './postgres-budgets.js';
import { PgDecisions } from './postgres-decisions.js';
import { isUniqueViolation, toPgStoreError } from './postgres-errors.js';
import { migrateSchema, openPgPool, pgClientConfig, POSTGRES_DEFAULTS, type PostgresStoreOptions } from './postgres-open.js';
import { PgReader } from './postgres-reads.js';
import { describeTarget, type PgSchema, pgSchema } from './postgres-schema.js';
import { PG_CONSTRAINTS, type PgStatements, pgStatements } from './postgres-statements.js';
import { PgChangeListener } from './postgres-watch.js';
import { PgWriter } from './postgres-writer.js';
import { agentFromRow, type AgentRow, agentIdsColumn, apiKeyFromRow, type ApiKeyRow, invalid, isoUtc, json, positive } from './records.js';
import { apiKeyAlreadyRevoked, apiKeyExists, mustExist } from './refusals.js';
import type {
  AgentRegistrationInput,
  ApprovalDecision,
  ApprovalFilter,
  ArchivePlan,
  AuditBase,
  AuditQuery,
  BudgetUse,
  BudgetWindow,
  ChainLockStats,
  RecordDecisionOptions,
  Store,
} from './store.js';

export type { FlushReport } from './batch.js';
export { POSTGRES_DEFAULTS, type PostgresStoreOptions } from './postgres-open.js';

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
  private readonly decisions: PgDecisions;
  private readonly approvals: PgApprovals;
  private readonly archive: PgArchive;
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

    const config = pgClientConfig(url, this.schema, connectTimeoutMs);
    this.pool = openPgPool(config, poolSize, this.label);
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
    this.approvals = new PgApprovals(this.sql, this.writer);
    this.decisions = new PgDecisions({ sql: this.sql, writer: this.writer, reads: this.reads, budgets: this.budgets, approvals: this.approvals });
    this.archive = new PgArchive(this.writer, this.reads, (name) => `${this.names.quoted}.${name}`);
  }

  /** Create and migrate the schema (done by {@link openPostgresStore}); ends the pool on failure. */
  async migrate(): Promise<void> {
    try {
      await migrateSchema(this.pool, this.names, this.label);
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

  /** See {@link PgDecisions.record}. */
  async recordDecision(action: ActionRecord, approval?: ApprovalRecord, options: RecordDecisionOptions = {}): Promise<void> {
    return this.guard('recordDecision', () => this.decisions.record(action, approval, options));
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

  /** See {@link PgDecisions.recordOutcome}. */
  async recordOutcome(outcome: OutcomeRecord): Promise<void> {
    return this.guard('recordOutcome', () => this.decisions.recordOutcome(outcome));
  }

  /** The action and its decision; includes actions still queued in a batch. */
  async getAction(actionId: string): Promise<ActionRecord | undefined> {
    return this.guard('getAction', () => this.decisions.action(actionId));
  }

  /** How the action ended, if recorded; includes outcomes still queued in a batch. */
  async getOutcome(actionId: string): Promise<OutcomeRecord | undefined> {
    return this.guard('getOutcome', () => this.decisions.outcome(actionId));
  }

  // Approvals and grants -------------------------------------------------------------------------

  /** The approval request, if any. */
  async getApproval(approvalId: string): Promise<ApprovalRecord | undefined> {
    return this.guard('getApproval', () => this.reads.approval(approvalId));
  }

  /** Approval requests, newest first. */
  async listApprovals(filter: ApprovalFilter = {}): Promise<ApprovalRecord[]> {
    return this.guard('listApprovals', () => this.reads.approvals(filter));
  }

  /** See {@link PgApprovals.decide}. */
  async decideApproval(decision: ApprovalDecision): Promise<ApprovalRecord> {
    return this.guard('decideApproval', () => this.approvals.decide(decision));
  }

  /** Mark a still-pending request `expired`; returns the record as it now stands. */
  async expireApproval(approvalId: string, now: string): Promise<ApprovalRecord> {
    return this.guard('expireApproval', () => this.approvals.expire(approvalId, now));
  }

  /** See {@link PgApprovals.consume}. */
  async consumeApproval(approvalId: string, digest: string, now: string): Promise<boolean> {
    return this.guard('consumeApproval', () => this.approvals.consume(approvalId, digest, now));
  }

  /** An approved, unconsumed, unexpired request for exactly this call (latest decided), if any. */
  async findUsableApproval(agentId: string, digest: string, now: string): Promise<ApprovalRecord | undefined> {
    return this.guard('findUsableApproval', () => this.reads.usableApproval(agentId, digest, now));
  }

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
    return this.guard('revokeGrant', () => this.approvals.revokeGrant(grantId, actor, now));
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

  // Policies and checkpoints ---------------------------------------------------------------------

  /** Appends `policy.changed`. */
  async recordPolicyChange(change: PolicyChangeRecord): Promise<void> {
    return this.appendStandalone('recordPolicyChange', () => policyChanged(change, isoUtc(change.at, 'at')));
  }

  /** Stores the policy and appends its `policy.changed`, in one transaction. */
  async pushPolicy(policy: Omit<StoredPolicy, 'id'>, change: PolicyChangeRecord): Promise<StoredPolicy> {
    return this.guard('pushPolicy', async () => {
      const ts = isoUtc(change.at, 'at');
      const entry = policyChanged(change, ts);
      return this.writer.write(async (tx) => {
        tx.append(entry.event, entry.data);
        const params = [policy.policyVersion, policy.text, policy.name ?? null, policy.revision ?? null, policy.pushedBy, isoUtc(policy.pushedAt, 'pushedAt')];
        const row = await tx.writeOne<{ id: number }>(this.sql.insertPolicy, params);
        return { ...policy, id: Number(row.id) };
      });
    });
  }

  /** The latest pushed policy. */
  async latestPolicy(): Promise<StoredPolicy | undefined> {
    return this.guard('latestPolicy', () => this.reads.latestPolicy());
  }

  /** See {@link Store.recordCheckpoint}. */
  async recordCheckpoint(checkpoint: AuditCheckpoint, actor: string, at: string): Promise<void> {
    return this.appendStandalone('recordCheckpoint', () => checkpointRecorded(checkpoint, actor, isoUtc(at, 'at')));
  }

  /** See {@link Store.registerCheckpointKey}. */
  async registerCheckpointKey(key: { keyId: string; publicKey: string }, actor: string, at: string): Promise<void> {
    return this.appendStandalone('registerCheckpointKey', () => checkpointKeyRegistered(key, actor, isoUtc(at, 'at')));
  }

  // Audit ----------------------------------------------------------------------------------------

  /** Audit events matching `query` (committed ones: queued writes are flushed first). */
  async readAudit(query: AuditQuery = {}): Promise<AuditEvent[]> {
    return this.guard('readAudit', async () => {
      await this.writer.flush();
      return this.reads.audit(query);
    });
  }

  /** See {@link PgReader.verify}. Queued writes are flushed first. */
  async verifyAudit(from: ChainStart = CHAIN_BEGINNING): Promise<AuditVerification> {
    return this.guard('verifyAudit', async () => {
      await this.writer.flush();
      return this.reads.verify(from);
    });
  }

  /** See {@link Store.auditBase}. */
  async auditBase(): Promise<AuditBase> {
    return this.guard('auditBase', () => this.reads.base());
  }

  /** See {@link PgArchive.plan}. */
  async planArchive(before: string): Promise<ArchivePlan | undefined> {
    return this.guard('planArchive', () => this.archive.plan(before));
  }

  /** See {@link PgArchive.remove}. */
  async removeArchived(plan: ArchivePlan, counts: Record<string, number>, actor: string, at: string): Promise<AuditBase> {
    return this.guard('removeArchived', () => this.archive.remove(plan, counts, actor, at));
  }

  /** How long this store's writes held the chain lock (see {@link ChainLockStats}): `/metrics` exports it. */
  chainLockStats(): Readonly<ChainLockStats> {
    return this.writer.lockStats;
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
}
