import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PolicyError } from '../../src/core/errors.js';
import { parsePolicy, policyJsonSchema } from '../../src/engine/index.js';
import { loadPolicyFile } from '../../src/policy/file.js';
import { tempDir } from '../helpers.js';
import { dedent } from './helpers.js';

/** The PolicyError thrown by loading `yaml` (fails the test if it loads). */
function loadError(yaml: string, file = 'p.yaml'): PolicyError {
  try {
    parsePolicy(dedent(yaml), file);
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyError);
    return error as PolicyError;
  }
  throw new Error('expected the policy not to load');
}

describe('parsePolicy: valid documents', () => {
  it('parses YAML with defaults applied', () => {
    const p = parsePolicy(
      dedent(`
        version: 1
        rules:
          - id: reads
            actions: ["file.read"]
            effect: allow
      `),
      'a.yaml',
    );
    expect(p.file).toBe('a.yaml');
    expect(p.version).toBe(1);
    expect(p.mode).toBe('enforce');
    expect(p.defaultEffect).toBe('deny');
    expect(p.approvalTimeoutSeconds).toBe(300);
    expect(p.riskThresholds).toEqual({ requireApprovalAt: 70, denyAt: 90 });
    expect(p.rules.map((r) => r.id)).toEqual(['reads']);
    expect(p.rules[0]?.line).toBe(3);
    expect(p.hasLimits).toBe(false);
  });

  it('parses JSON (JSON is YAML) with the same result', () => {
    const json = JSON.stringify(
      {
        version: 1,
        mode: 'monitor',
        default: 'require_approval',
        approvalTimeoutSeconds: 60,
        risk: { requireApprovalAt: 50, denyAt: null },
        rules: [{ id: 'x', actions: ['a.*'], when: 'parameters.n > 1', effect: 'deny', limit: { count: 2, per: '1m' } }],
      },
      null,
      2,
    );
    const p = parsePolicy(json, 'p.json');
    expect(p.mode).toBe('monitor');
    expect(p.defaultEffect).toBe('require_approval');
    expect(p.approvalTimeoutSeconds).toBe(60);
    expect(p.riskThresholds).toEqual({ requireApprovalAt: 50, denyAt: null });
    expect(p.rules[0]?.limit).toMatchObject({ count: 2, per: '1m', windowMs: 60_000, scope: 'agent' });
    expect(p.rules[0]?.condition?.source).toBe('parameters.n > 1');
    expect(p.hasLimits).toBe(true);
  });

  it('caches candidate rules per action type, in file order', () => {
    const p = parsePolicy(
      dedent(`
        version: 1
        rules:
          - { id: a, actions: ["file.*"], effect: allow }
          - { id: b, actions: ["db.query"], effect: allow }
          - { id: c, actions: ["*.read"], effect: deny }
      `),
      'c.yaml',
    );
    const first = p.candidatesFor('file.read');
    expect(first.map((r) => r.id)).toEqual(['a', 'c']);
    expect(p.candidatesFor('file.read')).toBe(first);
    expect(p.candidatesFor('db.query').map((r) => r.id)).toEqual(['b']);
    expect(p.candidatesFor('other')).toEqual([]);
  });
});

