/**
 * The SQLite {@link Store}: one file, WAL journal, safe to share between processes (an agent and
 * the `ascend` CLI approving from another terminal).
 *
 * Every mutation appends its audit events in the same `BEGIN IMMEDIATE` transaction as the state
 * change (sqlite-writer.ts), after the chain head read inside that transaction (sqlite-chain.ts),
 * so several processes writing the same file keep one valid chain. The hot path — a decision, an
 * outcome — commits one row, its audit event (chain-view.ts says how actions are still found by
 * id). The parts: opening (sqlite-open.ts), reads (sqlite-reads.ts), decisions and outcomes
 * (sqlite-decisions.ts), approvals and grants (sqlite-approvals.ts), archives
 * (sqlite-archive.ts). See docs/architecture.md, "Store and durability".
 */
import { performance } from 'node:perf_hooks';
import type Database from 'better-sqlite3';
import { StoreError } from '../core/errors.js';
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
import { ChainView, type FrozenAgent } from './chain-view.js';
import { CHAIN_BEGINNING } from './chain-walk.js';
import { agentFromRow, agentIdsColumn, apiKeyFromRow, type ApiKeyRow, isoUtc, json, positive } from './records.js';
import { apiKeyAlreadyRevoked, apiKeyExists, mustExist } from './refusals.js';
import { SqliteApprovals } from './sqlite-approvals.js';
import { SqliteArchive } from './sqlite-archive.js';
import { SqliteBudgets } from './sqlite-budgets.js';
import { SqliteChain } from './sqlite-chain.js';
import type { BackgroundCheckpointer } from './sqlite-checkpointer.js';
import { SqliteDecisions } from './sqlite-decisions.js';
import { toStoreError } from './sqlite-errors.js';
import { openSqliteDatabase, startBackgroundCheckpoints } from './sqlite-open.js';
import { SQLITE_DEFAULTS, type SqliteStoreOptions } from './sqlite-options.js';
import { SqliteReader } from './sqlite-reads.js';
import { PreparedCache, prepareStatements, type Statements } from './sqlite-statements.js';
import { SqliteWriter } from './sqlite-writer.js';
import type {
  AgentRegistrationInput,
  ApprovalDecision,
  ApprovalFilter,
  ArchivePlan,
  AuditBase,
  AuditQuery,
  BudgetUse,
  BudgetWindow,
  RecordDecisionOptions,
  Store,
} from './store.js';
import { ChangeNotifier } from './watch.js';

export { UnwrittenRecordsError } from '../core/errors.js';
export type { FlushReport } from './batch.js';
export { defaultDbPath, INDEX_AFTER_ACTIONS, SQLITE_DEFAULTS, type SqliteStoreOptions } from './sqlite-options.js';

/**
 * Open (creating the file and its directory when needed) and migrate the SQLite store at `path`.
 * Throws StoreError when the file cannot be opened, is not a database, or is from a newer Ascend.
 */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): SqliteStore {
  return new SqliteStore(path, options);
}

/** {@link Store} on a SQLite file via better-sqlite3. Create with {@link openSqliteStore}. */
export class SqliteStore implements Store {
  /** Always `sqlite`. */
  readonly kind = 'sqlite';
  /** The database file. */
  readonly path: string;
  /** When writes commit. */
  readonly durability: 'sync' | 'batched';

  private readonly db: Database.Database;
  private readonly stmt: Statements;
  private readonly prepared: PreparedCache;
  /** This connection's view of the chain, and its cache of agents (chain-view.ts). */
  private readonly view = new ChainView();
  private readonly chain: SqliteChain;
  private readonly reads: SqliteReader;
  private readonly writer: SqliteWriter;
  private readonly decisions: SqliteDecisions;
  private readonly approvals: SqliteApprovals;
  private readonly archive: SqliteArchive;
  private readonly budgets: SqliteBudgets;
  private readonly notifier: ChangeNotifier;
  private readonly flushIntervalMs: number;
  private readonly busyTimeoutMs: number;
  private readonly checkpointer: BackgroundCheckpointer | undefined;
  private closed = false;

