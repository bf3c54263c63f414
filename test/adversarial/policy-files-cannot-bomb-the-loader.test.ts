/**
 * Policy files cannot bomb the loader. `parsePolicy`, the embedded client and the real
 * `ascend policy check` answer hostile policy files — YAML "billion laughs" (nested aliases), a
 * huge alias fan-out, YAML nested 100,000 levels deep, multi-megabyte files and values, CEL
 * conditions nested past the parser's depth, and regular expressions that backtrack
 * catastrophically — within a generous bound, without exhausting memory, and never by loading
 * something that allows. Where the file is wrong, the answer is a PolicyError naming the file and
 * line. `matches` runs on RE2: a catastrophic pattern loads and runs in linear time, and a pattern
 * RE2 cannot run (backreference, lookahead) is refused at load.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AscendClient, PolicyError, parsePolicy } from '../../src/index.js';
import { captureLogs, runCli, tempDir } from '../helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const dir = tempDir('ascend-bomb-');
  dirs.push(dir);
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

/** Far above what a loaded machine needs for any of these files, far below an expansion or a backtrack. */
const ANSWERED_WITHIN_MS = 60_000;

/** `fn`'s thrown error (it must throw) and how long it took. */
function thrown(fn: () => unknown): { error: unknown; ms: number } {
  const started = Date.now();
  try {
    fn();
  } catch (error) {
    return { error, ms: Date.now() - started };
  }
  throw new Error('expected the policy to be refused, but it loaded');
}

function expectPolicyError(error: unknown, fileName: string, problem: RegExp): PolicyError {
  expect(error).toBeInstanceOf(PolicyError);
  const e = error as PolicyError;
  expect(e.code).toBe('policy_error');
  expect(e.file).toBe(fileName);
  expect(e.line).toBeGreaterThanOrEqual(1);
  expect(e.message).toMatch(problem);
  expect(e.message.startsWith(`${fileName}:${e.line}`)).toBe(true);
  return e;
}

/** "Billion laughs": ten levels of nine aliases each, 9^9 strings if expanded. */
function billionLaughs(): string {
  const lines = ['version: 1', 'default: allow', 'lol0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
  for (let i = 1; i < 10; i++) lines.push(`lol${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]`);
  lines.push('rules: []');
  return `${lines.join('\n')}\n`;
}

/** One small map referenced 100,000 times. */
function aliasFanOut(): string {
  return `version: 1\ndefault: allow\nbase: &b { k: v }\nmany: [${Array(100_000).fill('*b').join(', ')}]\nrules: []\n`;
}

describe('YAML alias bombs', () => {
  it('"billion laughs" and a 100,000-alias fan-out are refused quickly, never expanded', () => {
    for (const [name, text] of [['laughs.yaml', billionLaughs()], ['fan-out.yaml', aliasFanOut()]] as const) {
      const { error, ms } = thrown(() => parsePolicy(text, name));
      expect(ms, name).toBeLessThan(ANSWERED_WITHIN_MS);
      expect(error).toBeInstanceOf(Error);
    }
  }, 120_000);

  it('they are a PolicyError naming the file, as any invalid policy', () => {
    for (const [name, text] of [['laughs.yaml', billionLaughs()], ['fan-out.yaml', aliasFanOut()]] as const) {
      const { error } = thrown(() => parsePolicy(text, name));
      expect(error, name).toBeInstanceOf(PolicyError);
      expect((error as PolicyError).file).toBe(name);
      expect((error as PolicyError).line).toBe(1);
      expect((error as PolicyError).fix).toContain('aliases');
    }
  }, 120_000);

  it('the real `ascend policy check` refuses them as an invalid policy (exit 1; --json reports the file)', async () => {
    for (const [name, text] of [['laughs.yaml', billionLaughs()], ['fan-out.yaml', aliasFanOut()]] as const) {
      const started = Date.now();
      const policyFile = file(name, text);
      const r = await runCli(['policy', 'check', policyFile], { env: { NO_COLOR: '1' } });
      expect(Date.now() - started, name).toBeLessThan(ANSWERED_WITHIN_MS);
      expect(r.code, `${name}: ${r.stdout}${r.stderr}`).toBe(1);
      expect(r.stdout).toMatch(/^invalid: /m);
      const json = await runCli(['policy', 'check', '--json', policyFile], { env: { NO_COLOR: '1' } });
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { file: policyFile, line: 1 } });
    }
  }, 180_000);

  it('an embedded client given one denies every call (it never allows on a policy it could not load)', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const client = new AscendClient({ agentId: 'bombed', policy: file('laughs.yaml', billionLaughs()), dataDir: dir, logDestination: captureLogs().destination });
    try {
      const decision = await client.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' } });
      expect(decision.decision).toBe('denied'); // the bomb says `default: allow`
      let ran = false;
      await expect(client.govern({ actionType: 'db.query', parameters: { sql: 'select 1' } }, () => (ran = true))).rejects.toThrow();
      expect(ran).toBe(false);
    } finally {
      await client.close();
    }
  });
});

