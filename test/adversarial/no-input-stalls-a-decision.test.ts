/**
 * No input stalls a decision. Globs (of rules and of agent registrations), CEL `matches` and the
 * risk detectors take time that grows linearly with their input, whatever the pattern and the
 * value, and a hostile call cannot keep a real `ascend serve` from answering others.
 *
 * Growth is measured, never held to an absolute budget: the same work is timed on an input and on
 * one 4 times longer, and the ratio must stay well under what a quadratic matcher shows (16×; a
 * backtracking one shows 64× or thousands). Sizes come in two sets: small ones that a backtracking
 * matcher still finishes (so these tests fail, rather than hang, on one), and large ones.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { callDigest } from '../../src/core/call-digest.js';
import { PolicyError } from '../../src/core/errors.js';
import {
  compileCondition,
  compileGlob,
  detectArgumentRisks,
  evaluatePolicy,
  matchesAnyGlob,
  parsePolicy,
  UsageTracker,
  type ConditionVariables,
} from '../../src/engine/index.js';
import { MAX_GLOB_LENGTH } from '../../src/engine/glob.js';
import type { RiskFactor } from '../../src/core/types.js';
import { eventually } from '../helpers.js';
import { agent, dedent, input, request } from '../engine/helpers.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from '../server/helpers.js';

/** Input sizes compared: the larger is this many times the smaller. */
const GROWTH = 4;
/** Largest accepted ratio of times for GROWTH× the input: linear is 4, quadratic 16. */
const MAX_RATIO = 12;

/** Milliseconds per call of `fn`, over a batch of calls that lasts a few milliseconds. */
function msPerCall(fn: () => unknown): number {
  const t0 = performance.now();
  let calls = 0;
  let elapsed = 0;
  do {
    fn();
    calls++;
    elapsed = performance.now() - t0;
  } while (elapsed < 5);
  return elapsed / calls;
}

/**
 * How much longer `large` takes than `small`: both warmed up, then timed in alternating batches,
 * the quickest batch of each kept (the one least disturbed by other work on the machine).
 */
function timeRatio(small: () => unknown, large: () => unknown): number {
  small();
  large();
  let s = Infinity;
  let l = Infinity;
  for (let i = 0; i < 5; i++) {
    s = Math.min(s, msPerCall(small));
    l = Math.min(l, msPerCall(large));
  }
  return l / s;
}

/**
 * How much longer `work` takes on an input `factor` times larger (`work(size)` prepares the input
 * and returns the call to time). The lowest of up to three measurements: a burst of load on a
 * shared machine can spoil one, while a matcher that is really superlinear fails all three.
 */
function growth(work: (size: number) => () => unknown, size: number, factor = GROWTH): number {
  const small = work(size);
  const large = work(size * factor);
  let best = Infinity;
  for (let attempt = 0; attempt < 3 && best >= MAX_RATIO; attempt++) best = Math.min(best, timeRatio(small, large));
  return best;
}

function vars(parameters: Record<string, unknown>): ConditionVariables {
  return { parameters, resource: 'r', action: 'a', agent: { id: 'x', type: 't', metadata: {} }, context: {} };
}

