/**
 * Agent keys bound to agents (`ascend keys create --role agent --agent ID`): the agent ids a key
 * may act as, globs allowed (`billing-*`). A blocked agent's process cannot carry on under another
 * agent id with the same key. A key without a binding may act as any agent of its organisation.
 */
import { AuthorizationError, ValidationError } from '../core/errors.js';
import { globProblem, matchesAnyGlob } from '../engine/index.js';
import type { ApiKeyRecord, ApiKeyRole } from '../core/types.js';
import { ORG_SEPARATOR } from './tenant-store.js';

/** Most agent-id globs one key may carry. */
export const MAX_BOUND_AGENT_IDS = 100;

/**
 * The agent-id globs of `--agent` values (repeated, or comma-separated), checked: ValidationError
 * naming the bad value. Only agent keys may be bound.
 */
export function parseAgentBinding(values: readonly string[], role: ApiKeyRole): string[] {
  const patterns = values.flatMap((v) => v.split(',')).map((v) => v.trim());
  if (role !== 'agent') {
    throw new ValidationError(`--agent binds agent keys to agent ids; a ${role} key acts for people, not as an agent`, [
      { path: 'agent', message: 'only with --role agent' },
    ]);
  }
  if (patterns.length === 0 || patterns.length > MAX_BOUND_AGENT_IDS) {
    throw new ValidationError(`--agent takes 1 to ${MAX_BOUND_AGENT_IDS} agent ids`, [{ path: 'agent', message: `got ${patterns.length}` }]);
  }
  for (const pattern of patterns) {
    const problem = pattern === '' ? { message: 'an empty agent id', fix: 'remove the extra comma' } : globProblem(pattern);
    if (problem) throw new ValidationError(`--agent "${pattern}": ${problem.message}; ${problem.fix}`, [{ path: 'agent', message: problem.message }]);
    if (pattern.includes(ORG_SEPARATOR)) {
      throw new ValidationError(`--agent "${pattern}": agent ids never contain "${ORG_SEPARATOR}" (the key's --org names its organisation)`, [
        { path: 'agent', message: `contains "${ORG_SEPARATOR}"` },
      ]);
    }
  }
  return [...new Set(patterns)];
}

/** Whether `key` may act as the agent `agentId`. */
export function mayActAs(key: ApiKeyRecord, agentId: string): boolean {
  return key.agentIds === undefined || matchesAnyGlob(key.agentIds, agentId);
}

/** AuthorizationError (403) naming the agent and the key's agents, unless `key` may act as `agentId`. */
export function requireActAs(key: ApiKeyRecord, agentId: string): void {
  if (mayActAs(key, agentId)) return;
  const allowed = (key.agentIds ?? []).map((p) => `"${p}"`).join(', ');
  throw new AuthorizationError(`API key "${key.name}" (${key.keyId}) may act only as agent ${allowed}, not as "${agentId}"`);
}
