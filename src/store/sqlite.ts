/**
 * The SQLite {@link Store}: one file, WAL journal, safe to share between processes (an agent and
 * the `ascend` CLI approving from another terminal).
 *
 * Durability: `journal_mode=WAL` with `synchronous=NORMAL`. A committed write survives a crash or
 * `kill -9` of the process, which is what Ascend promises. A power loss or OS crash may lose the
 * last few commits (WAL+NORMAL does not fsync each commit); the file stays consistent.
 *
 * Every mutation appends its audit events in the same `BEGIN IMMEDIATE` transaction as the state
 * change. The chain head is read inside that transaction, never trusted from memory, so several
 * processes writing the same file keep one valid chain.
 *
 * The hot path — a decision, an outcome — commits one row, its audit event (see migrations.ts
 * and chain-view.ts for how actions are still found by id).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import nodePath from 'node:path';
import { performance } from 'node:perf_hooks';
import type Database from 'better-sqlite3';
import { AscendError, ConflictError, NotFoundError, StaleDecisionError, StoreError, UnwrittenRecordsError } from '../core/errors.js';

export { UnwrittenRecordsError } from '../core/errors.js';
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
import { AuditAppender, GENESIS_HASH } from './audit-chain.js';
import { CHAIN_BEGINNING, ChainWalk, effectiveStart } from './chain-walk.js';
import { archiveStatements, planArchive, planConflict, type ScalarQuery } from './archive-plan.js';
import { type FiguresDialect, type FiguresRow, strayAgentSql, tableFigures, tableFiguresSql } from './audit-cross-check.js';
import { type FlushReport, flushOnProcessExit, type QueuedWrite, WriteQueue } from './batch.js';
import { ChainView, type ChainSource, type FrozenAgent, HOT_AUDIT_TYPES } from './chain-view.js';
import { BACKGROUND_WAL_PAGES, BackgroundCheckpointer } from './sqlite-checkpointer.js';
import { openDatabase } from './sqlite-driver.js';
import { CHAIN_NOTE_EVENTS, CHAIN_NOTE_TYPES, migrate, NOT_HOT } from './migrations.js';
import {
  actionJson,
  agentFromRow,
  agentIdsColumn,
  apiKeyFromRow,
  type ApiKeyRow,
  approvalFromRow,
  approvalInsertParams,
  checkApprovalDecision,
  checkEditsOfRow,
  auditEventFromRow,
  grantForApproval,
  grantFromRow,
  isoUtc,
  duplicateAction,
  duplicateOutcome,
  json,
  limitOf,
  outcomeJson,
  positive,
  type PolicyRow,
  storedPolicyFromRow,
  auditBaseFromRow,
  type AuditBaseRow,
  auditBaseSql,
} from './records.js';
import { isConstraintError, sqliteCode, toStoreError } from './sqlite-errors.js';
import { AUDIT_COLUMNS, type AuditRow, prepareStatements, type Statements } from './sqlite-statements.js';
import { type BudgetMark, SqliteBudgets } from './sqlite-budgets.js';
import {
  actionEvaluated,
  actionOutcome,
  agentBlockChanged,
  agentRegistered,
  approvalConsumed,
  approvalDecided,
  approvalExpired,
  approvalRequested,
  type AuditEntry,
  auditArchived,
  checkpointKeyRegistered,
  checkpointRecorded,
  grantCreated,
  grantRevoked,
  keyCreated,
  keyRevoked,
  policyChanged,
} from './audit-events.js';
import type {
  AgentRegistrationInput,
  ApprovalDecision,
  ApprovalFilter,
  ArchivePlan,
  AuditBase,
  AuditQuery,
  BudgetUse,
  BudgetWindow,
  DurabilityOptions,
  RecordDecisionOptions,
  Store,
} from './store.js';
import { ChangeNotifier } from './watch.js';

export type { FlushReport } from './batch.js';

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions extends Partial<DurabilityOptions> {
  /** How often other processes' commits are polled for while someone watches. Default 25. */
  pollIntervalMs?: number;
  /** How long a write waits for another process's lock before failing. Default 5000. */
  busyTimeoutMs?: number;
  /**
   * `batched` mode: called synchronously right after each commit that made queued writes
   * durable, with exactly which ones. This is the acknowledgement for queued writes (their
   * promises resolve when queued). Also `await store.flush()`: everything queued before it is
   * durable when it resolves.
   */
  onFlush?: (report: FlushReport) => void;
  /**
   * `batched` mode: called when a flush nobody awaits (timer, size limit, another write's drain)
   * fails or has to drop writes that can never commit (e.g. an outcome recorded twice).
   * Default: a process warning.
   */
  onFlushError?: (error: StoreError) => void;
  /**
   * Checkpoint the WAL from a worker thread instead of inside commits (a server under load: see
   * `sqlite-checkpointer.ts`). Default false.
   */
  backgroundCheckpoints?: boolean;
}

/** Defaults of {@link openSqliteStore}. */
export const SQLITE_DEFAULTS = {
  durability: 'sync',
  flushIntervalMs: 5,
  maxBatchSize: 256,
  pollIntervalMs: 25,
  busyTimeoutMs: 5000,
} as const;

/**
 * Unindexed actions a connection lets build up in its tail before it writes them to
 * `action_index` (in the transaction that crosses the mark: one bulk write instead of an index
 * page per commit).
 */
export const INDEX_AFTER_ACTIONS = 512;

/** The store's tables, for the cross-checks of `verifyAudit`. */
const SQLITE_FIGURES: FiguresDialect = { kind: 'sqlite', table: (name) => name };

/** Where an action's hot events are. */
interface ActionLocation {
  agentId: string;
  decisionSeq: number;
  outcomeSeq: number | undefined;
}

