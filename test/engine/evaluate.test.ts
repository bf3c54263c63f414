import { describe, expect, it } from 'vitest';
import { PolicyError } from '../../src/core/errors.js';
import { evaluatePolicy, policyErrorDecision, UsageTracker, type CompiledPolicy } from '../../src/engine/index.js';
import { agent, input, policy, T0 } from './helpers.js';

const usage = (): UsageTracker => new UsageTracker();

/** A policy with no risk thresholds, to test rule combination alone. */
function rules(body: string, header = 'default: deny'): CompiledPolicy {
  return policy(`
    version: 1
    ${header}
    risk: { requireApprovalAt: null, denyAt: null }
    rules:
${body}
  `);
}

describe('rule combination', () => {
  const p = rules(`
      - id: allow-files
        actions: ["file.*"]
        effect: allow
      - id: approve-writes
        actions: ["file.write"]
        effect: require_approval
        approvers: ["ops", "security"]
      - id: approve-writes-2
        actions: ["file.write"]
        effect: require_approval
        approvers: ["security", "legal"]
      - id: deny-etc
        actions: ["file.*"]
        resources: ["/etc/*"]
        effect: deny
        reason: System files are off limits.
  `);

  it('allow when only an allow rule matches', () => {
    const d = evaluatePolicy(p, input({ actionType: 'file.read', resource: '/data/a' }), usage());
    expect(d.decision).toBe('allowed');
    expect(d.matchedRules).toEqual(['allow-files']);
    expect(d.policyViolations).toEqual([]);
    expect(d.reason).toBe('Allowed by rule "allow-files".');
    expect(d.requiredApprovers).toEqual([]);
  });

  it('require_approval beats allow, and approvers are merged without duplicates', () => {
    const d = evaluatePolicy(p, input({ actionType: 'file.write', resource: '/data/a' }), usage());
    expect(d.decision).toBe('pending');
    expect(d.matchedRules).toEqual(['allow-files', 'approve-writes', 'approve-writes-2']);
    expect(d.requiredApprovers).toEqual(['ops', 'security', 'legal']);
    expect(d.reason).toContain('approve-writes');
  });

  it('deny beats require_approval and allow, with the rule\'s reason', () => {
    const d = evaluatePolicy(p, input({ actionType: 'file.write', resource: '/etc/passwd' }), usage());
    expect(d.decision).toBe('denied');
    expect(d.matchedRules).toEqual(['allow-files', 'approve-writes', 'approve-writes-2', 'deny-etc']);
    expect(d.reason).toBe('System files are off limits.');
    expect(d.policyViolations).toEqual([{ code: 'rule_denied', message: 'System files are off limits.', ruleId: 'deny-etc' }]);
    expect(d.requiredApprovers).toEqual([]);
  });

  it('agents and resources selectors restrict a rule', () => {
    const q = rules(`
      - id: only-bots
        actions: ["db.query"]
        agents: ["bot-*"]
        resources: ["analytics_?b"]
        effect: allow
    `);
    expect(evaluatePolicy(q, input({ agentId: 'bot-7', actionType: 'db.query', resource: 'analytics_db' }), usage()).decision).toBe('allowed');
    expect(evaluatePolicy(q, input({ agentId: 'human-1', actionType: 'db.query', resource: 'analytics_db' }), usage()).decision).toBe('denied');
    expect(evaluatePolicy(q, input({ agentId: 'bot-7', actionType: 'db.query', resource: 'prod_db' }), usage()).decision).toBe('denied');
  });

  it('conditions see parameters, resource, action, agent and context', () => {
    const q = rules(`
      - id: all-vars
        actions: ["x.y"]
        when: >-
          parameters.n == 3 && resource == "r" && action == "x.y" && agent.id == "agent-1"
          && agent.type == "support" && agent.metadata.team == "blue" && context.env == "prod"
        effect: allow
    `);
    const ok = input({ actionType: 'x.y', resource: 'r', parameters: { n: 3 }, context: { env: 'prod' } }, { agent: agent({ metadata: { team: 'blue' } }) });
    expect(evaluatePolicy(q, ok, usage()).decision).toBe('allowed');
    const other = input({ actionType: 'x.y', resource: 'r', parameters: { n: 3 }, context: { env: 'dev' } }, { agent: agent({ metadata: { team: 'blue' } }) });
    expect(evaluatePolicy(q, other, usage()).decision).toBe('denied');
  });
});

