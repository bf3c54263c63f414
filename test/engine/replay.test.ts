/**
 * The replay engine on its own (engine/replay.ts): calls before `since` are not compared but
 * still count towards the candidate's budgets; a condition that reads a redacted argument makes
 * the call unreplayable, one that does not read it leaves it replayable.
 */
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/engine/index.js';
import { PolicyReplay } from '../../src/engine/replay.js';
import type { AuditEvent } from '../../src/core/types.js';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
let seq = 0;
function evaluated(atMs: number, parameters: Record<string, unknown>, decision: 'allowed' | 'denied' = 'allowed', actionType = 'payments.transfer'): AuditEvent {
  const createdAt = new Date(atMs).toISOString();
  seq++;
  return {
    seq,
    ts: createdAt,
    type: 'action.evaluated',
    agentId: 'payer',
    actionId: `a${seq}`,
    approvalId: null,
    actor: 'payer',
    data: { actionId: `a${seq}`, agentId: 'payer', actionType, resource: 'acct', parameters, context: {}, decision, conditions: [], createdAt },
    prevHash: '',
    hash: '',
  } as AuditEvent;
}

describe('PolicyReplay', () => {
  it('compares only calls from `since`, with budgets counted from every earlier call', () => {
    const candidate = parsePolicy(
      'version: 1\ndefault: deny\nrules:\n  - id: one-an-hour\n    actions: ["payments.transfer"]\n    limit: { count: 1, per: 1h }\n    effect: deny\n  - id: pay\n    actions: ["payments.transfer"]\n    effect: allow\n',
      'c.yaml',
    );
    const replay = new PolicyReplay(candidate, { sinceMs: T0 + 60_000 });
    replay.feed(evaluated(T0, { amount: 1 }));
    replay.feed(evaluated(T0 + 120_000, { amount: 2 }));
    expect(replay.found).toMatchObject({ replayed: 1, changed: 1, transitions: { 'allowed->denied': 1 }, byRule: { 'one-an-hour': 1 } });
  });

  it('a redacted argument a condition reads makes the call unreplayable; one it does not read does not', () => {
    const candidate = parsePolicy(
      'version: 1\ndefault: allow\nrules:\n  - id: live-keys\n    actions: ["email.send"]\n    when: \'parameters.token == "sk-live"\'\n    effect: deny\n',
      'c.yaml',
    );
    const replay = new PolicyReplay(candidate);
    replay.feed(evaluated(T0, { to: 'x', token: '[REDACTED]' }, 'allowed', 'email.send'));
    replay.feed(evaluated(T0 + 1, { to: 'x', other: '[REDACTED]', token: 'sk-test' }, 'allowed', 'email.send'));
    replay.feed(evaluated(T0 + 2, { to: 'x', nested: { token: '[REDACTED]' } }, 'allowed', 'payments.transfer'));
    expect(replay.found).toMatchObject({ replayed: 2, unreplayable: 1, changed: 0 });
  });
});