describe('globs take time linear in the value, whatever the pattern', () => {
  // Patterns whose backtracking RegExp explodes (s3://*/*/*.csv against 2,040 slashes took 4.1 s),
  // a value that nearly matches, and a size a backtracking matcher still finishes.
  const cases: Array<[string, (n: number) => string, number]> = [
    ['s3://*/*/*.csv', (n) => 's3://' + '/'.repeat(n), 200],
    ['*a*a*a*a*b', (n) => 'a'.repeat(n), 20],
    ['*?*?*?*?*?x', (n) => 'y'.repeat(n), 20],
    ['*****z', (n) => 'z '.repeat(n / 2), 20],
  ];

  it.each(cases)('%s: a value 4 times longer takes about 4 times as long, not 16 or more', (pattern, value, size) => {
    const glob = compileGlob(pattern);
    expect(glob.test(value(size))).toBe(false);
    expect(growth((n) => { const v = value(n); return () => glob.test(v); }, size)).toBeLessThan(MAX_RATIO);
  });

  it.each(cases)('%s: still linear at the longest resource a call may name and far beyond', (pattern, value) => {
    const glob = compileGlob(pattern);
    expect(growth((n) => { const v = value(n); return () => glob.test(v); }, 2048)).toBeLessThan(MAX_RATIO);
  });

  it('the longest glob accepted, full of wildcards, against a long value', () => {
    // 1,024 characters: 512 `*?` pairs, so the automaton has 512 states.
    const pattern = '*?'.repeat(MAX_GLOB_LENGTH / 2 - 1) + '*x';
    const glob = compileGlob(pattern);
    expect(glob.test('y'.repeat(4096))).toBe(false);
    expect(glob.test('y'.repeat(600) + 'x')).toBe(true);
    expect(growth((n) => { const v = 'y'.repeat(n); return () => glob.test(v); }, 1024)).toBeLessThan(MAX_RATIO);
  });

  it('globs of an agent registration (data, not policy) are just as safe', () => {
    const registered = agent({ allowedResources: ['s3://*/*/*.csv', '*a*a*a*a*b'] });
    const policy = parsePolicy('version: 1\ndefault: allow\nrules:\n  - { id: r, actions: ["other"], effect: deny }\n', 'open.policy.yaml');
    const usage = new UsageTracker();
    const decide = (n: number) => {
      const call = input({ resource: 's3://' + '/'.repeat(n) }, { agent: registered });
      return () => evaluatePolicy(policy, call, usage);
    };
    expect(decide(2043)().policyViolations.map((v) => v.code)).toEqual(['resource_not_allowed']);
    expect(growth(decide, 200)).toBeLessThan(MAX_RATIO);
    expect(growth((n) => { const v = 'a'.repeat(n); return () => matchesAnyGlob(registered.allowedResources, v); }, 20)).toBeLessThan(MAX_RATIO);
  });

  it('a hostile resource against a rule glob is decided, and the glob still means what it says', () => {
    const policy = parsePolicy(
      dedent(`
        version: 1
        default: deny
        rules:
          - id: csv-reads
            actions: ["storage.read"]
            resources: ["s3://*/*/*.csv"]
            effect: allow
      `),
      'globs.policy.yaml',
    );
    const usage = new UsageTracker();
    const hostile = evaluatePolicy(policy, input({ actionType: 'storage.read', resource: 's3://' + '/'.repeat(2043) }), usage);
    expect(hostile.decision).toBe('denied');
    expect(evaluatePolicy(policy, input({ actionType: 'storage.read', resource: 's3://bucket/2025/q3.csv' }), usage).decision).toBe('allowed');
    expect(evaluatePolicy(policy, input({ actionType: 'storage.read', resource: 's3://bucket/q3.csv' }), usage).decision).toBe('denied');
  });
});

describe('CEL matches runs RE2: time linear in the text, whatever the pattern', () => {
  // Catastrophic backtracking in JavaScript's RegExp: each extra character doubles the time.
  const cases: Array<[string, (n: number) => string]> = [
    ['^(\\w+\\s?)*$', (n) => 'a'.repeat(n) + '!'],
    ['^(a+)+$', (n) => 'a'.repeat(n) + 'b'],
    ['^(a|aa)+$', (n) => 'a'.repeat(n) + 'b'],
    ['(.*a){12}', (n) => 'a'.repeat(n)],
  ];

  it.each(cases)('%s: a few more characters do not multiply the time', (pattern, text) => {
    const condition = compileCondition(`parameters.text.matches(${JSON.stringify(pattern)})`);
    // 12 → 24 characters: 4,096 times the work for a backtracking engine, about twice for RE2.
    const work = (n: number) => {
      const v = vars({ text: text(n) });
      return () => condition.test(v);
    };
    expect(growth(work, 12, 2)).toBeLessThan(MAX_RATIO);
  });

  it.each(cases)('%s: linear in texts of tens of thousands of characters', (pattern, text) => {
    const condition = compileCondition(`parameters.text.matches(${JSON.stringify(pattern)})`);
    const work = (n: number) => {
      const v = vars({ text: text(n) });
      return () => condition.test(v);
    };
    expect(growth(work, 16_384)).toBeLessThan(MAX_RATIO);
  });

  it('a catastrophic pattern given at run time is as safe as a literal one', () => {
    const condition = compileCondition('parameters.text.matches(parameters.pattern)');
    const work = (n: number) => {
      const v = vars({ text: 'a'.repeat(n) + '!', pattern: '^(\\w+\\s?)*$' });
      return () => condition.test(v);
    };
    expect(growth(work, 12, 2)).toBeLessThan(MAX_RATIO);
  });

  it('the results are RE2 matches, flags (?i), (?s), (?m) included', () => {
    const words = compileCondition('parameters.text.matches(r"^(\\w+\\s?)*$")');
    expect(words.test(vars({ text: 'hello big world' }))).toBe(true);
    expect(words.test(vars({ text: 'a'.repeat(50_000) + '!' }))).toBe(false);
    expect(compileCondition('parameters.q.matches("(?i)^\\\\s*select\\\\b")').test(vars({ q: '  SELECT 1' }))).toBe(true);
    expect(compileCondition('parameters.q.matches("(?s)a.b")').test(vars({ q: 'a\nb' }))).toBe(true);
    expect(compileCondition('parameters.q.matches("(?m)^b$")').test(vars({ q: 'a\nb\nc' }))).toBe(true);
    expect(compileCondition('parameters.q.matches("^b$")').test(vars({ q: 'a\nb\nc' }))).toBe(false);
  });

  it('no spelling of a matches call reaches the backtracking matcher: it runs RE2 or the policy does not load', () => {
    // `(?i)` is RE2 syntax that JavaScript's RegExp refuses, so a true answer proves RE2 ran.
    for (const routed of [
      'parameters.q.matches("(?i)^abc$")',
      'parameters.q\n.matches("(?i)^abc$")',
      'parameters.q.\tmatches\t("(?i)^abc$")',
      '[parameters.q].exists(x, x.matches("(?i)^abc$"))',
      '"q.matches(" != "" && parameters.q.matches("(?i)^abc$")',
    ]) {
      expect(compileCondition(routed).test(vars({ q: 'ABC' })), routed).toBe(true);
    }
    // Spellings the rewriter cannot see through (a comment between the parts of the call).
    for (const hidden of ['parameters.q.//c\nmatches("(?i)^abc$")', 'parameters.q.matches//c\n("(?i)^abc$")']) {
      expect(() => compileCondition(hidden), hidden).toThrow(/could not route every matches\(\) call to RE2/);
    }
  });
});