describe('default effects', () => {
  it('deny: violation default_deny', () => {
    const d = evaluatePolicy(rules('      []', 'default: deny'), input({ actionType: 'a.b' }), usage());
    expect(d.decision).toBe('denied');
    expect(d.matchedRules).toEqual([]);
    expect(d.policyViolations.map((v) => v.code)).toEqual(['default_deny']);
    expect(d.reason).toContain('default is deny');
  });

  it('allow', () => {
    const d = evaluatePolicy(rules('      []', 'default: allow'), input({ actionType: 'a.read' }), usage());
    expect(d.decision).toBe('allowed');
    expect(d.policyViolations).toEqual([]);
  });

  it('require_approval', () => {
    const d = evaluatePolicy(rules('      []', 'default: require_approval'), input({ actionType: 'a.read' }), usage());
    expect(d.decision).toBe('pending');
    expect(d.policyViolations).toEqual([]);
    expect(d.approvalTimeoutSeconds).toBe(300);
  });

  it('approvalTimeoutSeconds comes from the policy', () => {
    const p = policy(`
      version: 1
      default: require_approval
      approvalTimeoutSeconds: 42
    `);
    expect(evaluatePolicy(p, input(), usage()).approvalTimeoutSeconds).toBe(42);
  });
});

describe('monitor mode', () => {
  const p = policy(`
    version: 1
    mode: monitor
    default: deny
    rules:
      - id: reads
        actions: ["file.read"]
        effect: allow
  `);

  it('allows what would be denied and reports the shadow decision', () => {
    const d = evaluatePolicy(p, input({ actionType: 'file.delete' }), usage());
    expect(d.decision).toBe('allowed');
    expect(d.shadowDecision).toBe('denied');
    expect(d.mode).toBe('monitor');
    expect(d.policyViolations.map((v) => v.code)).toEqual(['default_deny']);
    expect(d.reason).toMatch(/^Monitor mode, not enforced: it would be denied\./);
  });

  it('reports allowed as the shadow of an allowed call', () => {
    const d = evaluatePolicy(p, input({ actionType: 'file.read' }), usage());
    expect(d.decision).toBe('allowed');
    expect(d.shadowDecision).toBe('allowed');
  });

  it('a blocked agent stays blocked', () => {
    const d = evaluatePolicy(p, input({ actionType: 'file.read' }, { agent: agent({ blocked: true }) }), usage());
    expect(d.decision).toBe('denied');
    expect(d.shadowDecision).toBe('denied');
  });

  it('enforce mode has no shadow decision', () => {
    const q = policy(`
      version: 1
    `);
    const d = evaluatePolicy(q, input(), usage());
    expect(d.mode).toBe('enforce');
    expect(d.shadowDecision).toBeUndefined();
  });
});

describe('agent registration', () => {
  const p = rules(`
      - id: everything
        actions: ["*"]
        effect: allow
  `);

  it('a blocked agent is denied with its block reason', () => {
    const d = evaluatePolicy(p, input({}, { agent: agent({ blocked: true, blockedReason: 'runaway loop' }) }), usage());
    expect(d.decision).toBe('denied');
    expect(d.policyViolations[0]).toEqual({ code: 'agent_blocked', message: 'Agent "agent-1" is blocked: runaway loop.' });
    expect(d.reason).toBe('Agent "agent-1" is blocked: runaway loop.');
  });

  it('a resource outside allowedResources is denied', () => {
    const a = agent({ allowedResources: ['/data/*', 'analytics_db'] });
    expect(evaluatePolicy(p, input({ resource: '/data/x.csv' }, { agent: a }), usage()).decision).toBe('allowed');
    const d = evaluatePolicy(p, input({ resource: '/etc/passwd' }, { agent: a }), usage());
    expect(d.decision).toBe('denied');
    expect(d.policyViolations.map((v) => v.code)).toEqual(['resource_not_allowed']);
    expect(d.reason).toContain('/etc/passwd');
  });

  it('an action outside capabilities is denied', () => {
    const a = agent({ capabilities: ['file.read', 'db.*'] });
    expect(evaluatePolicy(p, input({ actionType: 'db.query' }, { agent: a }), usage()).decision).toBe('allowed');
    const d = evaluatePolicy(p, input({ actionType: 'shell.exec' }, { agent: a }), usage());
    expect(d.decision).toBe('denied');
    expect(d.policyViolations.map((v) => v.code)).toEqual(['capability_missing']);
  });

  it('empty capabilities and allowedResources mean no restriction', () => {
    const d = evaluatePolicy(p, input({ actionType: 'anything.at_all', resource: 'anywhere' }, { agent: agent() }), usage());
    expect(d.decision).toBe('allowed');
  });

  it('a registration denial cannot be overridden by an allow rule', () => {
    const a = agent({ capabilities: ['file.read'], blocked: true });
    const d = evaluatePolicy(p, input({ actionType: 'shell.exec' }, { agent: a }), usage());
    expect(d.decision).toBe('denied');
    expect(d.policyViolations.map((v) => v.code)).toEqual(['agent_blocked', 'capability_missing']);
  });
});

