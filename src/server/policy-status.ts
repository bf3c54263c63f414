/**
 * What a server says about its policy: the version in force and the last change that did not
 * load (`GET /v1/policy`, `/readyz`, `/metrics`, the dashboard).
 */
import type { CompiledPolicy } from '../engine/index.js';
import { inForce, LivePolicy, type PolicyInForce } from '../policy/live.js';

/** The policy a server decides with: fixed, or a watched file. */
export type ServerPolicy = CompiledPolicy | Error | PolicyInForce;

/** See `GET /v1/policy`. */
export interface PolicyStatus {
  policyVersion: string | null;
  name: string | null;
  revision: string | null;
  file: string | null;
  error: string | null;
  lastLoadError: { message: string; at: string } | null;
  loadErrors: number;
  pushed: { id: number } | null;
}

/** The policy in force now. */
export function policyNow(policy: ServerPolicy): CompiledPolicy | Error {
  return inForce(policy).current;
}

/** The status of `policy`. */
export function policyStatus(policy: ServerPolicy): PolicyStatus {
  const now = policyNow(policy);
  const live = policy instanceof LivePolicy ? policy : undefined;
  const failure = live?.lastLoadError;
  return {
    policyVersion: now instanceof Error ? null : now.policyVersion,
    name: now instanceof Error ? null : now.name,
    revision: now instanceof Error ? null : now.revision,
    file: live !== undefined && live.pushed === 0 ? live.path : now instanceof Error ? null : now.file,
    error: now instanceof Error ? now.message : null,
    lastLoadError: failure === undefined ? null : { message: failure.error.message, at: new Date(failure.atMs).toISOString() },
    loadErrors: live?.loadErrors ?? 0,
    pushed: live !== undefined && live.pushed > 0 ? { id: live.pushed } : null,
  };
}
