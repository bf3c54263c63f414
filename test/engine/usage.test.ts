import { describe, expect, it } from 'vitest';
import { evaluatePolicy, SlidingCounter, UsageTracker, type CompiledPolicy, type EvaluationInput } from '../../src/engine/index.js';
import type { PolicyDecision } from '../../src/core/types.js';
import { input, policy, T0 } from './helpers.js';

/** Evaluate then record, as the client lifecycle does. */
function call(p: CompiledPolicy, usage: UsageTracker, i: EvaluationInput): PolicyDecision {
  const d = evaluatePolicy(p, i, usage);
  usage.record(i, d);
  return d;
}

const limited = (scope: 'agent' | 'global', per = '1m'): CompiledPolicy =>
  policy(`
    version: 1
    default: allow
    risk: { requireApprovalAt: null, denyAt: null }
    rules:
      - id: email-budget
        actions: ["email.send"]
        when: 'parameters.to.endsWith("@example.com")'
        limit: { count: 3, per: ${per}, scope: ${scope} }
        effect: deny
  `);

const email = (agentId: string, now: number, to = 'x@example.com'): EvaluationInput => input({ agentId, actionType: 'email.send', parameters: { to } }, { now });

describe('rate limits', () => {
  it('allows `count` calls, then applies the rule within the window', () => {
    const p = limited('agent');
    const u = new UsageTracker();
    for (let i = 0; i < 3; i++) {
      const d = call(p, u, email('a', T0 + i * 1000));
      expect(d.decision).toBe('allowed');
      expect(d.matchedRules).toEqual([]);
    }
    const d = call(p, u, email('a', T0 + 10_000));
    expect(d.decision).toBe('denied');
    expect(d.matchedRules).toEqual(['email-budget']);
    expect(d.policyViolations).toEqual([
      expect.objectContaining({ code: 'rate_limited', ruleId: 'email-budget', message: expect.stringContaining('limit of 3') }),
    ]);
    expect(d.reason).toContain('at most 3 such calls per 1m');
  });

  it('denied calls do not use the budget', () => {
    const p = limited('agent');
    const u = new UsageTracker();
    for (let i = 0; i < 3; i++) call(p, u, email('a', T0 + i));
    for (let i = 0; i < 5; i++) expect(call(p, u, email('a', T0 + 100 + i)).decision).toBe('denied');
    // Still exactly the first three calls in the window: they expire together.
    expect(call(p, u, email('a', T0 + 62_000)).decision).toBe('allowed');
  });

  it('resets after the window', () => {
    const p = limited('agent');
    const u = new UsageTracker();
    for (let i = 0; i < 3; i++) call(p, u, email('a', T0 + i * 1000));
    expect(call(p, u, email('a', T0 + 30_000)).decision).toBe('denied');
    expect(call(p, u, email('a', T0 + 59_000)).decision).toBe('denied');
    expect(call(p, u, email('a', T0 + 65_000)).decision).toBe('allowed');
  });

  it('the window slides: old calls expire one by one', () => {
    const p = limited('agent', '10s');
    const u = new UsageTracker();
    call(p, u, email('a', T0));
    call(p, u, email('a', T0 + 5_000));
    call(p, u, email('a', T0 + 6_000));
    expect(call(p, u, email('a', T0 + 9_000)).decision).toBe('denied');
    // The first call has left the window; the other two have not.
    expect(call(p, u, email('a', T0 + 12_000)).decision).toBe('allowed');
    expect(call(p, u, email('a', T0 + 12_500)).decision).toBe('denied');
  });

  it('scope agent: each agent has its own budget', () => {
    const p = limited('agent');
    const u = new UsageTracker();
    for (let i = 0; i < 3; i++) call(p, u, email('a', T0 + i));
    expect(call(p, u, email('a', T0 + 10)).decision).toBe('denied');
    expect(call(p, u, email('b', T0 + 10)).decision).toBe('allowed');
  });

  it('scope global: one budget for every agent', () => {
    const p = limited('global');
    const u = new UsageTracker();
    call(p, u, email('a', T0));
    call(p, u, email('b', T0 + 1));
    call(p, u, email('c', T0 + 2));
    const d = call(p, u, email('d', T0 + 3));
    expect(d.decision).toBe('denied');
    expect(d.policyViolations[0]?.message).toContain('across all agents');
  });

  it('only calls matching the rule\'s condition count', () => {
    const p = limited('agent');
    const u = new UsageTracker();
    for (let i = 0; i < 10; i++) expect(call(p, u, email('a', T0 + i, 'y@elsewhere.org')).decision).toBe('allowed');
    expect(call(p, u, email('a', T0 + 20)).decision).toBe('allowed');
  });

  it('record works with a copy of the input (re-matches against the last policy)', () => {
    const p = limited('agent');
    const u = new UsageTracker();
    for (let i = 0; i < 3; i++) {
      const i1 = email('a', T0 + i);
      const d = evaluatePolicy(p, i1, u);
      u.record({ ...i1 }, { ...d });
    }
    expect(evaluatePolicy(p, email('a', T0 + 10), u).decision).toBe('denied');
  });

  it('interleaved evaluate/record pairs count correctly', () => {
    const p = limited('agent');
    const u = new UsageTracker();
    const inputs = [0, 1, 2].map((i) => email('a', T0 + i));
    const decisions = inputs.map((i) => evaluatePolicy(p, i, u));
    inputs.forEach((i, k) => u.record(i, decisions[k] as PolicyDecision));
    expect(evaluatePolicy(p, email('a', T0 + 10), u).decision).toBe('denied');
  });

  it('a pending call that a grant turned into allowed counts when recorded as allowed', () => {
    const p = limited('agent');
    const u = new UsageTracker();
    for (let i = 0; i < 3; i++) {
      const i1 = email('a', T0 + i);
      u.record(i1, { ...evaluatePolicy(p, i1, u), decision: 'allowed' });
    }
    expect(evaluatePolicy(p, email('a', T0 + 10), u).decision).toBe('denied');
  });

  it('counters survive a reload of the same rule, and reset when its limit changes', () => {
    const u = new UsageTracker();
    const p1 = limited('agent');
    for (let i = 0; i < 3; i++) call(p1, u, email('a', T0 + i));
    expect(call(limited('agent'), u, email('a', T0 + 10)).decision).toBe('denied');
    expect(call(limited('agent', '2m'), u, email('a', T0 + 10)).decision).toBe('allowed');
  });

  it('memory is bounded', () => {
    const p = limited('agent');
    const u = new UsageTracker({ maxCounters: 100, maxAgents: 50 });
    for (let i = 0; i < 1000; i++) call(p, u, email(`agent-${i}`, T0 + i));
    expect(u.counterCount).toBeLessThanOrEqual(100);
    expect(u.agentCount).toBeLessThanOrEqual(50);
    // Idle counters are pruned first.
    for (let i = 0; i < 200; i++) call(p, u, email(`late-${i}`, T0 + 3_600_000 + i));
    expect(u.counterCount).toBeLessThanOrEqual(100);
  });
});