describe('risk thresholds', () => {
  const p = policy(`
    version: 1
    risk: { requireApprovalAt: 40, denyAt: 90 }
    rules:
      - id: allow-all
        actions: ["*"]
        effect: allow
      - id: approve-deletes
        actions: ["file.delete"]
        effect: require_approval
      - id: deny-drop
        actions: ["db.drop"]
        effect: deny
  `);

  it('escalate allowed → pending at requireApprovalAt', () => {
    const low = evaluatePolicy(p, input({ actionType: 'file.read' }), usage());
    expect(low.decision).toBe('allowed');
    expect(low.riskScore).toBe(5);
    // verb "delete" (high, 50) on an allow-all action that no require_approval rule covers.
    const d = evaluatePolicy(p, input({ actionType: 'records.delete' }), usage());
    expect(d.riskScore).toBe(50);
    expect(d.decision).toBe('pending');
    expect(d.reason).toContain('requireApprovalAt threshold of 40');
  });

  it('escalate allowed or pending → denied at denyAt, with violation risk_too_high', () => {
    const d = evaluatePolicy(p, input({ actionType: 'shell.exec', parameters: { command: 'sudo rm -rf /' } }), usage());
    expect(d.riskScore).toBe(95);
    expect(d.decision).toBe('denied');
    expect(d.policyViolations.map((v) => v.code)).toEqual(['risk_too_high']);
    const pending = evaluatePolicy(p, input({ actionType: 'file.delete', parameters: { cmd: 'rm -rf /' } }), usage());
    expect(pending.decision).toBe('denied');
  });

  it('never de-escalate: a low score leaves a deny a deny', () => {
    const d = evaluatePolicy(p, input({ actionType: 'db.drop' }), usage());
    expect(d.riskScore).toBeLessThan(40 + 50);
    expect(d.decision).toBe('denied');
  });

  it("a rule's require_approval stands at low risk", () => {
    const q = policy(`
      version: 1
      risk: { requireApprovalAt: 70, denyAt: 90 }
      rules:
        - id: approve-reads
          actions: ["report.read"]
          effect: require_approval
    `);
    const d = evaluatePolicy(q, input({ actionType: 'report.read' }), usage());
    expect(d.riskScore).toBe(5);
    expect(d.riskLevel).toBe('low');
    expect(d.decision).toBe('pending');
  });

  it('a matched rule raises the score to its risk with a rule_risk factor', () => {
    const q = policy(`
      version: 1
      risk: { requireApprovalAt: 70, denyAt: null }
      rules:
        - id: risky-reads
          actions: ["vault.read"]
          effect: allow
          risk: 75
    `);
    const d = evaluatePolicy(q, input({ actionType: 'vault.read' }), usage());
    expect(d.riskScore).toBe(75);
    expect(d.riskLevel).toBe('high');
    expect(d.riskFactors).toContainEqual({ name: 'rule_risk', points: 70, detail: 'rule "risky-reads" sets the risk to at least 75' });
    expect(d.riskFactors.reduce((s, f) => s + f.points, 0)).toBe(75);
    expect(d.decision).toBe('pending');
  });

  it('null turns a threshold off', () => {
    const q = policy(`
      version: 1
      default: allow
      risk: { requireApprovalAt: null, denyAt: null }
    `);
    const d = evaluatePolicy(q, input({ actionType: 'shell.exec', parameters: { command: 'sudo rm -rf /' } }), usage());
    expect(d.riskScore).toBe(95);
    expect(d.decision).toBe('allowed');
  });
});

