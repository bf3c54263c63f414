/**
 * Policy tests as code (`parsePolicyCases`, `runPolicyCases`): the starter tests pass against
 * the starter policy, each case stands alone, and `expectRules` means exactly those rules.
 */
import { describe, expect, it } from 'vitest';
import { parsePolicy, parsePolicyCases, policyCasesJsonSchema, runPolicyCases } from '../../src/index.js';
import { STARTER_CASES_YAML, STARTER_POLICY_YAML } from '../../src/engine/index.js';
import { PolicyError } from '../../src/core/errors.js';

const NOW = Date.parse('2026-12-04T10:00:00.000Z');

describe('policy cases', () => {
  it('the starter cases pass against the starter policy', () => {
    const results = runPolicyCases(parsePolicy(STARTER_POLICY_YAML, 'ascend.policy.yaml'), parsePolicyCases(STARTER_CASES_YAML, 'ascend.cases.yaml'), NOW);
    expect(results.length).toBeGreaterThanOrEqual(5);
    expect(results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.problems.join('; ')}`)).toEqual([]);
    expect(new Set(results.map((r) => r.decision.decision))).toEqual(new Set(['allowed', 'denied', 'pending']));
  });

  it('each case is evaluated alone: a budget of one allows every case', () => {
    const policy = parsePolicy(
      'version: 1\ndefault: deny\nrules:\n  - id: one-mail\n    actions: ["email.send"]\n    limit: { count: 1, per: 1h }\n    effect: deny\n  - id: mail\n    actions: ["email.send"]\n    effect: allow\n',
      'p.yaml',
    );
    const cases = parsePolicyCases(
      'cases:\n  - name: first\n    request: { actionType: email.send }\n    expect: allowed\n  - name: second\n    request: { actionType: email.send }\n    expect: allowed\n',
      'c.yaml',
    );
    expect(runPolicyCases(policy, cases, NOW).map((r) => r.ok)).toEqual([true, true]);
  });

  it('expectRules is the exact set of matched rules, in any order', () => {
    const policy = parsePolicy(
      'version: 1\ndefault: deny\nrules:\n  - id: a\n    actions: ["x.*"]\n    effect: allow\n  - id: b\n    actions: ["x.y"]\n    effect: allow\n',
      'p.yaml',
    );
    const run = (rules: string) => runPolicyCases(policy, parsePolicyCases(`cases:\n  - name: c\n    request: { actionType: x.y }\n    expect: allowed\n    expectRules: ${rules}\n`, 'c.yaml'), NOW)[0]!;
    expect(run('[b, a]').ok).toBe(true);
    expect(run('[a]').problems).toEqual(['expected rules [a], matched [a, b]']);
    expect(run('[]').ok).toBe(false);
  });

  it('a malformed file is a PolicyError naming the file, the line and a fix', () => {
    let error: unknown;
    try {
      parsePolicyCases('cases:\n  - name: a\n    request: { actionType: x }\n    expct: allowed\n', 'team/cases.yaml');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).message).toBe('team/cases.yaml:4:5: cases[0]: unknown key "expct". Fix: did you mean "expect"?');
  });

  it('has a JSON Schema', () => {
    const schema = policyCasesJsonSchema() as { required: string[] };
    expect(schema.required).toEqual(['cases']);
  });
});
