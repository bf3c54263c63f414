/** Builders for engine tests: requests, agents, inputs, policies. */
import { parsePolicy, type CompiledPolicy, type EvaluationInput } from '../../src/engine/index.js';
import type { ActionRequest, AgentRecord } from '../../src/core/types.js';

/** A fixed clock: 2025-01-01T00:00:00Z. */
export const T0 = Date.UTC(2025, 0, 1);

/** A request with sensible defaults. */
export function request(over: Partial<ActionRequest> = {}): ActionRequest {
  return {
    agentId: 'agent-1',
    actionType: 'file.read',
    resource: 'fs',
    parameters: {},
    context: {},
    requireHumanApproval: false,
    ...over,
  };
}

/** A registered agent with no restrictions. */
export function agent(over: Partial<AgentRecord> = {}): AgentRecord {
  return {
    agentId: 'agent-1',
    agentName: 'Test agent',
    agentType: 'support',
    capabilities: [],
    allowedResources: [],
    metadata: {},
    blocked: false,
    registeredAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
    version: 1,
    ...over,
  };
}

/** An evaluation input. */
export function input(over: Partial<ActionRequest> = {}, extra: { agent?: AgentRecord; now?: number } = {}): EvaluationInput {
  return { request: request(over), ...(extra.agent ? { agent: extra.agent } : {}), now: extra.now ?? T0 };
}

/** Parse a policy written with leading indentation stripped. */
export function policy(yaml: string, file = 'test.policy.yaml'): CompiledPolicy {
  return parsePolicy(dedent(yaml), file);
}

/** Remove the common leading indentation and the first blank line. */
export function dedent(text: string): string {
  const lines = text.replace(/^\n/, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)?.[0].length ?? 0));
  return lines.map((l) => l.slice(indent)).join('\n');
}