describe('requireHumanApproval', () => {
  const p = rules(`
      - id: allow-all
        actions: ["*"]
        effect: allow
      - id: deny-x
        actions: ["x.delete"]
        effect: deny
  `);
  it('escalates allowed to pending', () => {
    const d = evaluatePolicy(p, input({ requireHumanApproval: true }), usage());
    expect(d.decision).toBe('pending');
    expect(d.reason).toContain('asked for a person');
  });
  it('does not turn a denial into pending', () => {
    expect(evaluatePolicy(p, input({ actionType: 'x.delete', requireHumanApproval: true }), usage()).decision).toBe('denied');
  });
});

describe('run-time condition errors deny', () => {
  const p = policy(
    `
    version: 1
    default: allow
    risk: { requireApprovalAt: null, denyAt: null }
    rules:
      - id: allow-all
        actions: ["*"]
        effect: allow
      - id: big-transfer
        actions: ["financial.transfer"]
        when: 'parameters.amount > 10000'
        effect: require_approval
      - id: guarded
        actions: ["financial.transfer"]
        when: 'has(parameters.amount) && parameters.amount > 10000'
        effect: require_approval
  `,
    'money.yaml',
  );

  it('a missing key denies with condition_error naming file, line and rule', () => {
    const d = evaluatePolicy(p, input({ actionType: 'financial.transfer', parameters: { currency: 'USD' } }), usage());
    expect(d.decision).toBe('denied');
    const v = d.policyViolations.find((x) => x.code === 'condition_error');
    expect(v?.ruleId).toBe('big-transfer');
    expect(v?.message).toContain('money.yaml:10'); // the line of its `when`
    expect(v?.message).toContain('"big-transfer"');
    expect(v?.message).toContain('amount');
    expect(v?.message).toContain('has(');
    expect(d.reason).toBe(v?.message);
    // The guarded rule did not error and did not match.
    expect(d.policyViolations.filter((x) => x.code === 'condition_error')).toHaveLength(1);
  });

  it('a wrongly typed value denies', () => {
    const d = evaluatePolicy(p, input({ actionType: 'financial.transfer', parameters: { amount: 'lots' } }), usage());
    expect(d.decision).toBe('denied');
    expect(d.policyViolations.map((v) => v.code)).toContain('condition_error');
  });

  it('a condition evaluating to a non-bool denies', () => {
    const q = policy(`
      version: 1
      default: allow
      rules:
        - id: dyn
          actions: ["*"]
          when: 'parameters.flag'
          effect: allow
    `);
    expect(evaluatePolicy(q, input({ parameters: { flag: true } }), usage()).decision).toBe('allowed');
    const d = evaluatePolicy(q, input({ parameters: { flag: 'yes' } }), usage());
    expect(d.decision).toBe('denied');
    expect(d.policyViolations[0]?.message).toContain('not a bool');
  });

  it('works when the value is present', () => {
    const d = evaluatePolicy(p, input({ actionType: 'financial.transfer', parameters: { amount: 20000 } }), usage());
    expect(d.decision).toBe('pending');
    expect(d.matchedRules).toEqual(['allow-all', 'big-transfer', 'guarded']);
  });

  it('never throws, even on a broken request', () => {
    const broken = { request: { agentId: 'a', actionType: 'financial.transfer', resource: null, parameters: null, context: null }, now: T0 } as never;
    const d = evaluatePolicy(p, broken, usage());
    expect(d.decision).toBe('denied');
    expect(d.policyViolations.length).toBeGreaterThan(0);
  });
});

