import { describe, expect, it } from 'vitest';
import { evaluatePolicy, parsePolicy, STARTER_POLICY_YAML, UsageTracker, type EvaluationInput } from '../../src/engine/index.js';
import { input, T0 } from './helpers.js';

describe('starter policy', () => {
  const p = parsePolicy(STARTER_POLICY_YAML, '<starter>');
  const decide = (actionType: string, parameters: Record<string, unknown> = {}, resource = 'r') =>
    evaluatePolicy(p, input({ actionType, parameters, resource }), new UsageTracker());

  it('parses, enforces, asks a person by default', () => {
    expect(p.mode).toBe('enforce');
    expect(p.defaultEffect).toBe('require_approval');
    expect(p.riskThresholds).toEqual({ requireApprovalAt: 70, denyAt: 90 });
    expect(p.rules.length).toBeGreaterThanOrEqual(6);
    expect(decide('widget.frobnicate').decision).toBe('pending');
  });

  it('reads are allowed', () => {
    expect(decide('file.read', { path: '/tmp/x' }).decision).toBe('allowed');
    expect(decide('database.query', { query: 'SELECT * FROM users WHERE id = 1' }).decision).toBe('allowed');
    expect(decide('database.query', { query: '  select 1' }).matchedRules).toEqual(['allow-select-sql']);
  });

  it('destructive SQL and shell are denied', () => {
    for (const query of ['DROP TABLE users', 'truncate table t', 'DELETE FROM users', 'update users set admin = 1']) {
      const d = decide('database.query', { query });
      expect(d.decision, query).toBe('denied');
      expect(d.matchedRules, query).toContain('deny-destructive-sql');
    }
    expect(decide('database.execute', { query: 'DELETE FROM users WHERE id = 3' }).decision).toBe('pending');
    for (const command of ['rm -rf /', 'sudo reboot', 'chmod 777 /etc', 'dd if=/dev/zero of=/dev/sda']) {
      expect(decide('shell.exec', { command }).decision, command).toBe('denied');
    }
    expect(decide('shell.exec', { command: 'ls' }).decision).toBe('pending');
  });

  it('writes are allowed, risky writes go to a person', () => {
    expect(decide('file.write', { path: '/tmp/a', content: 'hello' }).decision).toBe('allowed');
    const risky = decide('file.write', { path: '/tmp/a', content: 'AKIAIOSFODNN7EXAMPLE' }, 's3://bucket/*');
    expect(risky.riskScore).toBe(75); // write 25 + wildcard 20 + secret 30
    expect(risky.decision).toBe('pending');
  });

  it('transfers above 10000 need finance approval, smaller ones are allowed', () => {
    const big = decide('financial.transfer', { amount: 25_000 });
    expect(big.decision).toBe('pending');
    expect(big.requiredApprovers).toEqual(['finance-team']);
    expect(big.matchedRules).toEqual(['big-transfers']);
    expect(decide('financial.transfer', { amount: 500 }).decision).toBe('allowed');
    expect(decide('financial.transfer', {}).decision).toBe('pending');
  });

  it('email is rate limited per agent', () => {
    const u = new UsageTracker();
    const send = (i: number): EvaluationInput => input({ actionType: 'email.send', parameters: { to: 'team', body: 'hi' } }, { now: T0 + i * 1000 });
    for (let i = 0; i < 50; i++) {
      const inp = send(i);
      const d = evaluatePolicy(p, inp, u);
      expect(d.decision).toBe('allowed');
      u.record(inp, d);
    }
    const d = evaluatePolicy(p, send(50), u);
    expect(d.decision).toBe('denied');
    expect(d.policyViolations.map((v) => v.code)).toContain('rate_limited');
  });
});