describe('a pattern RE2 cannot run is refused when the policy loads, not when a call comes', () => {
  function loadError(pattern: string): PolicyError {
    const yaml = dedent(`
      version: 1
      rules:
        - id: ok
          actions: ["x"]
          effect: allow
        - id: picky
          actions: ["note.write"]
          when: 'parameters.text.matches(${JSON.stringify(pattern)})'
          effect: allow
    `);
    try {
      parsePolicy(yaml, 'patterns.policy.yaml');
    } catch (error) {
      if (error instanceof PolicyError) return error;
      throw error;
    }
    throw new Error(`pattern ${pattern} loaded`);
  }

  it.each([
    ['foo(?=bar)', 'lookahead'],
    ['^(?!admin)', 'lookahead'],
    ['(?<=\\$)\\d+', 'lookbehind'],
    ['(?<!x)y', 'lookbehind'],
    ['(a)\\1', 'backreferences'],
    ['(?P<w>a)(?P=w)', 'backreferences'],
    ['(?<w>a)\\k<w>', 'backreferences'],
    ['a++', 'possessive'],
    ['(?>a|ab)c', 'atomic'],
  ])('%s: names the file, line, rule and says RE2 has no %s', (pattern, feature) => {
    const e = loadError(pattern);
    expect(e.file).toBe('patterns.policy.yaml');
    expect(e.line).toBe(8);
    expect(e.ruleId).toBe('picky');
    expect(e.fix).toContain(`RE2 does not support ${feature === 'possessive' ? 'atomic groups or possessive' : feature}`);
    expect(e.message).toContain('RE2 does not support');
  });

  it('other invalid patterns are refused with RE2 own explanation', () => {
    const e = loadError('(unclosed');
    expect(e.ruleId).toBe('picky');
    expect(e.message).toContain('invalid regular expression');
    expect(e.message).toContain('missing closing )');
  });

  it('a pattern given at run time that RE2 cannot run denies the call, naming the rule and why', () => {
    const policy = parsePolicy(
      dedent(`
        version: 1
        default: allow
        rules:
          - id: pattern-from-caller
            actions: ["note.write"]
            when: 'parameters.text.matches(parameters.pattern)'
            effect: allow
      `),
      'runtime.policy.yaml',
    );
    const d = evaluatePolicy(policy, input({ actionType: 'note.write', parameters: { text: 'abc', pattern: 'a(?=b)' } }), new UsageTracker());
    expect(d.decision).toBe('denied');
    expect(d.policyViolations[0]).toMatchObject({ code: 'condition_error', ruleId: 'pattern-from-caller' });
    expect(d.reason).toContain('runtime.policy.yaml:6');
    expect(d.reason).toContain('RE2 does not support');
  });
});