describe('parsePolicy: every load error names file, line and a fix', () => {
  it('bad YAML', () => {
    const e = loadError(`
      version: 1
      rules:
        - id: a
          actions: ["x"
          effect: allow
    `);
    expect(e.file).toBe('p.yaml');
    expect(e.line).toBeGreaterThanOrEqual(4);
    expect(e.message).toMatch(/^p\.yaml:\d+:\d+: invalid YAML/);
    expect(e.fix).toBeTruthy();
  });

  it('a list item out of line: the fix points at the line-up, not only at brackets', () => {
    const e = loadError(`
      version: 1
      default: deny
      rules:
        - id: reads
          actions: ["db.query"]
         effect: allow
    `);
    expect(e.line).toBe(6); // "effect:", one space left of its rule's keys
    expect(e.message).toContain('Sequence item without - indicator');
    expect(e.fix).toContain('lines up with its list or map');
  });

  it('duplicate YAML keys', () => {
    const e = loadError(`
      version: 1
      default: deny
      default: allow
    `);
    expect(e.line).toBe(3);
    expect(e.fix).toMatch(/once/);
  });

  it('an empty file', () => {
    const e = loadError('\n');
    expect(e.line).toBe(1);
    expect(e.fix).toMatch(/version: 1/);
  });

  it('unknown key with a "did you mean"', () => {
    const e = loadError(`
      version: 1
      rules:
        - id: a
          actions: ["x"]
          efect: allow
    `);
    expect(e.line).toBe(5);
    expect(e.ruleId).toBe('a');
    expect(e.message).toContain('unknown key "efect"');
    expect(e.fix).toBe('did you mean "effect"?');
    expect(e.message).toContain('p.yaml:5');
    expect(e.message).toContain('(rule "a")');
  });

  it('unknown top-level key lists the allowed keys when nothing is close', () => {
    const e = loadError(`
      version: 1
      zzzzzzzz: true
    `);
    expect(e.line).toBe(2);
    expect(e.fix).toContain('allowed keys here: version, name, revision, mode, default');
  });

  it('wrong type: a string where a list is expected', () => {
    const e = loadError(`
      version: 1
      rules:
        - id: a
          actions: file.read
          effect: allow
    `);
    expect(e.line).toBe(4);
    expect(e.message).toContain('rules[0].actions must be a list');
    expect(e.fix).toBe('write a list: actions: ["file.read"]');
  });

  it('wrong type: a quoted number', () => {
    const e = loadError(`
      version: 1
      approvalTimeoutSeconds: "300"
    `);
    expect(e.line).toBe(2);
    expect(e.fix).toBe('write the number without quotes: approvalTimeoutSeconds: 300');
  });

  it('missing required key points at the rule', () => {
    const e = loadError(`
      version: 1
      rules:
        - id: first
          actions: ["a"]
          effect: allow
        - id: second
          actions: ["b"]
    `);
    expect(e.line).toBe(6);
    expect(e.ruleId).toBe('second');
    expect(e.message).toContain('missing required key "effect"');
    expect(e.fix).toContain('allow | deny | require_approval');
  });

  it('bad effect lists the allowed values', () => {
    const e = loadError(`
      version: 1
      rules:
        - id: a
          actions: ["x"]
          effect: alow
    `);
    expect(e.line).toBe(5);
    expect(e.fix).toBe('did you mean "allow"? allowed: allow, deny, require_approval');
  });

  it('bad default effect', () => {
    const e = loadError(`
      version: 1
      default: permit
    `);
    expect(e.line).toBe(2);
    expect(e.fix).toContain('allowed: allow, deny, require_approval');
  });

  it('wrong version', () => {
    const e = loadError(`
      version: 2
    `);
    expect(e.line).toBe(1);
    expect(e.fix).toContain('allowed: 1');
  });

  it('bad glob', () => {
    const e = loadError(`
      version: 1
      rules:
        - id: a
          actions:
            - file.read
            - "file.[rw]*"
          effect: allow
    `);
    expect(e.line).toBe(6);
    expect(e.message).toContain('rules[0].actions[1]');
    expect(e.fix).toContain('only * (any run of characters) and ? (one character) are wildcards');
  });

  it('empty action list', () => {
    const e = loadError(`
      version: 1
      rules:
        - id: a
          actions: []
          effect: allow
    `);
    expect(e.line).toBe(4);
    expect(e.fix).toContain('list at least one glob');
  });

  it('bad duration in a limit', () => {
    const e = loadError(`
      version: 1
      rules:
        - id: a
          actions: ["x"]
          effect: deny
          limit: { count: 5, per: 1 hour }
    `);
    expect(e.line).toBe(6);
    expect(e.fix).toContain('"1h"');
  });

  it('requireApprovalAt above denyAt', () => {
    const e = loadError(`
      version: 1
      risk:
        requireApprovalAt: 95
        denyAt: 90
    `);
    expect(e.line).toBe(3);
    expect(e.fix).toContain('at most denyAt');
  });

  it('CEL syntax error shows the expression', () => {
    const e = loadError(`
      version: 1
      rules:
        - id: big
          actions: ["financial.transfer"]
          when: 'parameters.amount > > 10'
          effect: deny
    `);
    expect(e.line).toBe(5);
    expect(e.ruleId).toBe('big');
    expect(e.message).toContain('CEL syntax error');
    expect(e.message).toContain('parameters.amount > > 10');
    expect(e.fix).toContain('parameters.amount > ');
    expect(e.fix).toContain('⟨here⟩');
  });

  it('a CEL error in a condition that uses matches points into the expression as written', () => {
    // What runs is the expression with matches routed to RE2; an error is reported against what
    // the file says, at the same place.
    for (const [when, text, at] of [
      ['parameters.q.matches("^a") && > 1', 'CEL syntax error', 'parameters.q.matches("^a") && ⟨here⟩'],
      ['parameters.q.matches("^a") + 1', 'CEL type error', '⟨here⟩parameters.q.matches("^a") + 1'],
    ] as const) {
      const e = loadError(`
        version: 1
        rules:
          - id: r
            actions: ["x"]
            when: '${when}'
            effect: deny
      `);
      expect(e.message, when).toContain(text);
      expect(e.message, when).toContain(JSON.stringify(when));
      expect(e.message, when).not.toContain('ascendMatches');
      expect(e.fix, when).toContain(at);
    }
  });

  it('CEL error inside a block scalar points at the line of the error', () => {
    const e = loadError(`
      version: 1
      rules:
        - id: multi
          actions: ["x"]
          when: |
            has(parameters.a) &&
            parameters.a ==
          effect: deny
    `);
    // The expression ends early: the error is at the end of its second line (file line 7).
    expect(e.line).toBe(7);
  });

  it('unknown variable names the available ones', () => {
    const e = loadError(`
      version: 1
      rules:
        - id: a
          actions: ["x"]
          when: 'amount > 10'
          effect: deny
    `);
    expect(e.line).toBe(5);
    expect(e.fix).toContain('parameters, resource, action, agent, context');
    expect(e.fix).toContain('parameters.amount');
  });

  it('a condition that cannot be a bool is refused at load', () => {
    const e = loadError(`
      version: 1
      rules:
        - id: a
          actions: ["x"]
          when: 'size(resource) + 1'
          effect: deny
    `);
    expect(e.line).toBe(5);
    expect(e.message).toContain('not a bool');
    expect(e.fix).toContain('> 0');
  });

  it('an invalid literal regex is refused at load', () => {
    const e = loadError(`
      version: 1
      rules:
        - id: a
          actions: ["x"]
          when: 'resource.matches("(unclosed")'
          effect: deny
    `);
    expect(e.line).toBe(5);
    expect(e.message).toContain('invalid regular expression');
  });

  it('a non-string condition says to quote it', () => {
    const e = loadError(`
      version: 1
      rules:
        - id: a
          actions: ["x"]
          when: true
          effect: deny
    `);
    expect(e.line).toBe(5);
    expect(e.fix).toBe('quote the condition so it stays a string: when: "true"');
  });

  it('duplicate rule ids', () => {
    const e = loadError(`
      version: 1
      rules:
        - id: same
          actions: ["a"]
          effect: allow
        - id: same
          actions: ["b"]
          effect: deny
    `);
    expect(e.line).toBe(6);
    expect(e.ruleId).toBe('same');
    expect(e.message).toContain('duplicate rule id "same"');
    expect(e.fix).toContain('line 3');
  });

  it('reports the first problem by line, then shows the others with their lines', () => {
    const e = loadError(`
      version: 1
      rules:
        - id: a
          actions: ["x"]
          effect: nope
        - id: b
          actions: "y"
          effect: allow
    `);
    expect(e.line).toBe(5);
    // The second problem is shown, not merely counted.
    expect(e.message).toMatch(/Also line 7 \(rule "b"\): rules\[1\]\.actions must be a list/);
  });

  it('JSON errors have lines too', () => {
    const json = '{\n  "version": 1,\n  "rules": [\n    { "id": "a", "actions": ["x"], "efect": "deny" }\n  ]\n}\n';
    try {
      parsePolicy(json, 'p.json');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PolicyError);
      expect((error as PolicyError).line).toBe(4);
      expect((error as PolicyError).fix).toBe('did you mean "effect"?');
    }
  });
});