describe('(?i) regexes', () => {
  const p = rules(`
      - id: select-only
        actions: ["db.query"]
        when: 'parameters.query.matches("(?i)^\\\\s*select\\\\b")'
        effect: allow
  `);
  it('match case-insensitively', () => {
    expect(evaluatePolicy(p, input({ actionType: 'db.query', parameters: { query: '  SeLeCt 1' } }), usage()).decision).toBe('allowed');
    expect(evaluatePolicy(p, input({ actionType: 'db.query', parameters: { query: 'select 1' } }), usage()).decision).toBe('allowed');
    expect(evaluatePolicy(p, input({ actionType: 'db.query', parameters: { query: 'DELETE FROM t' } }), usage()).decision).toBe('denied');
  });
  it('without (?i) stay case-sensitive', () => {
    const q = rules(`
      - id: lower
        actions: ["db.query"]
        when: 'parameters.query.matches("^select")'
        effect: allow
    `);
    expect(evaluatePolicy(q, input({ actionType: 'db.query', parameters: { query: 'select 1' } }), usage()).decision).toBe('allowed');
    expect(evaluatePolicy(q, input({ actionType: 'db.query', parameters: { query: 'SELECT 1' } }), usage()).decision).toBe('denied');
  });
});

describe('policyErrorDecision', () => {
  it('denies with policy_error naming file and line', () => {
    const error = new PolicyError('unknown key "efect"', { file: 'ascend.policy.yaml', line: 7 }, 'did you mean "effect"?');
    const d = policyErrorDecision(error);
    expect(d.decision).toBe('denied');
    expect(d.policyViolations).toEqual([{ code: 'policy_error', message: d.reason }]);
    expect(d.reason).toContain('ascend.policy.yaml:7');
    expect(d.reason).toContain('efect');
    expect(d.matchedRules).toEqual([]);
  });
  it('accepts any error', () => {
    const d = policyErrorDecision(new Error('boom'));
    expect(d.decision).toBe('denied');
    expect(d.reason).toContain('boom');
  });
});

describe('explanations', () => {
  it('every decision has a one-sentence reason, risk level and factors', () => {
    const p = rules(`
      - id: a
        actions: ["email.send"]
        effect: allow
    `);
    const d = evaluatePolicy(p, input({ actionType: 'email.send', parameters: { to: 'bob@example.com' } }), usage());
    expect(d.reason).toMatch(/^[A-Z].*\.$/);
    expect(d.riskFactors.map((f) => f.name)).toEqual(['verb_class', 'pii_email']);
    expect(d.riskScore).toBe(35);
    expect(d.riskLevel).toBe('medium');
  });
});

describe('monitor mode and condition errors', () => {
  it('a condition error is reported as the shadow denial, and the call runs', () => {
    const p = policy(`
      version: 1
      mode: monitor
      default: allow
      rules:
        - id: needs-amount
          actions: ["pay.*"]
          when: 'parameters.amount > 5'
          effect: allow
    `);
    const d = evaluatePolicy(p, input({ actionType: 'pay.out' }), usage());
    expect(d.decision).toBe('allowed');
    expect(d.shadowDecision).toBe('denied');
    expect(d.policyViolations.map((v) => v.code)).toEqual(['condition_error']);
  });
});

describe('approvals.elicitationMaxRisk', () => {
  it("says whether an MCP client's answer may approve a pending call", async () => {
    const { parsePolicy, evaluatePolicy, UsageTracker } = await import('../../src/engine/index.js');
    const policy = (extra: string) =>
      parsePolicy(`version: 1\n${extra}rules:\n  - id: ask\n    actions: ["notes.*"]\n    effect: require_approval\n`, 'p.yaml');
    const input = { request: { agentId: 'a', actionType: 'notes.delete', resource: '', parameters: {}, context: {}, requireHumanApproval: false }, agent: undefined, now: Date.now() };
    const byDefault = evaluatePolicy(policy(''), input, new UsageTracker());
    expect(byDefault.decision).toBe('pending');
    expect(byDefault.elicitationAllowed).toBe(byDefault.riskScore <= 69);
    expect(evaluatePolicy(policy('approvals:\n  elicitationMaxRisk: null\n'), input, new UsageTracker()).elicitationAllowed).toBe(false);
    expect(evaluatePolicy(policy('approvals:\n  elicitationMaxRisk: 100\n'), input, new UsageTracker()).elicitationAllowed).toBe(true);
    expect(() => policy('approvals:\n  elicitationMaxRsk: 3\n')).toThrow(/elicitationMaxRisk/);
  });
});
