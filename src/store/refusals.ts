/**
 * The errors both stores refuse an operation with, worded once: clients, the server and the CLI
 * show these messages, and callers read their details, so a store never words its own.
 */
import { ConflictError, NotFoundError, StaleDecisionError } from '../core/errors.js';

/** The ConflictError of a second decision under one action id. */
export function duplicateAction(actionId: string): ConflictError {
  return new ConflictError(`Action "${actionId}" is already recorded`, { actionId });
}

/** The ConflictError of a second outcome for one action. */
export function duplicateOutcome(actionId: string): ConflictError {
  return new ConflictError(`Action "${actionId}" already has an outcome`, { actionId });
}

/**
 * Refuse a decision made on the agent's registration `decidedOn` when the store now has
 * `current` (null: no registration, version 0). No check when `decidedOn` is undefined.
 */
export function refuseStaleAgent(agentId: string, decidedOn: number | undefined, current: number | null): void {
  if (decidedOn === undefined || (current ?? 0) === decidedOn) return;
  throw new StaleDecisionError(`Agent "${agentId}" changed while a call was being decided`, {
    agentId,
    decidedOnVersion: decidedOn,
    currentVersion: current ?? 0,
  });
}

/** A decision that was to spend an approval which another call spent first, or which no longer matches. */
export function approvalNotSpendable(approvalId: string): StaleDecisionError {
  return new StaleDecisionError(`Approval "${approvalId}" was spent by another call, or no longer matches`, { approvalId });
}

/** A decision about a request that is no longer pending. */
export function approvalAlreadyDecided(approvalId: string, status: string): ConflictError {
  return new ConflictError(`Approval "${approvalId}" was already ${status}`, { approvalId, status });
}

/** A decision about a request that expired first (the store marks it expired). */
export function approvalPastExpiry(approvalId: string, expiresAt: string): ConflictError {
  return new ConflictError(`Approval "${approvalId}" expired at ${expiresAt}`, { approvalId, status: 'expired' });
}

/** A second revocation of a grant (`revokedAt`: when the first one was, if known). */
export function grantAlreadyRevoked(grantId: string, revokedAt: string | null): ConflictError {
  return new ConflictError(`Grant "${grantId}" was already revoked at ${revokedAt ?? '?'}`, { grantId });
}

/** A second key under one id. */
export function apiKeyExists(keyId: string): ConflictError {
  return new ConflictError(`API key "${keyId}" already exists`, { keyId });
}

/** A second revocation of a key. */
export function apiKeyAlreadyRevoked(keyId: string, revokedAt: string): ConflictError {
  return new ConflictError(`API key "${keyId}" was already revoked at ${revokedAt}`, { keyId });
}

/** `row`, or NotFoundError naming the `kind` of thing and its `id` when there is none. */
export function mustExist<R>(row: R | undefined, kind: string, id: string): R {
  if (row === undefined) throw new NotFoundError(kind, id);
  return row;
}
