/** Record builders for store tests: realistic defaults, overridable, times relative to T0. */
import { randomUUID } from 'node:crypto';
import { callDigest } from '../../src/core/call-digest.js';
import type { Store } from '../../src/store/store.js';
import type { ActionRecord, ApprovalRecord, AuditEvent, AuditEventType, OutcomeRecord } from '../../src/core/types.js';

/** The tests' epoch. */
export const T0_MS = Date.parse('2026-03-01T12:00:00.000Z');

/** ISO time `seconds` after T0. */
export function at(seconds: number): string {
  return new Date(T0_MS + seconds * 1000).toISOString();
}

/** An allowed decision for `agentId` (digest computed from the call). */
export function makeAction(overrides: Partial<ActionRecord> = {}): ActionRecord {
  const base = {
    actionId: randomUUID(),
    agentId: 'agent-a',
    actionType: 'database.query',
    resource: 'production_db',
    parameters: { query: 'SELECT 1', limit: 10, nested: { b: 2, a: [1, 'x', null] } } as Record<string, unknown>,
    context: { sessionId: 's-1' } as Record<string, unknown>,
  };
  const merged = { ...base, ...overrides };
  return {
    digest: callDigest(merged),
    decision: 'allowed',
    reason: 'Allowed by rule sql-select',
    riskScore: 25,
    riskLevel: 'low',
    riskFactors: [{ name: 'verb_class', points: 25, detail: '"query" is a read verb' }],
    matchedRules: ['sql-select'],
    policyViolations: [],
    conditions: [],
    createdAt: at(0),
    ...merged,
  };
}

/** A pending decision and its approval request, expiring `ttlSeconds` after `requestedAt`. */
export function makePending(
  overrides: Partial<ActionRecord> = {},
  ttlSeconds = 600,
): { action: ActionRecord; approval: ApprovalRecord } {
  const approvalId = randomUUID();
  const action = makeAction({
    decision: 'pending',
    reason: 'Needs approval (rule sql-execute)',
    riskScore: 75,
    riskLevel: 'high',
    matchedRules: ['sql-execute'],
    policyViolations: [{ code: 'rule_denied', message: 'needs a person', ruleId: 'sql-execute' }],
    actionType: 'database.execute',
    parameters: { query: 'DELETE FROM t WHERE id = 1' },
    approvalId,
    ...overrides,
  });
  const approval: ApprovalRecord = {
    approvalId,
    actionId: action.actionId,
    agentId: action.agentId,
    actionType: action.actionType,
    resource: action.resource,
    parameters: action.parameters,
    digest: action.digest,
    status: 'pending',
    reason: action.reason,
    riskScore: action.riskScore,
    riskLevel: action.riskLevel,
    riskFactors: action.riskFactors,
    matchedRules: action.matchedRules,
    requiredApprovers: ['dba'],
    requestedAt: action.createdAt,
    expiresAt: new Date(Date.parse(action.createdAt) + ttlSeconds * 1000).toISOString(),
  };
  return { action, approval };
}

/** A completed outcome. */
export function makeOutcome(actionId: string, overrides: Partial<OutcomeRecord> = {}): OutcomeRecord {
  return { actionId, status: 'completed', result: { rows: 1 }, durationMs: 4, recordedAt: at(1), ...overrides };
}

/** Record `count` allowed calls (decision + outcome, a second apart from T0) for `agentId`; their action ids. */
export async function writeSome(store: Store, count: number, agentId = 'agent-a'): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const action = makeAction({ agentId, createdAt: at(i) });
    await store.recordDecision(action);
    await store.recordOutcome(makeOutcome(action.actionId, { recordedAt: at(i) }));
    ids.push(action.actionId);
  }
  return ids;
}

/** The events' types, in order. */
export function eventTypes(events: readonly AuditEvent[]): AuditEventType[] {
  return events.map((e) => e.type);
}