describe('deeply nested YAML', () => {
  const flow = (depth: number) => `version: 1\ndefault: allow\nrules: []\ndeep: ${'['.repeat(depth)}${']'.repeat(depth)}\n`;
  const block = (depth: number) => {
    let text = 'version: 1\ndefault: allow\nrules: []\ndeep:\n';
    for (let i = 0; i < depth; i++) text += `${' '.repeat(i + 1)}k${i}:\n`;
    return text;
  };

  it('100,000 levels of flow sequences and 5,000 of block maps are a PolicyError naming file and line', () => {
    for (const [name, text] of [['flow.yaml', flow(100_000)], ['flow-open.yaml', `version: 1\ndefault: allow\nrules: []\ndeep: ${'['.repeat(100_000)}\n`], ['block.yaml', block(5000)]] as const) {
      const { error, ms } = thrown(() => parsePolicy(text, name));
      expect(ms, name).toBeLessThan(ANSWERED_WITHIN_MS);
      const e = expectPolicyError(error, name, /invalid YAML|deep|nest|stack/i);
      expect(e.line, name).toBeGreaterThanOrEqual(4); // where the nesting is, not line 1
    }
  }, 120_000);

  it('`ascend policy check --json` names the file and the line', async () => {
    const p = file('deep.yaml', flow(100_000));
    const r = await runCli(['policy', 'check', '--json', p]);
    expect(r.code, r.stderr).toBe(1);
    const answer = JSON.parse(r.stdout) as { ok: boolean; error: { file: string; line: number; message: string } };
    expect(answer.ok).toBe(false);
    expect(answer.error.file).toBe(p);
    expect(answer.error.line).toBe(4);
    expect(answer.error.message).toContain(`${p}:4`);
  }, 120_000);
});

