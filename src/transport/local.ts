/**
 * The embedded transport: a DecisionPoint (the policy engine on a Store) in this process. Zero
 * set-up: a policy file and a SQLite file under `.ascend/`. What this adds to the decision point
 * is the store's life: opened on first use (so a broken store surfaces through the fail mode),
 * watched for changes while someone listens, flushed and closed.
 */
import { AscendError, StoreError } from '../core/errors.js';
import type { ActionRecord, AgentBudget, AgentRecord, ApprovalRecord, DecisionResult, OutcomeRecord } from '../core/types.js';
import { DecisionPoint, type DecisionPointOptions } from '../decision/decision-point.js';
import type { ApprovalDecision, Store } from '../store/store.js';
import type { SpoolEntry } from '../core/types.js';
import type { Transport } from './transport.js';
import type { AgentRegistration, EvaluationRequest } from '../decision/request.js';

/** Where the embedded decision point gets its policy and its store. */
export interface LocalTransportOptions extends Omit<DecisionPointOptions, 'store'> {
  /** Opens the store; called again after a failure, so a store that comes back is used. */
  openStore: () => Store;
}

/** Engine + Store in process. */
export class LocalTransport implements Transport {
  readonly kind = 'local' as const;
  private readonly decisionPoint: DecisionPoint;
  private readonly openStoreFn: () => Store;
  private store: Store | undefined;
  private readonly listeners = new Set<() => void>();
  private unwatchStore: (() => void) | undefined;
  private closed = false;

  constructor(options: LocalTransportOptions) {
    const { openStore, ...decisionPointOptions } = options;
    this.openStoreFn = openStore;
    this.decisionPoint = new DecisionPoint({ ...decisionPointOptions, store: () => this.getStore() });
  }

  /** The store, opened on first use (so a broken store surfaces through the fail mode). */
  getStore(): Store {
    if (this.closed) throw new StoreError('The client is closed');
    if (this.store) return this.store;
    try {
      this.store = this.openStoreFn();
    } catch (err) {
      throw err instanceof AscendError ? err : new StoreError(`Cannot open the Ascend store: ${String(err)}`, { cause: err });
    }
    if (this.listeners.size > 0) this.unwatchStore = this.store.watch(() => this.notify());
    return this.store;
  }

  register(agent: AgentRegistration): Promise<AgentRecord> {
    return this.decisionPoint.register(agent);
  }

  evaluate(request: EvaluationRequest): Promise<DecisionResult> {
    return this.decisionPoint.evaluate(request);
  }

  /** The policy's budgets that may apply to each agent, and how much of each is used now. */
  agentBudgets(agentIds: readonly string[]): Promise<Map<string, AgentBudget[]>> {
    return this.decisionPoint.agentBudgets(agentIds);
  }

  recordOutcome(outcome: OutcomeRecord): Promise<void> {
    return this.decisionPoint.recordOutcome(outcome);
  }

  getAction(actionId: string): Promise<ActionRecord | undefined> {
    return this.decisionPoint.getAction(actionId);
  }

  getApproval(approvalId: string): Promise<ApprovalRecord | undefined> {
    return this.decisionPoint.getApproval(approvalId);
  }

  async decideApproval(decision: Omit<ApprovalDecision, 'now'>): Promise<ApprovalRecord> {
    const record = await this.decisionPoint.decideApproval(decision);
    this.notify();
    return record;
  }

  expireApproval(approvalId: string): Promise<ApprovalRecord> {
    return this.decisionPoint.expireApproval(approvalId);
  }

  consumeApproval(approvalId: string, digest: string): Promise<boolean> {
    return this.decisionPoint.consumeApproval(approvalId, digest);
  }

  uploadFailOpen(entry: SpoolEntry): Promise<void> {
    return this.decisionPoint.uploadFailOpen(entry);
  }

  watch(listener: () => void): () => void {
    this.listeners.add(listener);
    if (this.store && !this.unwatchStore) this.unwatchStore = this.store.watch(() => this.notify());
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.unwatchStore) {
        this.unwatchStore();
        this.unwatchStore = undefined;
      }
    };
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  async flush(): Promise<void> {
    await this.store?.flush();
  }

  /** The version of the policy in force (engine `policyVersionOf`); undefined when it failed to load. */
  get policyVersion(): string | undefined {
    return this.decisionPoint.policyVersion;
  }

  /** Release the store. When it cannot write what it holds (a full disk) it stays open, keeps
   * retrying, and this rejects: call close() again later. */
  async close(): Promise<void> {
    this.closed = true;
    this.unwatchStore?.();
    this.unwatchStore = undefined;
    this.listeners.clear();
    const store = this.store;
    if (!store) return;
    await store.close();
    this.store = undefined;
  }
}
