/**
 * The compiled-policy cache (src/policy/cache.ts): a second load of the same text comes from the
 * cache and decides exactly as the parsed policy does; anything else (another text, another
 * package version, a damaged or unwritable cache, a policy that does not load) is a full parse.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parsePolicy, parsePolicyCases, runPolicyCases, STARTER_CASES_YAML, STARTER_POLICY_YAML } from '../../src/engine/index.js';
import { PolicyError } from '../../src/core/errors.js';
import { POLICY_CACHE_FILE, CompiledPolicyCache } from '../../src/policy/cache.js';
import { loadPolicyFile } from '../../src/policy/file.js';
import { tempDir, writePolicy } from '../helpers.js';
import { T0 } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function setUp(): { policyFile: string; cacheDir: string } {
  const dir = tempDir('ascend-policy-cache-');
  dirs.push(dir);
  return { policyFile: writePolicy(dir, STARTER_POLICY_YAML), cacheDir: path.join(dir, '.ascend') };
}

function cacheEntry(cacheDir: string): { format: number; packageVersion: string; form: { policyVersion: string; document: { rules: Array<Record<string, unknown>> } } } {
  return JSON.parse(fs.readFileSync(path.join(cacheDir, POLICY_CACHE_FILE), 'utf8'));
}

describe('the compiled-policy cache', () => {
  it('serves a second load of the same text, which decides every starter case as the parsed policy does', () => {
    const { policyFile, cacheDir } = setUp();
    const parsed = loadPolicyFile(policyFile, { cacheDir });
    expect(fs.existsSync(path.join(cacheDir, POLICY_CACHE_FILE))).toBe(true);
    const cached = new CompiledPolicyCache(cacheDir).get(fs.readFileSync(policyFile, 'utf8'), policyFile);
    expect(cached).toBeDefined();
    expect(cached!.policyVersion).toBe(parsed.policyVersion);
    expect(cached!.rules.map((r) => [r.id, r.line, r.conditionLine])).toEqual(parsed.rules.map((r) => [r.id, r.line, r.conditionLine]));

    const cases = parsePolicyCases(STARTER_CASES_YAML, 'ascend.cases.yaml');
    const fromCache = runPolicyCases(cached!, cases, T0);
    const fromText = runPolicyCases(parsed, cases, T0);
    expect(fromCache.every((r) => r.ok)).toBe(true);
    expect(fromCache.map((r) => [r.decision.decision, r.decision.matchedRules, r.decision.riskScore])).toEqual(
      fromText.map((r) => [r.decision.decision, r.decision.matchedRules, r.decision.riskScore]),
    );
  });

  it('a changed file is parsed again and replaces the entry: the old form never decides the new text', () => {
    const { policyFile, cacheDir } = setUp();
    loadPolicyFile(policyFile, { cacheDir });
    const stricter = STARTER_POLICY_YAML.replace('default: require_approval', 'default: deny');
    fs.writeFileSync(policyFile, stricter);
    const next = loadPolicyFile(policyFile, { cacheDir });
    expect(next.defaultEffect).toBe('deny');
    expect(next.policyVersion).toBe(parsePolicy(stricter, policyFile).policyVersion);
    expect(cacheEntry(cacheDir).form.policyVersion).toBe(next.policyVersion);
  });

  it('an entry made by another package version, or damaged, is a miss', () => {
    const { policyFile, cacheDir } = setUp();
    loadPolicyFile(policyFile, { cacheDir });
    const text = fs.readFileSync(policyFile, 'utf8');
    const file = path.join(cacheDir, POLICY_CACHE_FILE);
    const entry = cacheEntry(cacheDir);

    fs.writeFileSync(file, JSON.stringify({ ...entry, packageVersion: '0.0.0-other' }));
    expect(new CompiledPolicyCache(cacheDir).get(text, policyFile)).toBeUndefined();
    fs.writeFileSync(file, JSON.stringify(entry).slice(0, 100));
    expect(new CompiledPolicyCache(cacheDir).get(text, policyFile)).toBeUndefined();
    fs.writeFileSync(file, JSON.stringify({ ...entry, form: { ...entry.form, document: { rules: 'none' } } }));
    expect(new CompiledPolicyCache(cacheDir).get(text, policyFile)).toBeUndefined();
    // The load itself still works, and writes a good entry again.
    expect(loadPolicyFile(policyFile, { cacheDir }).rules.length).toBe(parsePolicy(text, policyFile).rules.length);
    expect(cacheEntry(cacheDir).packageVersion).toBe(entry.packageVersion);
  });

  it('a cache that cannot be written is skipped, not an error', () => {
    const { policyFile } = setUp();
    const blocked = path.join(path.dirname(policyFile), 'a-file-not-a-dir');
    fs.writeFileSync(blocked, '');
    expect(loadPolicyFile(policyFile, { cacheDir: blocked }).rules.length).toBeGreaterThan(0);
    expect(fs.readdirSync(path.dirname(policyFile)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('a policy that does not load is never cached: every load reports its file and line', () => {
    const { policyFile, cacheDir } = setUp();
    fs.writeFileSync(policyFile, 'version: 1\nrules:\n  - id: x\n    actions: ["*"]\n    effect: alow\n');
    for (let attempt = 0; attempt < 2; attempt++) {
      const error = (() => {
        try {
          loadPolicyFile(policyFile, { cacheDir });
        } catch (err) {
          return err;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(PolicyError);
      expect((error as PolicyError).message).toContain(`${policyFile}:5`);
    }
    expect(fs.existsSync(path.join(cacheDir, POLICY_CACHE_FILE))).toBe(false);
  });
});