  /** Prefer {@link openSqliteStore}. */
  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.path = path;
    this.durability = options.durability ?? SQLITE_DEFAULTS.durability;
    this.busyTimeoutMs = positive(options.busyTimeoutMs, SQLITE_DEFAULTS.busyTimeoutMs, 'busyTimeoutMs', true);
    this.flushIntervalMs = positive(options.flushIntervalMs, SQLITE_DEFAULTS.flushIntervalMs, 'flushIntervalMs', true);
    const maxBatchSize = positive(options.maxBatchSize, SQLITE_DEFAULTS.maxBatchSize, 'maxBatchSize', false);
    const pollIntervalMs = positive(options.pollIntervalMs, SQLITE_DEFAULTS.pollIntervalMs, 'pollIntervalMs', false);

    this.db = openSqliteDatabase(path, this.busyTimeoutMs);
    this.stmt = prepareStatements(this.db);
    this.prepared = new PreparedCache(this.db);
    this.budgets = new SqliteBudgets(this.stmt);
    this.chain = new SqliteChain(this.stmt, this.view);
    this.reads = new SqliteReader(this.db, this.stmt, this.chain, this.prepared);
    const dataVersion = this.stmt.dataVersion;
    this.notifier = new ChangeNotifier(pollIntervalMs, () => dataVersion.get() as number);
    this.writer = new SqliteWriter({
      db: this.db,
      stmt: this.stmt,
      chain: this.chain,
      budgets: this.budgets,
      path,
      busyTimeoutMs: this.busyTimeoutMs,
      batch: this.durability === 'batched' ? { flushIntervalMs: this.flushIntervalMs, maxBatchSize } : undefined,
      committed: () => this.notifier.notify(),
      onFlush: options.onFlush,
      onFlushError: options.onFlushError ?? ((err) => process.emitWarning(err.message)),
    });
    this.approvals = new SqliteApprovals(this.stmt, this.chain, this.writer);
    this.decisions = new SqliteDecisions({ stmt: this.stmt, chain: this.chain, writer: this.writer, reads: this.reads, budgets: this.budgets, approvals: this.approvals });
    this.archive = new SqliteArchive(this.stmt, this.chain, this.writer, this.reads, this.prepared);
    if (options.backgroundCheckpoints && path !== ':memory:') this.checkpointer = startBackgroundCheckpoints(this.db, path, () => this.closed);
  }

  // Agents -------------------------------------------------------------------------------------

  /** Insert or update a registration (keeps `blocked`); appends `agent.registered`. */
  async upsertAgent(agent: AgentRegistrationInput, now: string): Promise<AgentRecord> {
    return this.guard('upsertAgent', () => {
      const ts = isoUtc(now, 'now');
      const capabilities = json(agent.capabilities);
      const allowedResources = json(agent.allowedResources);
      const metadata = json(agent.metadata);
      return this.writer.write(() => {
        const seq = this.chain.append(agentRegistered(agent, ts, { capabilities, allowedResources, metadata }));
        this.stmt.upsertAgent.run(agent.agentId, agent.agentName, agent.agentType, capabilities, allowedResources, metadata, ts, ts, seq);
        return agentFromRow(mustExist(this.stmt.getAgent.get(agent.agentId), 'agent', agent.agentId));
      });
    });
  }

  /** The agent's registration as the database has it now. */
  async getAgent(agentId: string): Promise<AgentRecord | undefined> {
    return this.guard('getAgent', () => {
      const row = this.reads.read(() => this.stmt.getAgent.get(agentId));
      this.view.rememberAgent(agentId, row ? agentFromRow(row) : undefined);
      return row ? agentFromRow(row) : undefined;
    });
  }

  /**
   * The registration to decide a call with, from this connection's cache when it has it (see
   * {@link Store.agentForDecision}). In `batched` mode the cache is at most `flushIntervalMs` old;
   * in `sync` mode any age is fine: the decision's own transaction checks the version.
   */
  async agentForDecision(agentId: string): Promise<FrozenAgent | undefined> {
    return this.guard('agentForDecision', () => {
      if (this.writer.queue && performance.now() - this.view.syncedAtMs > this.flushIntervalMs) this.reads.read(() => undefined);
      const cached = this.view.agent(agentId);
      if (cached !== undefined) return cached ?? undefined;
      const row = this.reads.read(() => this.stmt.getAgent.get(agentId));
      return this.view.rememberAgent(agentId, row ? agentFromRow(row) : undefined) ?? undefined;
    });
  }

  /** All agents, by id. */
  async listAgents(): Promise<AgentRecord[]> {
    return this.guard('listAgents', () => this.stmt.listAgents.all().map(agentFromRow));
  }

  /** Kill switch. Creates the agent row if unknown; appends `agent.blocked` / `agent.unblocked`. */
  async setAgentBlocked(agentId: string, blocked: boolean, reason: string, actor: string, now: string): Promise<AgentRecord> {
    return this.guard('setAgentBlocked', () => {
      const ts = isoUtc(now, 'now');
      return this.writer.write(() => {
        const existing = this.stmt.getAgent.get(agentId);
        const blockedReason = blocked ? reason : null;
        const seq = this.chain.append(agentBlockChanged(agentId, blocked, reason, actor, ts, !existing));
        if (existing) this.stmt.setBlocked.run(blocked ? 1 : 0, blockedReason, ts, seq, agentId);
        else this.stmt.insertBlankAgent.run(agentId, agentId, blocked ? 1 : 0, blockedReason, ts, ts, seq);
        return agentFromRow(mustExist(this.stmt.getAgent.get(agentId), 'agent', agentId));
      });
    });
  }

  // Actions --------------------------------------------------------------------------------------

  /** See {@link SqliteDecisions.record} (queued in `batched` mode: see {@link SqliteStoreOptions.onFlush}). */
  async recordDecision(action: ActionRecord, approval?: ApprovalRecord, options: RecordDecisionOptions = {}): Promise<void> {
    return this.guard('recordDecision', () => this.decisions.record(action, approval, options));
  }

  /** See {@link SqliteDecisions.budgetUsage}. */
  async budgetUsage(budgets: readonly BudgetWindow[], nowMs: number): Promise<number[]> {
    return this.guard('budgetUsage', () => this.decisions.budgetUsage(budgets, nowMs));
  }

  /** {@link budgetUsage} with each budget's oldest spend. */
  async budgetUse(budgets: readonly BudgetWindow[], nowMs: number): Promise<BudgetUse[]> {
    return this.guard('budgetUse', () => this.decisions.budgetUse(budgets, nowMs));
  }

  /** See {@link SqliteDecisions.recordOutcome}. */
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

  /** See {@link SqliteApprovals.decide}. */
  async decideApproval(decision: ApprovalDecision): Promise<ApprovalRecord> {
    return this.guard('decideApproval', () => this.approvals.decide(decision));
  }

  /** Mark a still-pending request `expired`; returns the record as it now stands. */
  async expireApproval(approvalId: string, now: string): Promise<ApprovalRecord> {
    return this.guard('expireApproval', () => this.approvals.expire(approvalId, now));
  }

  /** See {@link SqliteApprovals.consume}. */
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

  /** Store a new key; appends `key.created` (no secret in it). */
  async createApiKey(key: ApiKeyRecord): Promise<void> {
    return this.guard('createApiKey', () => {
      const ts = isoUtc(key.createdAt, 'createdAt');
      this.writer.write(() => {
        if (this.prepared.get('SELECT 1 FROM api_keys WHERE key_id = ?').get(key.keyId) !== undefined) throw apiKeyExists(key.keyId);
        this.prepared.get(
          `INSERT INTO api_keys (key_id, name, role, org, secret_hash, signing_secret, require_signing, created_at, created_by, agent_ids)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(key.keyId, key.name, key.role, key.org, key.secretHash, key.signingSecret ?? null, key.requireSigning ? 1 : 0, ts, key.createdBy, agentIdsColumn(key));
        this.chain.append(keyCreated(key, ts));
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
    return this.guard('revokeApiKey', () => {
      const ts = isoUtc(now, 'now');
      return this.writer.write(() => {
        const select = this.prepared.get('SELECT * FROM api_keys WHERE key_id = ?');
        const row = mustExist(select.get(keyId) as ApiKeyRow | undefined, 'API key', keyId);
        if (row.revoked_at !== null) throw apiKeyAlreadyRevoked(keyId, row.revoked_at);
        this.prepared.get('UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE key_id = ?').run(ts, actor, keyId);
        this.chain.append(keyRevoked({ keyId, name: row.name, role: row.role, org: row.org }, actor, ts));
        return apiKeyFromRow(select.get(keyId) as ApiKeyRow);
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
    return this.guard('pushPolicy', () => {
      const ts = isoUtc(change.at, 'at');
      return this.writer.write(() => {
        const info = this.prepared.get('INSERT INTO policies (policy_version, text, name, revision, pushed_by, pushed_at) VALUES (?, ?, ?, ?, ?, ?)').run(
          policy.policyVersion, policy.text, policy.name ?? null, policy.revision ?? null, policy.pushedBy, isoUtc(policy.pushedAt, 'pushedAt'),
        );
        this.chain.append(policyChanged(change, ts));
        return { ...policy, id: Number(info.lastInsertRowid) };
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
    return this.guard('readAudit', () => {
      this.writer.flush();
      return this.reads.audit(query);
    });
  }

  /** See {@link SqliteReader.verify}. Queued writes are flushed first. */
  async verifyAudit(from: ChainStart = CHAIN_BEGINNING): Promise<AuditVerification> {
    return this.guard('verifyAudit', () => {
      this.writer.flush();
      return this.reads.verify(from);
    });
  }

  /** See {@link Store.auditBase}. */
  async auditBase(): Promise<AuditBase> {
    return this.guard('auditBase', () => this.reads.base());
  }

  /** See {@link SqliteArchive.plan}. */
  async planArchive(before: string): Promise<ArchivePlan | undefined> {
    return this.guard('planArchive', () => this.archive.plan(before));
  }

  /** See {@link Store.removeArchived}. */
  async removeArchived(plan: ArchivePlan, counts: Record<string, number>, actor: string, at: string): Promise<AuditBase> {
    return this.guard('removeArchived', () => this.archive.remove(plan, counts, actor, at));
  }

  // Lifecycle ------------------------------------------------------------------------------------

  /**
   * Call `listener` whenever state may have changed: right after this store's own commits, and
   * within `pollIntervalMs` of another connection's or process's commit. Returns the unsubscribe.
   */
  watch(listener: () => void): () => void {
    this.assertOpen();
    return this.notifier.add(listener);
  }

  /**
   * Resolves once every write made before the call is committed (see
   * {@link SqliteWriter.whenDurable}). A server acknowledges with it: group-commit throughput,
   * sync-mode durability.
   */
  whenDurable(): Promise<void> {
    return this.writer.whenDurable();
  }

  /**
   * Commit everything queued; when it resolves, every write made before the call is durable.
   * Rejects with {@link UnwrittenRecordsError} (saying what is still unwritten) when the commit
   * fails: the records stay queued and are retried.
   */
  async flush(): Promise<void> {
    this.assertOpen();
    try {
      this.writer.flush();
    } catch (err) {
      if (this.writer.queue && this.writer.queue.length > 0) throw this.writer.unwritten(err);
      throw toStoreError(err, this.path, 'flush', this.busyTimeoutMs);
    }
  }

  /** Flush, write the action index up to date, stop timers, close the database. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      this.writer.flush();
    } catch (err) {
      // Queued records are never dropped: the store stays open (retrying, and once more at exit),
      // and close() can be called again once the disk has room.
      if (this.writer.queue && this.writer.queue.length > 0) throw this.writer.unwritten(err);
    }
    let failure: unknown;
    try {
      // A writer leaves the index complete, so the next reader does not scan what it wrote. (A
      // connection that only read never writes, not even here: the file may be read-only.)
      if (this.writer.wrote && this.chain.unindexed) this.writer.write(() => this.chain.indexTail());
    } catch (err) {
      failure = err;
    }
    this.closed = true;
    this.writer.stop();
    await this.checkpointer?.stop();
    this.notifier.close();
    this.view.forget();
    try {
      this.db.close();
    } catch (err) {
      failure ??= err;
    }
    if (failure !== undefined) throw toStoreError(failure, this.path, 'closing', this.busyTimeoutMs);
  }

  // Internals ------------------------------------------------------------------------------------

  /** Run `fn` on an open store, turning SQLite failures into StoreErrors. */
  private guard<T>(operation: string, fn: () => T): T {
    this.assertOpen();
    try {
      return fn();
    } catch (err) {
      throw toStoreError(err, this.path, operation, this.busyTimeoutMs);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError(`SQLite store ${this.path}: the store is closed`);
  }

  /** Append one event that changes no table. */
  private async appendStandalone(operation: string, entryOf: () => AuditEntry): Promise<void> {
    return this.guard(operation, () => {
      const entry = entryOf();
      this.writer.write(() => {
        this.chain.append(entry);
      });
    });
  }
}