/** The file `ascend.db` inside `dataDir`. */
export function defaultDbPath(dataDir: string): string {
  return nodePath.join(dataDir, 'ascend.db');
}

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
  private readonly chain: AuditAppender;
  private readonly view = new ChainView();
  private readonly source: ChainSource;
  private readonly readTransaction: Database.Transaction<(fn: () => unknown) => unknown>;
  private readonly queue: WriteQueue | undefined;
  private readonly flushIntervalMs: number;
  private readonly notifier: ChangeNotifier;
  private readonly busyTimeoutMs: number;
  private readonly checkpointer: BackgroundCheckpointer | undefined;
  private readonly onFlush: ((report: FlushReport) => void) | undefined;
  private readonly onFlushError: (error: StoreError) => void;
  private readonly dynamic = new Map<string, Database.Statement>();
  private readonly budgets: SqliteBudgets;
  private unregisterExit: (() => void) | undefined;
  private closed = false;
  /** Whether this connection has committed a write. */
  private wrote = false;
  /** Callers of {@link whenDurable} waiting for the next group commit. */
  private durableWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  /**
   * Set while group commits fail (a full disk, an I/O error). Queued writes are kept and retried;
   * meanwhile every new write commits at once or fails, so nothing more is acknowledged that is
   * not durable (and, through the client's fail mode, no further tool runs on an unwritten record).
   */
  private commitFailure: StoreError | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = 0;

  /** Prefer {@link openSqliteStore}. */
  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.path = path;
    this.durability = options.durability ?? SQLITE_DEFAULTS.durability;
    this.busyTimeoutMs = positive(options.busyTimeoutMs, SQLITE_DEFAULTS.busyTimeoutMs, 'busyTimeoutMs', true);
    const flushIntervalMs = positive(options.flushIntervalMs, SQLITE_DEFAULTS.flushIntervalMs, 'flushIntervalMs', true);
    this.flushIntervalMs = flushIntervalMs;
    const maxBatchSize = positive(options.maxBatchSize, SQLITE_DEFAULTS.maxBatchSize, 'maxBatchSize', false);
    const pollIntervalMs = positive(options.pollIntervalMs, SQLITE_DEFAULTS.pollIntervalMs, 'pollIntervalMs', false);
    this.onFlush = options.onFlush;
    this.onFlushError = options.onFlushError ?? ((err) => process.emitWarning(err.message));

    this.db = this.openDatabase();
    this.stmt = prepareStatements(this.db);
    this.budgets = new SqliteBudgets(this.stmt);
    const { auditHead, auditRowsAfter, indexedThrough, insertAudit } = this.stmt;
    this.source = {
      head: () => auditHead.get(),
      rowsAfter: (afterSeq) => auditRowsAfter.iterate(afterSeq),
      indexedThrough: () => indexedThrough.get() ?? 0,
    };
    this.chain = new AuditAppender(
      (seq, e, data, prevHash, hash) => {
        insertAudit.run(seq, e.ts, e.type, e.agentId, e.actionId, e.approvalId, e.actor, data, prevHash, hash);
      },
      (seq, hash, e) => this.view.appended(seq, hash, e.type, e.agentId, e.actionId),
    );
    this.readTransaction = this.db.transaction((fn: () => unknown): unknown => {
      this.view.catchUp(this.source, performance.now());
      return fn();
    });
    const dataVersion = this.stmt.dataVersion;
    this.notifier = new ChangeNotifier(pollIntervalMs, () => dataVersion.get() as number);
    if (this.durability === 'batched') {
      this.queue = new WriteQueue(flushIntervalMs, maxBatchSize, () => this.backgroundFlush());
      this.unregisterExit = flushOnProcessExit(() => this.flushBeforeExit());
    }
    if (options.backgroundCheckpoints && this.path !== ':memory:') this.checkpointer = this.startBackgroundCheckpoints();
  }

  /** See {@link SqliteStoreOptions.backgroundCheckpoints}; undefined when no worker could start. */
  private startBackgroundCheckpoints(): BackgroundCheckpointer | undefined {
    const takeBack = (reason: string): void => {
      if (this.closed) return;
      this.db.pragma('wal_autocheckpoint = 1000'); // SQLite's default: commits checkpoint again
      process.emitWarning(`SQLite store ${this.path}: background checkpoints stopped (${reason}); commits checkpoint again`);
    };
    try {
      const checkpointer = new BackgroundCheckpointer({ path: this.path, onLost: takeBack });
      // Commits still checkpoint, rarely: then only the frames the worker has not copied yet
      // remain, and the WAL can start over (a passive checkpoint alone never lets it, under load).
      this.db.pragma(`wal_autocheckpoint = ${BACKGROUND_WAL_PAGES}`);
      this.db.pragma(`journal_size_limit = ${BACKGROUND_WAL_PAGES * 4096}`);
      return checkpointer;
    } catch (err) {
      takeBack((err as Error).message);
      return undefined;
    }
  }

  private openDatabase(): Database.Database {
    let db: Database.Database | undefined;
    try {
      if (this.path !== ':memory:') fs.mkdirSync(nodePath.dirname(nodePath.resolve(this.path)), { recursive: true });
      db = openDatabase(this.path, { timeout: this.busyTimeoutMs });
      const mode = switchToWal(db, this.busyTimeoutMs);
      if (mode !== 'wal' && this.path !== ':memory:') {
        throw new StoreError(`SQLite store ${this.path}: could not switch to WAL journal mode (got ${String(mode)})`);
      }
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      migrate(db, this.path);
      return db;
    } catch (err) {
      db?.close();
      throw toStoreError(err, this.path, 'opening the database', this.busyTimeoutMs);
    }
  }

  // Agents -------------------------------------------------------------------------------------

  /** Insert or update a registration (keeps `blocked`); appends `agent.registered`. */
  async upsertAgent(agent: AgentRegistrationInput, now: string): Promise<AgentRecord> {
    return this.guard('upsertAgent', () => {
      const ts = isoUtc(now, 'now');
      const capabilities = json(agent.capabilities);
      const allowedResources = json(agent.allowedResources);
      const metadata = json(agent.metadata);
      return this.write(() => {
        const entry = agentRegistered(agent, ts, { capabilities, allowedResources, metadata });
        const seq = this.chain.append(entry.event, entry.data);
        this.stmt.upsertAgent.run(agent.agentId, agent.agentName, agent.agentType, capabilities, allowedResources, metadata, ts, ts, seq);
        return agentFromRow(this.mustGet(this.stmt.getAgent.get(agent.agentId), 'agent', agent.agentId));
      });
    });
  }

  /** The agent's registration as the database has it now. */
  async getAgent(agentId: string): Promise<AgentRecord | undefined> {
    return this.guard('getAgent', () => {
      const row = this.read(() => this.stmt.getAgent.get(agentId));
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
      if (this.queue && performance.now() - this.view.syncedAtMs > this.flushIntervalMs) this.read(() => undefined);
      const cached = this.view.agent(agentId);
      if (cached !== undefined) return cached ?? undefined;
      const row = this.read(() => this.stmt.getAgent.get(agentId));
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
      return this.write(() => {
        const existing = this.stmt.getAgent.get(agentId);
        const blockedReason = blocked ? reason : null;
        const entry = agentBlockChanged(agentId, blocked, reason, actor, ts, !existing);
        const seq = this.chain.append(entry.event, entry.data);
        if (existing) this.stmt.setBlocked.run(blocked ? 1 : 0, blockedReason, ts, seq, agentId);
        else this.stmt.insertBlankAgent.run(agentId, agentId, blocked ? 1 : 0, blockedReason, ts, ts, seq);
        return agentFromRow(this.mustGet(this.stmt.getAgent.get(agentId), 'agent', agentId));
      });
    });
  }

  // Actions --------------------------------------------------------------------------------------

  /**
   * Record a decision (`action.evaluated`), and with a pending one its approval request
   * (`approval.requested`) in the same transaction. In `batched` mode an allowed decision
   * without an approval is queued (see {@link SqliteStoreOptions.onFlush}). ConflictError when
   * the action id is already recorded; StaleDecisionError when the agent changed since
   * `agentVersion` or `spendsApproval` cannot be spent (see {@link RecordDecisionOptions}).
   */
  async recordDecision(action: ActionRecord, approval?: ApprovalRecord, options: RecordDecisionOptions = {}): Promise<void> {
    return this.guard('recordDecision', () => {
      const recordJson = actionJson(action);
      const ts = isoUtc(action.createdAt, 'action.createdAt');
      const actionId = action.actionId;
      const spends = action.decision === 'allowed' && options.budgets !== undefined && options.budgets.length > 0 ? options.budgets : undefined;
      const atMs = Date.parse(ts);
      if (this.queue && approval === undefined && action.decision === 'allowed' && options.spendsApproval === undefined && options.spendsEditedApproval === undefined && options.commitNow !== true) {
        // Checked again, against the whole file, when the queue is written.
        if (this.queue.decision(actionId) || this.view.tail.get(actionId)?.decisionSeq !== undefined) throw duplicateAction(actionId);
        if (spends === undefined) {
          this.enqueue({ kind: 'decision', action, json: recordJson });
          return;
        }
        // Counted at once, so the next call in this process sees them.
        if (!this.budgets.loaded(spends)) {
          this.read(() => {
            this.budgets.catchUp();
            this.budgets.usage(spends, atMs);
          });
        }
        this.budgets.count(spends, atMs);
        try {
          this.enqueue({ kind: 'decision', action, json: recordJson, spends });
        } catch (err) {
          this.budgets.uncount(spends, atMs);
          throw err;
        }
        return;
      }
      const approvalRow = approval ? approvalInsertParams(approval) : undefined;
      this.write(() => {
        const [version, indexed] = this.stmt.decisionCheck.get(action.agentId, actionId) ?? [null, null];
        if (indexed !== null || this.view.tail.get(actionId)?.decisionSeq !== undefined) throw duplicateAction(actionId);
        if (options.agentVersion !== undefined && (version ?? 0) !== options.agentVersion) {
          throw new StaleDecisionError(`Agent "${action.agentId}" changed while a call was being decided`, {
            agentId: action.agentId,
            decidedOnVersion: options.agentVersion,
            currentVersion: version ?? 0,
          });
        }
        const spent = options.spendsApproval;
        if (spent !== undefined && !this.spendApproval(spent, action.digest, ts, false)) {
          throw new StaleDecisionError(`Approval "${spent}" was spent by another call, or no longer matches`, { approvalId: spent });
        }
        const edited = options.spendsEditedApproval;
        if (edited !== undefined && !this.spendApproval(edited.approvalId, edited.digest, ts, true)) {
          throw new StaleDecisionError(`Approval "${edited.approvalId}" was spent by another call, or no longer matches`, { approvalId: edited.approvalId });
        }
        // Refused here (rolled back) when a budget the decision relied on is used up.
        if (spends !== undefined) this.budgets.spendAndCheck(spends, actionId, atMs);
        this.insertDecision(action, recordJson, ts);
        if (approval && approvalRow) {
          this.stmt.insertApproval.run(...approvalRow);
          const entry = approvalRequested(approval, approvalRow[7]);
          this.chain.append(entry.event, entry.data);
        }
      });
      if (spends !== undefined) this.budgets.count(spends, atMs);
    });
  }

  /**
   * Spends of each budget within its window ending at `nowMs`: every connection's committed
   * ones, read through this connection's copy (one indexed read when nothing new was committed;
   * none when it read less than BUDGET_COPY_MAX_AGE_MS ago), plus this store's queued ones.
   */
  async budgetUsage(budgets: readonly BudgetWindow[], nowMs: number): Promise<number[]> {
    return this.guard('budgetUsage', () => {
      if (!this.budgets.loaded(budgets)) {
        // Catching up and loading must see one snapshot.
        return this.read(() => {
          this.budgets.catchUp();
          return this.budgets.usage(budgets, nowMs);
        });
      }
      if (!this.budgets.fresh) this.budgets.catchUp();
      return this.budgets.usage(budgets, nowMs);
    });
  }

  /** {@link budgetUsage} with each budget's oldest spend. */
  async budgetUse(budgets: readonly BudgetWindow[], nowMs: number): Promise<BudgetUse[]> {
    return this.guard('budgetUse', () =>
      this.read(() => {
        this.budgets.catchUp();
        return this.budgets.use(budgets, nowMs);
      }),
    );
  }

  /**
   * Record how the action ended (`action.completed` / `action.failed`); queued in `batched`
   * mode. NotFoundError for an unknown action; ConflictError when it already has an outcome.
   */
  async recordOutcome(outcome: OutcomeRecord): Promise<void> {
    return this.guard('recordOutcome', () => {
      const actionId = outcome.actionId;
      const recordJson = outcomeJson(outcome);
      if (this.queue) {
        if (this.queue.outcome(actionId)) throw duplicateOutcome(actionId);
        let agentId = this.queue.decision(actionId)?.action.agentId;
        if (agentId === undefined) {
          // Usually a decision of ours still in the tail; otherwise look in the file.
          const tailEntry = this.view.tail.get(actionId);
          const found =
            tailEntry?.decisionSeq !== undefined
              ? { agentId: tailEntry.agentId, outcomeSeq: tailEntry.outcomeSeq }
              : this.read(() => this.locate(actionId));
          if (found === undefined) throw new NotFoundError('action', actionId);
          if (found.outcomeSeq !== undefined) throw duplicateOutcome(actionId);
          agentId = found.agentId;
        }
        this.enqueue({ kind: 'outcome', outcome, json: recordJson, agentId });
        return;
      }
      this.write(() => this.insertOutcome(outcome, recordJson));
    });
  }

  /** The action and its decision; includes actions still queued in a batch. */
  async getAction(actionId: string): Promise<ActionRecord | undefined> {
    return this.guard('getAction', () => {
      const text =
        this.queue?.decision(actionId)?.json ??
        this.read(() => {
          const found = this.locate(actionId);
          return found === undefined ? undefined : this.stmt.auditData.get(found.decisionSeq);
        });
      return text === undefined ? undefined : (JSON.parse(text) as ActionRecord);
    });
  }

  /** How the action ended, if recorded; includes outcomes still queued in a batch. */
  async getOutcome(actionId: string): Promise<OutcomeRecord | undefined> {
    return this.guard('getOutcome', () => {
      const text =
        this.queue?.outcome(actionId)?.json ??
        this.read(() => {
          const seq = this.locate(actionId)?.outcomeSeq;
          return seq === undefined ? undefined : this.stmt.auditData.get(seq);
        });
      return text === undefined ? undefined : (JSON.parse(text) as OutcomeRecord);
    });
  }

  // Approvals ------------------------------------------------------------------------------------

  /** The approval request, if any. */
  async getApproval(approvalId: string): Promise<ApprovalRecord | undefined> {
    return this.guard('getApproval', () => {
      const row = this.stmt.getApproval.get(approvalId);
      return row ? approvalFromRow(row) : undefined;
    });
  }

  /** Approval requests, newest first. */
  async listApprovals(filter: ApprovalFilter = {}): Promise<ApprovalRecord[]> {
    return this.guard('listApprovals', () => {
      const where: string[] = [];
      const params: unknown[] = [];
      if (filter.status !== undefined) {
        where.push('status = ?');
        params.push(filter.status);
      }
      if (filter.agentId !== undefined) {
        where.push('agent_id = ?');
        params.push(filter.agentId);
      }
      if (filter.agentIdPrefix !== undefined) addPrefixFilter(where, params, filter.agentIdPrefix);
      let sql = 'SELECT * FROM approvals' + (where.length ? ' WHERE ' + where.join(' AND ') : '') + ' ORDER BY requested_at DESC, rowid DESC';
      if (filter.limit !== undefined) {
        sql += ' LIMIT ?';
        params.push(limitOf(filter.limit));
      }
      return (this.prepared(sql).all(...params) as Parameters<typeof approvalFromRow>[0][]).map(approvalFromRow);
    });
  }

  /**
   * Approve or reject a pending, unexpired request atomically; with `grantMinutes` (approve
   * only) also create the grant. NotFoundError; ConflictError when no longer pending or expired
   * (an expired pending request is first marked `expired`, with an `approval.expired` event).
   */
  async decideApproval(decision: ApprovalDecision): Promise<ApprovalRecord> {
    return this.guard('decideApproval', () => {
      const now = isoUtc(decision.now, 'now');
      const { approvalId, status, decidedBy, channel } = decision;
      checkApprovalDecision(decision);
      const outcome = this.write((): ApprovalRecord | ConflictError => {
        const row = this.mustGet(this.stmt.getApproval.get(approvalId), 'approval', approvalId);
        if (row.status !== 'pending') {
          return new ConflictError(`Approval "${approvalId}" was already ${row.status}`, { approvalId, status: row.status });
        }
        if (row.expires_at <= now) {
          this.markExpired(row.approval_id, row.agent_id, row.action_id, row.expires_at, now, 'expired before a decision');
          return new ConflictError(`Approval "${approvalId}" expired at ${row.expires_at}`, { approvalId, status: 'expired' });
        }
        checkEditsOfRow(row, decision.edits);
        const grantId = decision.grantMinutes !== undefined ? randomUUID() : undefined;
        const edits = decision.edits === undefined ? null : JSON.stringify(decision.edits);
        this.stmt.decideApproval.run(status, now, decidedBy, channel, decision.comment ?? null, grantId ?? null, edits, approvalId);
        const ref = { approvalId, agentId: row.agent_id, actionId: row.action_id };
        const decided = approvalDecided(ref, { status, decidedBy, channel, claimedChannel: decision.claimedChannel, comment: decision.comment, grantId, edits: decision.edits }, now);
        this.chain.append(decided.event, decided.data);
        if (grantId !== undefined && decision.grantMinutes !== undefined) {
          const grant = grantForApproval({ approvalId, agentId: row.agent_id, actionType: row.action_type }, grantId, decision.grantMinutes, decidedBy, channel, now);
          this.stmt.insertGrant.run(grantId, grant.agentId, grant.actionType, now, grant.expiresAt, decidedBy, channel, approvalId);
          const created = grantCreated(ref, grant, decidedBy, now);
          this.chain.append(created.event, created.data);
        }
        return approvalFromRow(this.mustGet(this.stmt.getApproval.get(approvalId), 'approval', approvalId));
      });
      if (outcome instanceof ConflictError) throw outcome;
      return outcome;
    });
  }

  /** Mark a still-pending request `expired`; returns the record as it now stands. */
  async expireApproval(approvalId: string, now: string): Promise<ApprovalRecord> {
    return this.guard('expireApproval', () => {
      const ts = isoUtc(now, 'now');
      return this.write(() => {
        const row = this.mustGet(this.stmt.getApproval.get(approvalId), 'approval', approvalId);
        if (row.status === 'pending') this.markExpired(approvalId, row.agent_id, row.action_id, row.expires_at, ts, 'timeout');
        return approvalFromRow(this.mustGet(this.stmt.getApproval.get(approvalId), 'approval', approvalId));
      });
    });
  }

  /**
   * Use an approved request for the call with this digest, once. True only when approved,
   * unconsumed, unexpired and the digest matches; appends `approval.consumed` then.
   */
  async consumeApproval(approvalId: string, digest: string, now: string): Promise<boolean> {
    return this.guard('consumeApproval', () => {
      const ts = isoUtc(now, 'now');
      return this.write(() => this.spendApproval(approvalId, digest, ts, false));
    });
  }

  /** {@link consumeApproval} inside the current write transaction; `edited`: an approval with edits, for the edited call. */
  private spendApproval(approvalId: string, digest: string, ts: string, edited: boolean): boolean {
    if (this.stmt.consumeApproval.run(ts, approvalId, digest, ts, edited ? 1 : 0).changes !== 1) return false;
    const row = this.mustGet(this.stmt.getApproval.get(approvalId), 'approval', approvalId);
    const entry = approvalConsumed({ approvalId, agentId: row.agent_id, actionId: row.action_id }, digest, ts);
    this.chain.append(entry.event, entry.data);
    return true;
  }

  /** An approved, unconsumed, unexpired request for exactly this call (latest decided), if any. */
  async findUsableApproval(agentId: string, digest: string, now: string): Promise<ApprovalRecord | undefined> {
    return this.guard('findUsableApproval', () => {
      const row = this.stmt.findUsableApproval.get(agentId, digest, isoUtc(now, 'now'));
      return row ? approvalFromRow(row) : undefined;
    });
  }

  // Grants ---------------------------------------------------------------------------------------

  /** The latest unrevoked, unexpired grant for this agent and action type, if any. */
  async findActiveGrant(agentId: string, actionType: string, now: string): Promise<GrantRecord | undefined> {
    return this.guard('findActiveGrant', () => {
      const row = this.stmt.findActiveGrant.get(agentId, actionType, isoUtc(now, 'now'));
      return row ? grantFromRow(row) : undefined;
    });
  }

  /**
   * Grants, newest first. `activeAt`: only those in force at that time (created by then, not yet
   * expired, not revoked by then).
   */
  async listGrants(filter: { activeAt?: string; agentId?: string } = {}): Promise<GrantRecord[]> {
    return this.guard('listGrants', () => {
      const where: string[] = [];
      const params: unknown[] = [];
      if (filter.agentId !== undefined) {
        where.push('agent_id = ?');
        params.push(filter.agentId);
      }
      if (filter.activeAt !== undefined) {
        const at = isoUtc(filter.activeAt, 'activeAt');
        where.push('created_at <= ? AND expires_at > ? AND (revoked_at IS NULL OR revoked_at > ?)');
        params.push(at, at, at);
      }
      const sql = 'SELECT * FROM grants' + (where.length ? ' WHERE ' + where.join(' AND ') : '') + ' ORDER BY created_at DESC, rowid DESC';
      return (this.prepared(sql).all(...params) as Parameters<typeof grantFromRow>[0][]).map(grantFromRow);
    });
  }

  /** Revoke a grant. NotFoundError; ConflictError if already revoked. Appends `grant.revoked`. */
  async revokeGrant(grantId: string, actor: string, now: string): Promise<GrantRecord> {
    return this.guard('revokeGrant', () => {
      const ts = isoUtc(now, 'now');
      return this.write(() => {
        const row = this.mustGet(this.stmt.getGrant.get(grantId), 'grant', grantId);
        if (row.revoked_at !== null || this.stmt.revokeGrant.run(ts, actor, grantId).changes !== 1) {
          throw new ConflictError(`Grant "${grantId}" was already revoked at ${row.revoked_at ?? '?'}`, { grantId });
        }
        const entry = grantRevoked({ grantId, agentId: row.agent_id, approvalId: row.approval_id, actionType: row.action_type }, actor, ts);
        this.chain.append(entry.event, entry.data);
        return grantFromRow(this.mustGet(this.stmt.getGrant.get(grantId), 'grant', grantId));
      });
    });
  }

  // API keys -------------------------------------------------------------------------------------

  /** Store a new key; appends `key.created` (no secret in it). */
  async createApiKey(key: ApiKeyRecord): Promise<void> {
    return this.guard('createApiKey', () => {
      const ts = isoUtc(key.createdAt, 'createdAt');
      this.write(() => {
        if (this.prepared('SELECT 1 FROM api_keys WHERE key_id = ?').get(key.keyId) !== undefined) {
          throw new ConflictError(`API key "${key.keyId}" already exists`, { keyId: key.keyId });
        }
        this.prepared(
          `INSERT INTO api_keys (key_id, name, role, org, secret_hash, signing_secret, require_signing, created_at, created_by, agent_ids)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(key.keyId, key.name, key.role, key.org, key.secretHash, key.signingSecret ?? null, key.requireSigning ? 1 : 0, ts, key.createdBy, agentIdsColumn(key));
        const entry = keyCreated(key, ts);
        this.chain.append(entry.event, entry.data);
      });
    });
  }

  /** Appends `policy.changed`. */
  async recordPolicyChange(change: PolicyChangeRecord): Promise<void> {
    return this.guard('recordPolicyChange', () => {
      const ts = isoUtc(change.at, 'at');
      const entry = policyChanged(change, ts);
      this.write(() => {
        this.chain.append(entry.event, entry.data);
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

  /** See {@link Store.auditBase}. */
  async auditBase(): Promise<AuditBase> {
    return this.guard('auditBase', () => this.readBase());
  }

  private readBase(): AuditBase {
    return auditBaseFromRow(this.prepared(auditBaseSql('audit_base')).get() as AuditBaseRow);
  }

  /** See {@link Store.planArchive}. Every decision and outcome is indexed first: archives cut at the index's reach. */
  async planArchive(before: string): Promise<ArchivePlan | undefined> {
    return this.guard('planArchive', async () => {
      const beforeIso = isoUtc(before, 'before');
      this.write(() => this.indexTail());
      const query: ScalarQuery = (sql, params) => Promise.resolve(this.scalar(sql, params));
      return planArchive(query, (name) => name, this.readBase(), beforeIso, this.stmt.indexedThrough.get() ?? 0);
    });
  }

  /** See {@link Store.removeArchived}. */
  async removeArchived(plan: ArchivePlan, counts: Record<string, number>, actor: string, at: string): Promise<AuditBase> {
    return this.guard('removeArchived', () => {
      const ts = isoUtc(at, 'at');
      const sql = archiveStatements((name) => name);
      return this.write(() => {
        const base = this.readBase();
        const throughHash = this.scalar(sql.hashAt, { seq: plan.throughSeq });
        const held = this.scalar(sql.firstHeldEvent, { after: plan.afterSeq, through: plan.throughSeq, since: plan.headSeq });
        const conflict = planConflict(base, plan, throughHash === null ? null : String(throughHash), held === null ? null : Number(held));
        if (conflict !== undefined) throw new ConflictError(`the archive cannot be taken as planned: ${conflict}; run it again`);
        const next: AuditBase = { seq: plan.throughSeq, hash: plan.throughHash, counts, retained: base.retained, archivedAt: ts };
        this.prepared('UPDATE audit_base SET seq = ?, hash = ?, counts = ?, retained = ?, archived_at = ? WHERE id = 1').run(
          next.seq, next.hash, json(next.counts), json(next.retained), ts,
        );
        // The archive cut below the index's reach: every archived decision is in it, and no outcome after it.
        this.prepared('DELETE FROM action_index WHERE decision_seq <= ?').run(plan.throughSeq);
        const removed = this.prepared('DELETE FROM audit_events WHERE seq <= ?').run(plan.throughSeq).changes;
        const entry = auditArchived({ ...plan, events: removed }, actor, ts);
        this.chain.append(entry.event, entry.data);
        return next;
      });
    });
  }

  /** The single value of `sql` (null when no row or a NULL). */
  private scalar(sql: string, params: Record<string, string | number>): string | number | null {
    const row = this.prepared(sql).raw().get(params) as Array<string | number | null> | undefined;
    return row?.[0] ?? null;
  }

  /** Append one event that changes no table. */
  private async appendStandalone(operation: string, entryOf: () => AuditEntry): Promise<void> {
    return this.guard(operation, () => {
      const entry = entryOf();
      this.write(() => {
        this.chain.append(entry.event, entry.data);
      });
    });
  }

  /** Stores the policy and appends its `policy.changed`, in one transaction. */
  async pushPolicy(policy: Omit<StoredPolicy, 'id'>, change: PolicyChangeRecord): Promise<StoredPolicy> {
    return this.guard('pushPolicy', () => {
      const ts = isoUtc(change.at, 'at');
      return this.write(() => {
        const info = this.prepared('INSERT INTO policies (policy_version, text, name, revision, pushed_by, pushed_at) VALUES (?, ?, ?, ?, ?, ?)').run(
          policy.policyVersion, policy.text, policy.name ?? null, policy.revision ?? null, policy.pushedBy, isoUtc(policy.pushedAt, 'pushedAt'),
        );
        const entry = policyChanged(change, ts);
        this.chain.append(entry.event, entry.data);
        return { ...policy, id: Number(info.lastInsertRowid) };
      });
    });
  }

  /** The latest pushed policy. */
  async latestPolicy(): Promise<StoredPolicy | undefined> {
    return this.guard('latestPolicy', () => {
      const row = this.prepared('SELECT * FROM policies ORDER BY id DESC LIMIT 1').get() as PolicyRow | undefined;
      return row === undefined ? undefined : storedPolicyFromRow(row);
    });
  }

  async getApiKey(keyId: string): Promise<ApiKeyRecord | undefined> {
    return this.guard('getApiKey', () => {
      const row = this.prepared('SELECT * FROM api_keys WHERE key_id = ?').get(keyId) as ApiKeyRow | undefined;
      return row ? apiKeyFromRow(row) : undefined;
    });
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.guard('listApiKeys', () =>
      (this.prepared('SELECT * FROM api_keys ORDER BY created_at DESC, rowid DESC').all() as ApiKeyRow[]).map(apiKeyFromRow),
    );
  }

  async revokeApiKey(keyId: string, actor: string, now: string): Promise<ApiKeyRecord> {
    return this.guard('revokeApiKey', () => {
      const ts = isoUtc(now, 'now');
      return this.write(() => {
        const select = this.prepared('SELECT * FROM api_keys WHERE key_id = ?');
        const row = this.mustGet(select.get(keyId) as ApiKeyRow | undefined, 'API key', keyId);
        if (row.revoked_at !== null) throw new ConflictError(`API key "${keyId}" was already revoked at ${row.revoked_at}`, { keyId });
        this.prepared('UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE key_id = ?').run(ts, actor, keyId);
        const entry = keyRevoked({ keyId, name: row.name, role: row.role, org: row.org }, actor, ts);
        this.chain.append(entry.event, entry.data);
        return apiKeyFromRow(select.get(keyId) as ApiKeyRow);
      });
    });
  }

  // Audit ----------------------------------------------------------------------------------------

  /** Audit events matching `query` (committed ones: queued writes are flushed first). */
  async readAudit(query: AuditQuery = {}): Promise<AuditEvent[]> {
    return this.guard('readAudit', () => {
      this.flushQueue();
      return this.read(() => this.queryAudit(query));
    });
  }

  private queryAudit(query: AuditQuery): AuditEvent[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.afterSeq !== undefined) {
      where.push('seq > ?');
      params.push(query.afterSeq);
    }
    if (query.beforeSeq !== undefined) {
      where.push('seq < ?');
      params.push(query.beforeSeq);
    }
    if (query.agentId !== undefined) {
      where.push('agent_id = ?');
      params.push(query.agentId);
    }
    if (query.agentIdPrefix !== undefined) addPrefixFilter(where, params, query.agentIdPrefix);
    if (query.actionId !== undefined) {
      // Hot events are found through the index and the tail, the rest through the partial index.
      const found = this.locate(query.actionId);
      where.push(`(seq IN (?, ?) OR (action_id = ? AND ${NOT_HOT}))`);
      params.push(found?.decisionSeq ?? -1, found?.outcomeSeq ?? -1, query.actionId);
    }
    if (query.types !== undefined) {
      if (query.types.length === 0) return [];
      where.push(`type IN (${query.types.map(() => '?').join(', ')})`);
      params.push(...query.types);
      // Spelled out so the planner may use the partial indexes (it cannot infer them from IN).
      if (query.types.every((t) => !HOT_AUDIT_TYPES.has(t))) where.push(NOT_HOT);
      if (query.types.every((t) => CHAIN_NOTE_TYPES.has(t))) where.push(CHAIN_NOTE_EVENTS);
    }
    if (query.actionType !== undefined) {
      where.push("json_extract(data, '$.actionType') = ?");
      params.push(query.actionType);
    }
    if (query.decision !== undefined) {
      where.push("type = 'action.evaluated' AND json_extract(data, '$.decision') = ?");
      params.push(query.decision);
    }
    if (query.since !== undefined) {
      where.push('ts >= ?');
      params.push(isoUtc(query.since, 'since'));
    }
    if (query.until !== undefined) {
      where.push('ts <= ?');
      params.push(isoUtc(query.until, 'until'));
    }
    let sql = `SELECT ${AUDIT_COLUMNS} FROM audit_events` + (where.length ? ' WHERE ' + where.join(' AND ') : '');
    sql += query.newestFirst ? ' ORDER BY seq DESC' : ' ORDER BY seq';
    if (query.limit !== undefined) {
      sql += ' LIMIT ?';
      params.push(limitOf(query.limit));
    }
    return (this.prepared(sql).all(...params) as AuditRow[]).map(auditEventFromRow);
  }

  /**
   * Recompute the chain from row 1 — or from `from`, a verified point such as a checkpoint —
   * streaming (constant memory), and name the first row that does not verify: a changed row
   * (hash mismatch), a broken link (prevHash mismatch) or a missing row (seq gap). Then
   * cross-check the tables against it (audit-cross-check.ts): rows deleted from its end
   * (truncated), and an index or counter that disagrees with it. Queued writes are flushed first.
   */
  async verifyAudit(from: ChainStart = CHAIN_BEGINNING): Promise<AuditVerification> {
    return this.guard('verifyAudit', () => {
      this.flushQueue();
      // One read transaction: the head and the rows come from the same snapshot.
      return this.db.transaction((): AuditVerification => {
        const head = this.stmt.auditHead.get();
        // Read before the walk: a connection runs nothing else while a statement iterates.
        const figures = tableFigures(
          SQLITE_FIGURES,
          this.prepared(tableFiguresSql(SQLITE_FIGURES)).get({ from: Math.max(from.seq, this.readBase().seq) }) as FiguresRow,
          this.prepared(strayAgentSql(SQLITE_FIGURES)).get() as FiguresRow | undefined,
        );
        const base = this.readBase();
        const start = effectiveStart(from, base);
        const walk = new ChainWalk(start, figures, base);
        walk.checkStart(start.seq > base.seq ? this.stmt.auditRowAt.get(start.seq) : undefined, head ? head[0] : 0);
        if (walk.going) {
          for (const row of this.stmt.verifyRows.iterate(start.seq)) if (!walk.add(row)) break;
        }
        return walk.finish(head);
      }).deferred();
    });
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
   * Resolves once every write made before the call is committed: at once in `sync` mode or when
   * nothing is queued, else at the group commit on the next turn of the event loop, which every
   * write queued in this turn shares. Rejects if that commit fails. A server acknowledges with
   * it: group-commit throughput, sync-mode durability.
   */
  whenDurable(): Promise<void> {
    if (!this.queue || this.queue.length === 0) return Promise.resolve();
    this.queue.flushSoon();
    return new Promise((resolve, reject) => this.durableWaiters.push({ resolve, reject }));
  }

  private settleDurable(error?: Error): void {
    if (this.durableWaiters.length === 0) return;
    const waiters = this.durableWaiters;
    this.durableWaiters = [];
    for (const w of waiters) {
      if (error) w.reject(error);
      else w.resolve();
    }
  }

  /**
   * Commit everything queued; when it resolves, every write made before the call is durable.
   * Rejects with {@link UnwrittenRecordsError} (saying what is still unwritten) when the commit
   * fails: the records stay queued and are retried.
   */
  async flush(): Promise<void> {
    this.assertOpen();
    try {
      this.flushQueue();
    } catch (err) {
      if (this.queue && this.queue.length > 0) throw this.unwritten(err);
      throw toStoreError(err, this.path, 'flush', this.busyTimeoutMs);
    }
  }

  /** Flush, write the action index up to date, stop timers, close the database. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      this.flushQueue();
    } catch (err) {
      // Queued records are never dropped: the store stays open (retrying, and once more at exit),
      // and close() can be called again once the disk has room.
      if (this.queue && this.queue.length > 0) throw this.unwritten(err);
    }
    let failure: unknown;
    try {
      // A writer leaves the index complete, so the next reader does not scan what it wrote. (A
      // connection that only read never writes, not even here: the file may be read-only.)
      if (this.wrote && this.view.tail.size > 0) this.transact(() => this.indexTail(), 0);
    } catch (err) {
      failure = err;
    }
    this.closed = true;
    await this.checkpointer?.stop();
    this.queue?.cancelTimer();
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.unregisterExit?.();
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

  /** A read transaction that first catches the view up (so tail + index are complete). */
  private read<T>(fn: () => T): T {
    return this.db.inTransaction ? fn() : (this.readTransaction.deferred(fn) as T);
  }

  /**
   * One write transaction (`BEGIN IMMEDIATE`): first the queued writes, in order, then `work`.
   * Listeners hear of it after the commit.
   */
  private write<T>(work: () => T): T {
    const queued = this.queue?.length ?? 0;
    if (queued > 0) {
      try {
        return this.transact(work, queued);
      } catch (err) {
        // A queued write that can never commit must not block this one: settle the queue
        // write by write (dropping and reporting the bad ones), then do this write alone.
        if (!(err instanceof QueuedWriteRejected) && !isConstraintError(err)) throw err;
        this.flushIsolating();
      }
    }
    return this.transact(work, 0);
  }

  private transact<T>(work: () => T, queued: number): T {
    const { begin, commit, rollback } = this.stmt;
    begin.run();
    let result: T;
    let report: FlushReport | undefined;
    let budgetMark: BudgetMark | undefined;
    try {
      // Inside the write lock: nobody can append between this read of the head and our rows.
      this.view.catchUp(this.source, performance.now());
      budgetMark = this.budgets.mark();
      this.chain.start(this.view.headSeq, this.view.headHash);
      if (queued > 0 && this.queue) report = this.writeQueued(this.queue.snapshot(), queued);
      result = work();
      if (this.chain.count > 0 && this.view.tail.size >= INDEX_AFTER_ACTIONS) this.indexTail();
      commit.run();
    } catch (err) {
      // Rows we appended are in the view but not in the file: forget it (it is rebuilt on the
      // next transaction). Rows only read stay valid.
      if (this.chain.count > 0) this.view.forget();
      if (budgetMark !== undefined) this.budgets.restore(budgetMark);
      if (this.db.inTransaction) {
        try {
          rollback.run();
        } catch {
          // The original error says more; SQLite already rolled back on some failures.
        }
      }
      if (queued > 0 && !(err instanceof QueuedWriteRejected) && !isConstraintError(err)) this.commitFailed(err);
      throw err;
    }
    this.commitSucceeded();
    this.wrote = true;
    if (report && this.queue) {
      this.queue.remove(queued);
      this.report(report);
      if (this.queue.length === 0) this.settleDurable();
    }
    this.notifier.notify();
    return result;
  }

  private writeQueued(items: readonly QueuedWrite[], count: number): FlushReport {
    const actionIds: string[] = [];
    const outcomeActionIds: string[] = [];
    let firstSeq = 0;
    let lastSeq = 0;
    for (let i = 0; i < count; i++) {
      const item = items[i] as QueuedWrite;
      let seq: number;
      try {
        if (item.kind === 'decision') {
          if (this.locate(item.action.actionId) !== undefined) throw duplicateAction(item.action.actionId);
          const ts = isoUtc(item.action.createdAt, 'action.createdAt');
          seq = this.insertDecision(item.action, item.json, ts);
          // Counted when queued; the rows commit with the decision.
          if (item.spends !== undefined) this.budgets.insert(item.spends, item.action.actionId, Date.parse(ts));
          actionIds.push(item.action.actionId);
        } else {
          seq = this.insertOutcome(item.outcome, item.json);
          outcomeActionIds.push(item.outcome.actionId);
        }
      } catch (err) {
        // Only what the file already holds makes a queued write impossible: say which one.
        if (err instanceof ConflictError || err instanceof NotFoundError) throw new QueuedWriteRejected(err.message);
        throw err;
      }
      if (i === 0) firstSeq = seq;
      lastSeq = seq;
    }
    return { actionIds, outcomeActionIds, firstSeq, lastSeq };
  }

  /** Where an action's hot events are; complete once the view has caught up in this transaction. */
  private locate(actionId: string): ActionLocation | undefined {
    const entry = this.view.tail.get(actionId);
    if (entry?.decisionSeq !== undefined) {
      return { agentId: entry.agentId, decisionSeq: entry.decisionSeq, outcomeSeq: entry.outcomeSeq };
    }
    const row = this.stmt.indexLookup.get(actionId);
    if (row === undefined) return undefined;
    return { agentId: row[0], decisionSeq: row[1], outcomeSeq: entry?.outcomeSeq ?? row[2] ?? undefined };
  }

  /** Write the view's tail to `action_index` (inside a write transaction). */
  private indexTail(): void {
    const { indexDecision, indexOutcome, setIndexedThrough } = this.stmt;
    this.view.pruneTo(this.source.indexedThrough()); // what another connection already indexed
    for (const [actionId, entry] of this.view.tail) {
      if (entry.decisionSeq !== undefined) indexDecision.run(actionId, entry.agentId, entry.decisionSeq, entry.outcomeSeq ?? null);
      else if (entry.outcomeSeq !== undefined) indexOutcome.run(entry.outcomeSeq, actionId);
    }
    setIndexedThrough.run(this.view.headSeq);
    this.view.indexed(this.view.headSeq);
  }

  /** `action.evaluated`, whose data is the record; returns its seq. */
  private insertDecision(action: ActionRecord, recordJson: string, ts: string): number {
    const entry = actionEvaluated(action, recordJson, ts);
    return this.chain.append(entry.event, entry.data);
  }

  /** `action.completed` / `action.failed` (data = the record), for a decided action without an
   * outcome; returns its seq. NotFoundError / ConflictError otherwise. */
  private insertOutcome(outcome: OutcomeRecord, recordJson: string): number {
    const actionId = outcome.actionId;
    const found = this.locate(actionId);
    if (found === undefined) throw new NotFoundError('action', actionId);
    if (found.outcomeSeq !== undefined) throw duplicateOutcome(actionId);
    const entry = actionOutcome(outcome, recordJson, isoUtc(outcome.recordedAt, 'outcome.recordedAt'), found.agentId);
    return this.chain.append(entry.event, entry.data);
  }

  private markExpired(approvalId: string, agentId: string, actionId: string, expiresAt: string, now: string, why: string): void {
    this.stmt.expireApproval.run(now, approvalId);
    const entry = approvalExpired({ approvalId, agentId, actionId }, expiresAt, now, why);
    this.chain.append(entry.event, entry.data);
  }

  private enqueue(item: QueuedWrite): void {
    const queue = this.queue as WriteQueue;
    // While commits fail, a write is acknowledged only once it is committed.
    if (!queue.push(item) && this.commitFailure === undefined) return;
    try {
      this.flushQueue();
    } catch (err) {
      // The caller learns its write failed, so it must not stay queued to commit later.
      queue.popLast(item);
      throw err;
    }
  }

  /** Commit the queue now (a no-op when empty). */
  private flushQueue(): void {
    if (!this.queue || this.queue.length === 0) return;
    try {
      this.transact(() => undefined, this.queue.length);
    } catch (err) {
      if (!(err instanceof QueuedWriteRejected) && !isConstraintError(err)) throw err;
      this.flushIsolating();
    }
  }

  /** Timer-driven flush: nobody awaits it, so failures go to `onFlushError`. */
  private backgroundFlush(): void {
    if (this.closed) return;
    try {
      this.flushQueue();
      if (this.queue?.length === 0) this.settleDurable();
    } catch (err) {
      const error = asStoreError(toStoreError(err, this.path, 'flushing queued writes', this.busyTimeoutMs));
      this.settleDurable(error);
      this.onFlushError(new StoreError(`${error.message} (${this.queue?.length ?? 0} queued records kept; retrying)`, { cause: error }));
    }
  }

  /** A group commit failed: keep the queue, refuse to queue more, retry with back-off. */
  private commitFailed(err: unknown): void {
    this.commitFailure ??= asStoreError(toStoreError(err, this.path, 'committing queued writes', this.busyTimeoutMs));
    this.retryDelayMs = Math.min(Math.max(this.retryDelayMs * 2, this.flushIntervalMs, 10), 1000);
    if (this.retryTimer !== undefined || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.backgroundFlush();
    }, this.retryDelayMs);
    this.retryTimer.unref(); // the exit hook still tries once more
  }

  private commitSucceeded(): void {
    if (this.commitFailure === undefined) return;
    this.commitFailure = undefined;
    this.retryDelayMs = 0;
    if (this.retryTimer !== undefined) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
  }

  /** The last chance at exit: what cannot be written now is lost, and the error says which. */
  private flushBeforeExit(): void {
    try {
      this.flushQueue();
    } catch (err) {
      const lost = this.unwritten(err).unwritten;
      throw new StoreError(`${lost.actionIds.length} acknowledged record(s) could not be written before exit and are lost (actions ${lost.actionIds.slice(0, 20).join(', ')}${lost.actionIds.length > 20 ? ', …' : ''})`, { cause: err });
    }
  }

  /** What is still queued, for errors that must say what is not written yet. */
  private unwritten(cause: unknown): UnwrittenRecordsError {
    const items = this.queue?.snapshot() ?? [];
    const actionIds = items.map((i) => (i.kind === 'decision' ? i.action.actionId : i.outcome.actionId));
    const reason = toStoreError(cause, this.path, 'committing queued writes', this.busyTimeoutMs).message;
    return new UnwrittenRecordsError(
      `${items.length} acknowledged record(s) are not written yet; they are kept in memory and retried until a commit succeeds: ${reason}`,
      { decisions: items.filter((i) => i.kind === 'decision').length, outcomes: items.filter((i) => i.kind === 'outcome').length, actionIds },
      cause,
    );
  }

  /** Commit queued writes one per transaction, dropping (and reporting) those that violate a constraint. */
  private flushIsolating(): void {
    const queue = this.queue;
    if (!queue) return;
    const dropped: string[] = [];
    while (queue.length > 0) {
      const item = queue.snapshot()[0] as QueuedWrite;
      try {
        this.transact(() => undefined, 1);
      } catch (err) {
        if (!(err instanceof QueuedWriteRejected) && !isConstraintError(err)) throw err;
        queue.remove(1);
        const why = err instanceof QueuedWriteRejected ? err.message : (sqliteCode(err) ?? 'constraint');
        dropped.push(`${item.kind} of action ${item.kind === 'decision' ? item.action.actionId : item.outcome.actionId} (${why})`);
      }
    }
    if (dropped.length > 0) {
      this.onFlushError(new StoreError(`SQLite store ${this.path}: dropped queued writes that cannot be committed: ${dropped.join('; ')}`));
    }
  }

  private report(report: FlushReport): void {
    if (!this.onFlush) return;
    try {
      this.onFlush(report);
    } catch (err) {
      process.emitWarning(`ascend store onFlush callback threw: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private mustGet<R>(row: R | undefined, kind: string, id: string): R {
    if (row === undefined) throw new NotFoundError(kind, id);
    return row;
  }

  /** A cached prepared statement for SQL built at run time (a handful of shapes). */
  private prepared(sql: string): Database.Statement {
    let stmt = this.dynamic.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.dynamic.set(sql, stmt);
    }
    return stmt;
  }
}


/** A queued write the file can never take (its action is already recorded, or unknown). */
class QueuedWriteRejected extends Error {}

function asStoreError(err: AscendError): StoreError {
  return err instanceof StoreError ? err : new StoreError(err.message, { cause: err });
}



/** `agent_id` starts with `prefix`; with `''`, contains no `::` (see AuditQuery.agentIdPrefix). */
function addPrefixFilter(where: string[], params: unknown[], prefix: string): void {
  if (prefix === '') {
    where.push("agent_id IS NOT NULL AND instr(agent_id, '::') = 0");
  } else {
    where.push('substr(agent_id, 1, ?) = ?');
    params.push(prefix.length, prefix);
  }
}

/**
 * `PRAGMA journal_mode = WAL`, waiting out another process that is opening the same new file at
 * the same moment: SQLite may answer SQLITE_BUSY at once, without its busy handler, while the
 * other connection switches the file (two agents started together on a fresh data directory).
 */
function switchToWal(db: Database.Database, busyTimeoutMs: number): unknown {
  const deadline = Date.now() + busyTimeoutMs;
  for (;;) {
    try {
      return db.pragma('journal_mode = WAL', { simple: true });
    } catch (err) {
      if (sqliteCode(err) !== 'SQLITE_BUSY' || Date.now() > deadline) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); // a synchronous 10 ms pause: this is the constructor
    }
  }
}

