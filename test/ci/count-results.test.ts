/**
 * CI's closing line: .ci/count-results.mjs sums the vitest JSON reports of both Node.js lines and
 * the failed steps into one "N passed, N failed" line, and exits non-zero when anything failed.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers.js';

let dir: string;
beforeAll(() => {
  dir = tempDir('ascend-ci-count-');
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A vitest JSON report with these counts and per-file results, written to `name`. */
function report(name: string, passed: number, failed: number, files: Array<{ status: string; tests: number }> = []): string {
  const file = path.join(dir, name);
  const testResults = files.map((f, i) => ({ name: `f${i}.test.ts`, status: f.status, assertionResults: Array.from({ length: f.tests }, () => ({ status: f.status })) }));
  fs.writeFileSync(file, JSON.stringify({ numPassedTests: passed, numFailedTests: failed, testResults }));
  return file;
}

function count(stepFailures: number, ...files: string[]) {
  const run = spawnSync(process.execPath, [path.join(ROOT, '.ci/count-results.mjs'), String(stepFailures), ...files], { encoding: 'utf8' });
  return { lastLine: run.stdout.trimEnd().split('\n').pop(), stdoutLines: run.stdout.trimEnd().split('\n').length, status: run.status, stderr: run.stderr };
}

describe('the closing line of CI', () => {
  it('sums both lines\' reports into one line and exits 0 when all passed', () => {
    const result = count(0, report('22.json', 500, 0, [{ status: 'passed', tests: 500 }]), report('24.json', 498, 0));
    expect(result.lastLine).toBe('998 passed, 0 failed');
    expect(result.stdoutLines).toBe(1);
    expect(result.status).toBe(0);
  });

  it('counts failed tests of either line and exits 1', () => {
    const result = count(0, report('a.json', 10, 0), report('b.json', 8, 2));
    expect(result.lastLine).toBe('18 passed, 2 failed');
    expect(result.status).toBe(1);
  });

  it('counts a test file that failed to load as one failure', () => {
    const result = count(0, report('load.json', 5, 0, [{ status: 'passed', tests: 5 }, { status: 'failed', tests: 0 }]));
    expect(result.lastLine).toBe('5 passed, 1 failed');
    expect(result.status).toBe(1);
  });

  it('counts failed steps, and a missing report adds nothing beyond its failed step', () => {
    const result = count(2, report('ok.json', 7, 0), path.join(dir, 'never-written.json'));
    expect(result.lastLine).toBe('7 passed, 2 failed');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('no vitest JSON report at');
  });
});
