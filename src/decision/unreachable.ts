/**
 * Which failures mean "the decision point cannot be reached" — the only ones a fail mode may act
 * on. A denial, a bad request or bad credentials are answers, never "unreachable".
 */
import { AscendError } from '../core/errors.js';
import type { PolicyDecision } from '../core/types.js';

const UNREACHABLE_CODES = new Set(['connection_error', 'timeout', 'circuit_breaker_open', 'store_error', 'rate_limited']);
const KNOWN_DECISION = Symbol('ascend.knownDecision');

/** True when `err` means the decision point could not answer. */
export function isUnreachable(err: unknown): err is AscendError {
  return err instanceof AscendError && UNREACHABLE_CODES.has(err.code);
}

/** Attach what the decision point had decided before failing to record it. */
export function withKnownDecision<E extends Error>(err: E, decision: PolicyDecision): E {
  Object.defineProperty(err, KNOWN_DECISION, { value: decision, enumerable: false });
  return err;
}

/** The decision attached by {@link withKnownDecision}, if any. */
export function knownDecisionOf(err: unknown): PolicyDecision | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  return (err as { [KNOWN_DECISION]?: PolicyDecision })[KNOWN_DECISION];
}
