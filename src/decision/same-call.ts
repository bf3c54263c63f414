/**
 * When an idempotency key (a caller-chosen action id) names "the same request": the same agent,
 * action type and resource, the same call digest and the same parameters as recorded (redacted,
 * compared canonically). A retry of that call is answered with the first decision; anything else
 * under a used or in-flight key is a conflict, never the first call's answer.
 */
import { canonicalJson } from '../core/canonical.js';
import { ConflictError } from '../core/errors.js';

/** What identifies a call: a recorded action or a request (its `parameters` as recorded: redacted). */
export interface CallIdentity {
  agentId: string;
  actionType: string;
  resource: string;
  digest: string;
  parameters: Record<string, unknown>;
}

/** Whether `a` and `b` are the same call. */
export function isSameCall(a: CallIdentity, b: CallIdentity): boolean {
  if (a.digest !== b.digest || a.agentId !== b.agentId || a.actionType !== b.actionType || a.resource !== b.resource) return false;
  // The digest is the client's; the parameters are what the decision was made on.
  return a.parameters === b.parameters || canonicalJson(a.parameters) === canonicalJson(b.parameters);
}

/** The refusal of a key already used (or in use) for another call. */
export function idempotencyKeyReused(key: string): ConflictError {
  return new ConflictError(`Idempotency key "${key}" was already used for a different call`, { idempotencyKey: key });
}