describe('policyJsonSchema', () => {
  it('is a JSON Schema object describing the document', () => {
    const schema = policyJsonSchema();
    expect(schema.type).toBe('object');
    const props = schema.properties as Record<string, Record<string, unknown>>;
    expect(Object.keys(props)).toEqual(expect.arrayContaining(['version', 'mode', 'default', 'rules', 'risk', 'approvalTimeoutSeconds']));
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['version']);
    const rule = (props.rules as { items: { properties: Record<string, unknown>; required: string[] } }).items;
    expect(rule.required).toEqual(expect.arrayContaining(['id', 'actions', 'effect']));
    expect(rule.properties.effect).toMatchObject({ enum: ['allow', 'deny', 'require_approval'] });
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
  });
});

describe('loadPolicyFile', () => {
  it('loads a file and names it in the policy', () => {
    const dir = tempDir('ascend-engine-');
    try {
      const file = path.join(dir, 'ascend.policy.yaml');
      fs.writeFileSync(file, '\uFEFFversion: 1\nrules: []\n');
      expect(loadPolicyFile(file).file).toBe(file);
      fs.writeFileSync(file, 'version: 1\nrules:\n  - id: a\n    actions: ["x"]\n    effect: maybe\n');
      expect(() => loadPolicyFile(file)).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:`));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a missing file is a PolicyError naming the path', () => {
    const missing = path.join(os.tmpdir(), 'ascend-no-such-dir', 'nope.yaml');
    try {
      loadPolicyFile(missing);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PolicyError);
      expect((error as PolicyError).file).toBe(missing);
      expect((error as PolicyError).message).toContain('not found');
      expect((error as PolicyError).fix).toContain('ascend init');
    }
  });
});
