import { describe, expect, it } from 'vitest';
import { celRegExp, compileCondition, compileGlob, globProblem, GlobSet, matchesAnyGlob } from '../../src/engine/index.js';
import { rewriteMatches } from '../../src/engine/cel.js';

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
    expect(celRegExp('(?i)^select').test('SELECT')).toBe(true);
    expect(celRegExp('^select').test('SELECT')).toBe(false);
    expect(celRegExp('(?is)a.b').test('A\nB')).toBe(true);
    expect(celRegExp('(?P<word>\\w+)').exec('hi')?.groups?.word).toBe('hi');
    expect(celRegExp('(?i)x')).toBe(celRegExp('(?i)x'));
    expect(() => celRegExp('(')).toThrow();
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
