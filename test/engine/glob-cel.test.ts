import { describe, expect, it } from 'vitest';
import { celRegex, compileCondition, compileGlob, globProblem, GlobSet, matchesAnyGlob } from '../../src/engine/index.js';
import { rewriteMatches } from '../../src/engine/cel.js';
import { prng } from '../helpers.js';

describe('globs', () => {
  it.each([
    ['*', 'anything.at/all', true],
    ['file.*', 'file.read', true],
    ['file.*', 'file.', true],
    ['file.*', 'files.read', false],
    ['*.read', 'crm.contacts.read', true],
    ['*.read', 'file.reader', false],
    ['db.??', 'db.io', true],
    ['db.??', 'db.iox', false],
    ['a*b*c', 'aXXbYYc', true],
    ['a*b*c', 'aXXcYYb', false],
    ['exact', 'exact', true],
    ['exact', 'exactly', false],
    ['s3://bucket/*', 's3://bucket/a/b', true],
    ['a.b', 'aXb', false],
    ['\\*', '*', true],
    ['\\*', 'x', false],
    ['(x)+', '(x)+', true],
    ['*', 'line1\nline2', true],
    ['a*', 'a\nb', true],
  ])('%s vs %j → %s', (pattern, value, expected) => {
    expect(compileGlob(pattern).test(value)).toBe(expected);
  });

  it('refuses brackets, braces, empty and padded patterns with a fix', () => {
    expect(globProblem('file.[rw]')?.fix).toContain('escape');
    expect(globProblem('{a,b}')).not.toBeNull();
    expect(globProblem('')?.message).toBe('empty glob');
    expect(globProblem(' a')?.fix).toBe('write "a"');
    expect(globProblem('a\\')).not.toBeNull();
    expect(globProblem('ok.*')).toBeNull();
    expect(() => compileGlob('[')).toThrow(/not supported/);
  });

  it('long patterns (several words of automaton states) and non-ASCII characters match as defined', () => {
    // Reference: whether value[i..] matches pattern tokens[j..], by dynamic programming.
    const reference = (tokens: string[], value: string): boolean => {
      const memo = new Map<number, boolean>();
      const at = (j: number, i: number): boolean => {
        const key = j * (value.length + 1) + i;
        let r = memo.get(key);
        if (r !== undefined) return r;
        const t = tokens[j];
        if (t === undefined) r = i === value.length;
        else if (t === '*') r = at(j + 1, i) || (i < value.length && at(j, i + 1));
        else r = i < value.length && (t === '?' || t === value[i]) && at(j + 1, i + 1);
        memo.set(key, r);
        return r;
      };
      return at(0, 0);
    };
    const random = prng(13);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
    const letters = ['a', 'b', 'é', '/'];
    let matched = 0;
    for (let round = 0; round < 400; round++) {
      const tokens = Array.from({ length: 20 + Math.floor(random() * 80) }, () => pick(['*', '?', ...letters, ...letters]));
      // Half the values are built from the pattern, so that many match.
      const value =
        round % 2 === 0
          ? tokens.map((t) => (t === '*' ? pick(letters).repeat(Math.floor(random() * 3)) : t === '?' ? pick(letters) : t)).join('')
          : Array.from({ length: Math.floor(random() * 120) }, () => pick(letters)).join('');
      const expected = reference(tokens, value);
      if (expected) matched++;
      expect(compileGlob(tokens.join('')).test(value), `${tokens.join('')} vs ${value}`).toBe(expected);
    }
    expect(matched).toBeGreaterThan(100);
  });

  it('GlobSet matches any of its patterns', () => {
    const set = new GlobSet(['a.*', 'b.read']);
    expect(set.test('a.x')).toBe(true);
    expect(set.test('b.read')).toBe(true);
    expect(set.test('b.write')).toBe(false);
    expect(new GlobSet(['x', '*']).matchesAll).toBe(true);
  });

  it('matchesAnyGlob: invalid data patterns match nothing', () => {
    expect(matchesAnyGlob(['[bad', 'db.*'], 'db.query')).toBe(true);
    expect(matchesAnyGlob(['[bad'], '[bad')).toBe(false);
  });
});

describe('CEL conditions', () => {
  const vars = (parameters: Record<string, unknown>) => ({ parameters, resource: 'r', action: 'a', agent: { id: 'x', type: 't', metadata: {} }, context: {} });

  it('rewrites matches outside strings and comments only', () => {
    expect(rewriteMatches('a.matches("x")')).toBe('a.ascendMatches("x")');
    expect(rewriteMatches('a . matches ("x")')).toBe('a . ascendMatches ("x")');
    expect(rewriteMatches('"s.matches(" == a')).toBe('"s.matches(" == a');
    expect(rewriteMatches("r'.matches(' == a")).toBe("r'.matches(' == a");
    expect(rewriteMatches('a // .matches(\n == b')).toBe('a // .matches(\n == b');
    expect(rewriteMatches('a.matchesAll("x")')).toBe('a.matchesAll("x")');
    expect(rewriteMatches('"\\".matches(" + a.matches("y")')).toBe('"\\".matches(" + a.ascendMatches("y")');
  });

  it('(?i), (?s), (?m) flags and (?P<name>) groups', () => {
    expect(celRegex('(?i)^select').test('SELECT')).toBe(true);
    expect(celRegex('^select').test('SELECT')).toBe(false);
    expect(celRegex('(?is)a.b').test('A\nB')).toBe(true);
    expect(celRegex('a.b').test('a\nb')).toBe(false);
    expect(celRegex('(?m)^b$').test('a\nb\nc')).toBe(true);
    expect(celRegex('^b$').test('a\nb\nc')).toBe(false);
    const named = celRegex('(?P<word>\\w+)').matcher('hi');
    expect(named.find() && named.group('word')).toBe('hi');
    expect(celRegex('(?i)x')).toBe(celRegex('(?i)x'));
    expect(() => celRegex('(')).toThrow();
  });

  it('matches inside macros is rewritten too', () => {
    const c = compileCondition('parameters.tags.exists(t, t.matches("(?i)^urgent$"))');
    expect(c.test(vars({ tags: ['x', 'URGENT'] }))).toBe(true);
    expect(c.test(vars({ tags: ['x'] }))).toBe(false);
  });

  it('a regex given at run time that is invalid errors (and so denies)', () => {
    const c = compileCondition('parameters.text.matches(parameters.pattern)');
    expect(c.test(vars({ text: 'abc', pattern: '(?i)B' }))).toBe(true);
    expect(() => c.test(vars({ text: 'abc', pattern: '(' }))).toThrow();
  });

  it('ints and doubles compare', () => {
    const c = compileCondition('parameters.amount > 10000');
    expect(c.test(vars({ amount: 10000.5 }))).toBe(true);
    expect(c.test(vars({ amount: 10000 }))).toBe(false);
  });
});
