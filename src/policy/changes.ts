/**
 * What a policy switch records: the `policy.changed` audit record of a file change or SIGHUP
 * (embedded client, `ascend serve`), and the stored policy plus its record for a push (`POST
 * /v1/policy`, `ascend policy push --db`). One place, so every switch carries the same fields.
 */
import type { CompiledPolicy } from '../engine/index.js';
import type { PolicySwitch } from './live.js';
import type { PolicyChangeRecord, StoredPolicy } from '../core/types.js';

/** The record of a switch to a changed file (`cause` file or signal). */
export function switchRecord(change: PolicySwitch, source: string, actor: string, at: string): PolicyChangeRecord {
  const from = change.from instanceof Error ? null : change.from.policyVersion;
  return withLabels({ from, to: change.to.policyVersion, cause: change.cause, source, actor, at }, change.to);
}

/** What a push stores, and its record. `from`: the version it replaces (null: none). */
export function pushRecords(policy: CompiledPolicy, from: string | null, source: string, actor: string, at: string): { stored: Omit<StoredPolicy, 'id'>; change: PolicyChangeRecord } {
  const stored: Omit<StoredPolicy, 'id'> = { policyVersion: policy.policyVersion, text: policy.text, pushedBy: actor, pushedAt: at };
  if (policy.name !== null) stored.name = policy.name;
  if (policy.revision !== null) stored.revision = policy.revision;
  return { stored, change: withLabels({ from, to: policy.policyVersion, cause: 'push', source, actor, at }, policy) };
}

function withLabels(record: PolicyChangeRecord, policy: CompiledPolicy): PolicyChangeRecord {
  if (policy.name !== null) record.name = policy.name;
  if (policy.revision !== null) record.revision = policy.revision;
  return record;
}