describe('SlidingCounter', () => {
  it('counts within the window and forgets after it', () => {
    const c = new SlidingCounter(1000, 10);
    c.add(T0);
    c.add(T0 + 500, 2);
    c.add(T0 + 4000);
    expect(c.count(T0 + 4000)).toBe(4);
    expect(c.count(T0 + 10_500)).toBe(1);
    expect(c.count(T0 + 20_000)).toBe(0);
  });
  it('ignores time going backwards rather than corrupting counts', () => {
    const c = new SlidingCounter(1000, 10);
    c.add(T0 + 5000);
    c.add(T0 + 1000);
    expect(c.count(T0)).toBe(2);
    c.add(T0 - 60_000); // older than the window
    expect(c.count(T0 + 5000)).toBe(2);
  });
});

describe('velocity', () => {
  const p = policy(`
    version: 1
    default: allow
    risk: { requireApprovalAt: null, denyAt: null }
  `);
  const read = (now: number): EvaluationInput => input({ actionType: 'file.read' }, { now });

  it('a burst above the agent\'s own baseline adds a velocity factor', () => {
    const u = new UsageTracker();
    // An hour at 2 calls a minute.
    for (let m = 0; m < 60; m++) for (let k = 0; k < 2; k++) call(p, u, read(T0 + m * 60_000 + k * 1000));
    const steady = evaluatePolicy(p, read(T0 + 60 * 60_000), u);
    expect(steady.riskFactors.map((f) => f.name)).toEqual(['verb_class']);
    // Then 40 calls within half a minute.
    const start = T0 + 61 * 60_000;
    for (let k = 0; k < 40; k++) call(p, u, read(start + k * 500));
    const burst = evaluatePolicy(p, read(start + 20_500), u);
    const v = burst.riskFactors.find((f) => f.name === 'velocity');
    expect(v?.points).toBeGreaterThanOrEqual(15);
    expect(v?.detail).toMatch(/^4\d calls in the last minute/);
    expect(u.velocity('agent-1', start + 20_500).lastMinute).toBeGreaterThanOrEqual(40);
  });

  it('a steady high rate is the baseline, not a burst', () => {
    const u = new UsageTracker();
    for (let m = 0; m < 30; m++) for (let k = 0; k < 50; k++) call(p, u, read(T0 + m * 60_000 + k * 1000));
    const d = evaluatePolicy(p, read(T0 + 30 * 60_000), u);
    expect(d.riskFactors.map((f) => f.name)).not.toContain('velocity');
  });

  it('each agent is measured against itself', () => {
    const u = new UsageTracker();
    for (let k = 0; k < 40; k++) call(p, u, input({ agentId: 'busy', actionType: 'file.read' }, { now: T0 + k * 100 }));
    expect(evaluatePolicy(p, input({ agentId: 'busy', actionType: 'file.read' }, { now: T0 + 5000 }), u).riskFactors.map((f) => f.name)).toContain('velocity');
    expect(evaluatePolicy(p, input({ agentId: 'quiet', actionType: 'file.read' }, { now: T0 + 5000 }), u).riskFactors.map((f) => f.name)).not.toContain('velocity');
  });
});