describe('risk detectors take time linear in the size of the arguments', () => {
  // Shapes that make a careless regex rescan the text from every position.
  const cases: Array<[string, (n: number) => string]> = [
    ['a long word before an @', (n) => 'a'.repeat(n) + '@'],
    ['a long domain that never ends in a TLD', (n) => 'a@' + 'b.'.repeat(n / 2)],
    ['many JWT-like headers joined by dashes', (n) => 'eyJ-'.repeat(n / 4)],
    ['rm followed by a long run of flags', (n) => 'rm -' + 'r'.repeat(n)],
    ['a long run of statement separators after UPDATE', (n) => 'update ' + ';'.repeat(n)],
    ['digits separated by spaces', (n) => '1 '.repeat(n / 2)],
    ['a PEM header with endless words', (n) => '-----BEGIN ' + 'AAAA '.repeat(n / 5)],
  ];

  it.each(cases)('%s', (_name, text) => {
    const detect = (n: number) => {
      const call = request({ parameters: { text: text(n) } });
      return () => detectArgumentRisks(call, []);
    };
    expect(growth(detect, 65_536)).toBeLessThan(MAX_RATIO);
  });

  it('and in the number of values', () => {
    const many = (n: number) => {
      const parameters: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) parameters[`k${i}`] = `value number ${i}`;
      const call = request({ parameters });
      return () => detectArgumentRisks(call, [] as RiskFactor[]);
    };
    expect(growth(many, 5_000)).toBeLessThan(MAX_RATIO);
  });
});

describe('a hostile call does not keep a real server from answering', () => {
  let server: ServerProcess | undefined;
  const inFlight = new AbortController();
  afterAll(async () => {
    inFlight.abort();
    await disposeServer(server);
  });

  const POLICY = `
version: 1
default: deny
rules:
  - id: csv-reads
    actions: ["storage.read"]
    resources: ["s3://*/*/*.csv"]
    effect: allow
  - id: words-only
    actions: ["note.write"]
    when: 'parameters.text.matches(r"^(\\w+\\s?)*$")'
    effect: allow
`;

  function evaluate(s: ServerProcess, actionType: string, resource: string, parameters: Record<string, unknown>): Promise<Response> {
    const agentId = 'hostile-agent';
    return fetch(`${s.url}/v1/actions/evaluate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.keys.agent.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ agentId, actionType, resource, parameters, digest: callDigest({ agentId, actionType, resource, parameters }) }),
      signal: inFlight.signal,
    });
  }

  it('/healthz answers while hostile evaluations are in flight, and they are decided', async () => {
    server = await startServerProcess({ policy: POLICY });
    const s = server;
    // The longest resource a call may name, all slashes (4.1 s each against a backtracking glob),
    // and a text that makes a backtracking `matches` run for longer than anyone would wait.
    const hostile = [
      ...Array.from({ length: 5 }, () => evaluate(s, 'storage.read', 's3://' + '/'.repeat(2043), {})),
      ...Array.from({ length: 5 }, () => evaluate(s, 'note.write', '', { text: 'a'.repeat(5_000) + '!' })),
    ];
    const health = await eventually(async () => {
      const response = await fetch(`${s.url}/healthz`, { signal: AbortSignal.timeout(2_000) }).catch(() => null);
      return response?.ok ? response : null;
    }, 15_000);
    expect(await health.json()).toEqual({ status: 'ok' });

    const answers = await Promise.all(hostile.map(async (r) => ({ status: (await r).status, body: (await (await r).json()) as { decision: string } })));
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body.decision).toBe('denied'); // neither rule applies: the default
    }
    // The same rules still allow what they describe.
    expect((await api(s, 'POST', '/v1/actions/evaluate', s.keys.agent, body('storage.read', 's3://bucket/2025/q3.csv', {}))).body.decision).toBe('allowed');
    expect((await api(s, 'POST', '/v1/actions/evaluate', s.keys.agent, body('note.write', '', { text: 'hello big world' }))).body.decision).toBe('allowed');
  }, 60_000);

  function body(actionType: string, resource: string, parameters: Record<string, unknown>) {
    const agentId = 'hostile-agent';
    return { agentId, actionType, resource, parameters, digest: callDigest({ agentId, actionType, resource, parameters }) };
  }
});
