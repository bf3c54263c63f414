/**
 * Waiting for a person: turn a pending decision into allowed (approved, and the approval spent on
 * this exact call) or denied (rejected, expired, timed out). A wait that ends without a yes is a
 * denial in every fail mode.
 */
import type { Logger } from 'pino';
import { applyEdits, type ArgumentEdit } from '../core/argument-edits.js';
import { toCallArguments } from '../core/arguments.js';
import { callDigest } from '../core/call-digest.js';
import { ApprovalTimeoutError, NotFoundError } from '../core/errors.js';
import type { Redactor } from '../core/redact.js';
import { denied } from '../decision/denial.js';
import type { Transport } from '../transport/transport.js';
import type { EvaluationRequest } from '../decision/request.js';
import type { ApprovalRecord, DecisionResult } from '../core/types.js';

/** Longest single long-poll request to a server; the client asks again until its deadline. */
const LONG_POLL_MS = 25_000;

/** How long to wait, and how to stop early. */
export interface WaitOptions {
  /** Give up after this long (the request is then expired). */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Re-read even without a change notification this often (a safety net). Default 1000. */
  pollIntervalMs?: number;
}

/**
 * Wait until the approval is no longer pending, or the deadline passes. On timeout the request
 * is expired (so a late "yes" cannot authorize anything) and {@link ApprovalTimeoutError} thrown,
 * unless a person decided at the last moment, in which case that answer is returned.
 */
export async function waitForDecidedApproval(
  transport: Transport,
  approvalId: string,
  options: WaitOptions,
): Promise<ApprovalRecord> {
  const deadline = Date.now() + options.timeoutMs;
  const pollMs = options.pollIntervalMs ?? 1000;
  let wake: (() => void) | undefined;
  const unwatch = transport.watch(() => wake?.());
  try {
    for (;;) {
      options.signal?.throwIfAborted();
      const longPollMs = Math.min(deadline - Date.now(), LONG_POLL_MS);
      const longPoll = transport.awaitApproval !== undefined && longPollMs > 0;
      const approval = longPoll
        ? await transport.awaitApproval!(approvalId, longPollMs, options.signal)
        : await transport.getApproval(approvalId);
      if (!approval) throw new NotFoundError('approval', approvalId);
      const expiresAtMs = Date.parse(approval.expiresAt);
      if (approval.status !== 'pending') return approval;
      const now = Date.now();
      if (now >= expiresAtMs) return transport.expireApproval(approvalId);
      if (now >= deadline) {
        const final = await transport.expireApproval(approvalId);
        if (final.status === 'expired') throw new ApprovalTimeoutError(approvalId, options.timeoutMs);
        return final;
      }
      if (longPoll) continue; // the server already waited
      await sleepUntilWoken(Math.min(pollMs, deadline - now, expiresAtMs - now), options.signal, (fn) => (wake = fn));
    }
  } finally {
    unwatch();
  }
}

function sleepUntilWoken(ms: number, signal: AbortSignal | undefined, setWake: (fn: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      setWake(() => undefined);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
    setWake(done);
  });
}

/**
 * The final decision for a pending call once its approval is settled. An approved request is
 * spent (atomically, once) on this exact call; if it cannot be spent — already used, or bound to
 * another call — the call is denied.
 */
export async function settlePending(
  transport: Transport,
  pending: DecisionResult,
  approval: ApprovalRecord,
  digest: string,
): Promise<DecisionResult> {
  const base = { ...pending, approvalRequestId: approval.approvalId, decidedAt: new Date().toISOString() };
  if (approval.status === 'approved') {
    if (await transport.consumeApproval(approval.approvalId, digest)) {
      return {
        ...base,
        decision: 'allowed',
        reason: `Approved by ${approval.decidedBy ?? 'unknown'} via ${approval.channel ?? 'unknown'}${approval.comment ? `: ${approval.comment}` : ''}`,
        conditions: [...pending.conditions, 'approved'],
        approvedBy: {
          decidedBy: approval.decidedBy ?? 'unknown',
          channel: approval.channel ?? 'api',
          decidedAt: approval.decidedAt ?? base.decidedAt,
          ...(approval.grantId ? { grantId: approval.grantId } : {}),
        },
      };
    }
    return unspendable(transport, base, approval.approvalId, digest);
  }
  if (approval.status === 'rejected') {
    return denied(
      base,
      'approval_rejected',
      `Rejected by ${approval.decidedBy ?? 'unknown'} via ${approval.channel ?? 'unknown'}${approval.comment ? `: ${approval.comment}` : ''}`,
    );
  }
  return denied(base, 'approval_expired', 'Nobody decided the approval before it expired');
}

/**
 * Why an approved request could not be spent on this call: read back, since spending checks
 * everything in one statement. What is left when it is unused, matching and unexpired is the
 * kill switch: a blocked agent's approvals are never spent.
 */
async function unspendable(transport: Transport, base: DecisionResult, approvalId: string, digest: string): Promise<DecisionResult> {
  const now = await transport.getApproval(approvalId).catch(() => undefined);
  if (!now || now.consumedAt !== undefined) return denied(base, 'approval_unusable', 'The approval was already used by another call');
  if (now.digest !== digest) return denied(base, 'approval_unusable', 'The approval is for a different call');
  if (Date.parse(now.expiresAt) <= Date.now()) return denied(base, 'approval_expired', 'The approval expired before the call could use it');
  return denied(base, 'agent_blocked', 'The agent was blocked (kill switch) after this call was approved; it does not run');
}

/** A pending call as it was asked, with the redactor it was asked with: what an edited approval is applied to. */
export interface PendingCall {
  request: EvaluationRequest;
  redactor: Redactor;
}

/**
 * A pending call a person approved with edits: the edits applied to this process's own
 * arguments (the person saw and edited the redacted ones), and the edited call decided again
 * by the decision point, which checks it is the call the person approved and spends the
 * approval on it. Allowed: `editedParameters` are what the tool must run with.
 */
export async function decideEdited(
transport: Transport,
pending: DecisionResult,
asked: PendingCall,
approval: ApprovalRecord,
edits: ArgumentEdit[],
logger: Logger,
): Promise<DecisionResult> {
  const original = asked.request;
  let parameters: Record<string, unknown>;
  try {
    parameters = toCallArguments(applyEdits(original.parameters, edits), 'parameters');
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return denied({ ...pending, approvalRequestId: approval.approvalId }, 'edit_unusable', `The approver's edits do not apply to this call's arguments (${why}); the call does not run`);
  }
  const edited: EvaluationRequest = {
    agentId: original.agentId,
    actionType: original.actionType,
    resource: original.resource,
    parameters,
    redactedParameters: asked.redactor.redact(parameters),
    context: original.context,
    requireHumanApproval: original.requireHumanApproval,
    digest: callDigest({ agentId: original.agentId, actionType: original.actionType, resource: original.resource, parameters }),
    editOf: { approvalId: approval.approvalId, digest: original.digest },
  };
  const decision = await transport.evaluate(edited);
  if (decision.decision === 'allowed') decision.editedParameters = parameters;
  logger.info({ actionId: decision.actionId, approvalId: approval.approvalId, editedBy: approval.decidedBy, decision: decision.decision }, 'the approver edited the call; decided again as edited');
  return decision;
}