describe('multi-megabyte policies', () => {
  it('a file over the 4 MiB cap is refused by `ascend policy check` naming the file, before it is parsed', async () => {
    let text = 'version: 1\ndefault: allow\nrules:\n';
    const rule = (i: number) => `  - id: r${i}\n    actions: ["tool.${i}"]\n    effect: allow\n`;
    for (let i = 0; text.length <= 4 * 1024 * 1024 + 1024; i++) text += rule(i);
    const p = file('huge.yaml', text);
    const r = await runCli(['policy', 'check', p]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain(p);
    expect(r.stdout).toMatch(/larger than \d+/);
  }, 120_000);

  it('a 3 MB value is a PolicyError naming its line; 2 MB of rules load and decide', () => {
    const bigValue = `version: 1\ndefault: deny\nrules:\n  - id: long\n    actions: ["x.*"]\n    effect: allow\n    description: "${'x'.repeat(3 * 1024 * 1024)}"\n`;
    const { error } = thrown(() => parsePolicy(bigValue, 'big-value.yaml'));
    const e = expectPolicyError(error, 'big-value.yaml', /too big/);
    expect(e.line).toBe(7);

    let text = 'version: 1\ndefault: deny\nrules:\n';
    let rules = 0;
    while (text.length < 2 * 1024 * 1024) text += `  - id: r${rules}\n    actions: ["tool.${rules++}"]\n    effect: allow\n`;
    const policy = parsePolicy(text, 'many-rules.yaml');
    expect(policy.rules).toHaveLength(rules);
    expect(policy.candidatesFor(`tool.${rules - 1}`).map((r) => r.id)).toEqual([`r${rules - 1}`]);
  }, 180_000);
});

describe('conditions', () => {
  const withCondition = (when: string, name = 'cond.yaml') =>
    `version: 1\ndefault: deny\nrules:\n  - id: bomb\n    actions: ["*"]\n    when: ${JSON.stringify(when)}\n    effect: allow\n`;

  it('CEL nested past the parser’s depth, or longer than allowed, is a PolicyError naming the rule and line', () => {
    for (const [what, when] of [
      ['parentheses', `${'('.repeat(8000)}true${')'.repeat(8000)}`],
      ['negations', `${'!'.repeat(16_000)}true`],
      ['lists', `${'['.repeat(8000)}${']'.repeat(8000)}.size() == 1`],
      ['a member chain', `parameters${'.a'.repeat(5000)} == 1`],
      ['a 3 MB condition', `parameters.s == "${'x'.repeat(3 * 1024 * 1024)}"`],
    ] as const) {
      const { error, ms } = thrown(() => parsePolicy(withCondition(when), 'cond.yaml'));
      expect(ms, what).toBeLessThan(ANSWERED_WITHIN_MS);
      const e = expectPolicyError(error, 'cond.yaml', /CEL syntax error|too big/);
      expect(e.ruleId, what).toBe('bomb');
      expect(e.line, what).toBe(6);
    }
  }, 120_000);

  it('patterns RE2 cannot run (backreferences, lookaround) are refused at load, naming file, line and rule', () => {
    for (const [what, pattern] of [
      ['a backreference', '^(a+)\\\\1$'],
      ['lookahead', '^(?=a+)a*$'],
      ['negative lookbehind', '(?<!a)b'],
    ] as const) {
      const { error } = thrown(() => parsePolicy(withCondition(`parameters.s.matches("${pattern}")`), 'cond.yaml'));
      const e = expectPolicyError(error, 'cond.yaml', /RE2 does not support/);
      expect(e.ruleId, what).toBe('bomb');
      expect(e.fix).toBeTruthy();
    }
  });

  it('a catastrophically backtracking pattern loads and decides in linear time, written or computed at run time', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const policy = file(
      'redos.yaml',
      `version: 1
default: deny
rules:
  - id: nested-quantifier
    actions: ["check.literal"]
    when: 'parameters.s.matches("^(a+)+$")'
    effect: allow
  - id: overlapping-alternation
    actions: ["check.computed"]
    when: 'parameters.s.matches(parameters.pattern)'
    effect: allow
`,
    );
    const client = new AscendClient({ agentId: 'redos', policy, dataDir: dir, logDestination: captureLogs().destination });
    try {
      // A backtracking engine needs ~2^n steps for n "a"s then a "!"; RE2 needs n.
      const evil = `${'a'.repeat(100_000)}!`;
      const started = Date.now();
      const miss = await client.evaluateAction({ actionType: 'check.literal', parameters: { s: evil } });
      const hit = await client.evaluateAction({ actionType: 'check.literal', parameters: { s: 'a'.repeat(100_000) } });
      const computedMiss = await client.evaluateAction({ actionType: 'check.computed', parameters: { s: `${'a'.repeat(50_000)}b`, pattern: '^(a|aa)+$' } });
      const computedHit = await client.evaluateAction({ actionType: 'check.computed', parameters: { s: 'a'.repeat(50_000), pattern: '^(a|aa)+$' } });
      expect(Date.now() - started).toBeLessThan(ANSWERED_WITHIN_MS);
      expect(miss.decision).toBe('denied');
      expect(miss.matchedRules).toEqual([]);
      expect(hit.decision).toBe('allowed');
      expect(hit.matchedRules).toEqual(['nested-quantifier']);
      expect(computedMiss.decision).toBe('denied');
      expect(computedHit.decision).toBe('allowed');
      // A computed pattern RE2 cannot run is an error of that call (denied), not a hang.
      const backref = await client.evaluateAction({ actionType: 'check.computed', parameters: { s: 'aa', pattern: '(a)\\1' } });
      expect(backref.decision).toBe('denied');
    } finally {
      await client.close();
    }
  }, 120_000);

  it('`ascend policy test` answers the catastrophic case through the real CLI', async () => {
    const policy = file('redos.yaml', withCondition('parameters.s.matches("^(a|a)*$")'));
    const request = file('request.json', JSON.stringify({ actionType: 'check', parameters: { s: `${'a'.repeat(100_000)}!` } }));
    const started = Date.now();
    const r = await runCli(['policy', 'test', policy, '--request', `@${request}`, '--expect', 'denied']);
    expect(Date.now() - started).toBeLessThan(ANSWERED_WITHIN_MS);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const hit = file('request-hit.json', JSON.stringify({ actionType: 'check', parameters: { s: 'a'.repeat(100_000) } }));
    const allowed = await runCli(['policy', 'test', policy, '--request', `@${hit}`, '--expect', 'allowed']);
    expect(allowed.code, allowed.stdout + allowed.stderr).toBe(0);
  }, 120_000);
});
