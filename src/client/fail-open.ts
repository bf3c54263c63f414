/**
 * Fail-open mode's records: a call allowed while the decision point could not be reached is
 * written to a durable spool before it runs (if the spool cannot be written, nothing runs), its
 * outcome follows it there, and both are uploaded to the audit trail once the decision point
 * answers again. See docs/architecture.md#fail-modes-and-the-spool.
 */
import type { Logger } from 'pino';
import { StoreError } from '../core/errors.js';
import { timeOrderedId } from '../core/ids.js';
import { riskLevelOf, type ActionRecord, type DecisionResult, type OutcomeRecord, type PolicyDecision } from '../core/types.js';
import { FailOpenSpool } from '../transport/spool.js';
import { type SpoolEntry } from '../core/types.js';

/** The call a fail-open allow is about, as the client asked it. */
export interface UnreachableCall {
  agentId: string;
  actionType: string;
  resource: string;
  redactedParameters: Record<string, unknown>;
  context: Record<string, unknown>;
  digest: string;
}

/** The spool of fail-open decisions and outcomes, and their upload. */
export class FailOpenRecords {
  private readonly spool: FailOpenSpool;
  /** Whether the spool may hold records not yet uploaded. */
  private dirty: boolean;
  private draining: Promise<void> | undefined;
  /** Calls allowed in fail-open mode by this process: their outcomes go to the spool too. */
  private readonly actions = new Set<string>();

  /**
   * @param dir the spool's folder (`<dataDir>/spool`)
   * @param upload records one spooled entry at the decision point (idempotent)
   */
  constructor(
    dir: string,
    private readonly upload: (entry: SpoolEntry) => Promise<void>,
    private readonly logger: Logger,
  ) {
    this.spool = new FailOpenSpool(dir);
    this.dirty = this.spool.hasEntries();
  }

  /**
   * Allow `call`, which the decision point could not decide (`code` says why), on the record:
   * the decision is durable in the spool before this returns. `known` is what the engine would
   * have decided, when it could (its risk is kept).
   */
  allow(call: UnreachableCall, code: string, known: PolicyDecision | undefined): DecisionResult {
    const nowIso = new Date().toISOString();
    const action: ActionRecord = {
      actionId: timeOrderedId(),
      agentId: call.agentId,
      actionType: call.actionType,
      resource: call.resource,
      parameters: call.redactedParameters,
      context: call.context,
      digest: call.digest,
      decision: 'allowed',
      reason: `Decision point unreachable (${code}); allowed by fail-open mode`,
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
    this.dirty = true;
    this.actions.add(action.actionId);
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

  /** Whether this process allowed `actionId` in fail-open mode (its outcome is not yet spooled). */
  has(actionId: string): boolean {
    return this.actions.has(actionId);
  }

  /** Keep an outcome the decision point could not record (or of a fail-open call) for upload. */
  keepOutcome(outcome: OutcomeRecord): void {
    this.actions.delete(outcome.actionId);
    this.spool.append({ kind: 'outcome', outcome });
    this.dirty = true;
  }

  /** Start uploading in the background when the spool holds records (the decision point answered). */
  uploadIfAny(): void {
    if (this.dirty) this.startDrain();
  }

  /** Upload the spooled records now; resolves when this upload ends (a failure is logged and retried later). */
  async uploadNow(): Promise<void> {
    if (this.spool.hasEntries()) {
      this.dirty = true;
      this.startDrain();
    }
    await this.draining;
  }

  /** Resolves when an upload in progress ends. */
  async settled(): Promise<void> {
    await this.draining;
  }

  private startDrain(): void {
    if (this.draining) return;
    this.dirty = false;
    this.draining = this.spool
      .drain(this.upload)
      .then((count) => {
        if (count > 0) this.logger.info({ count }, 'uploaded fail-open records to the audit trail');
      })
      .catch((err: unknown) => {
        this.dirty = true;
        this.logger.warn({ err: { message: err instanceof Error ? err.message : String(err) } }, 'fail-open upload failed; will retry');
      })
      .finally(() => {
        this.draining = undefined;
      });
  }
}
