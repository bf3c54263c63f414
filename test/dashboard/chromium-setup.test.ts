/**
 * `npm test` brings its own browser: the dashboard project's global setup finds Chromium
 * (ASCEND_TEST_CHROMIUM, the usual paths, PATH) or installs Debian's package, and otherwise stops
 * the run with one line saying what to install — it never skips the dashboard tests.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers.js';
import { CHROMIUM_ENV, findChromium, NoChromiumError, provideChromium } from './chromium-setup.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** An executable file named `name` in a fresh temp dir. */
function executable(name: string): string {
  const dir = tempDir('ascend-chromium-');
  dirs.push(dir);
  const file = path.join(dir, name);
  fs.writeFileSync(file, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  return file;
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('finding a browser', () => {
  it('takes ASCEND_TEST_CHROMIUM before the usual paths', () => {
    const named = executable('my-chrome');
    const usual = executable('chromium');
    expect(findChromium({ env: { [CHROMIUM_ENV]: named }, usualPaths: [usual] })).toBe(named);
    expect(findChromium({ env: {}, usualPaths: [usual] })).toBe(usual);
  });

  it('finds chromium by name on PATH when no usual path has it', () => {
    const onPath = executable('chromium');
    expect(findChromium({ env: { PATH: path.dirname(onPath) }, usualPaths: [] })).toBe(onPath);
    expect(findChromium({ env: { PATH: '' }, usualPaths: [] })).toBeUndefined();
  });

  it('refuses an ASCEND_TEST_CHROMIUM that names no executable, in one line, instead of looking elsewhere', () => {
    const usual = executable('chromium');
    const err = thrown(() => findChromium({ env: { [CHROMIUM_ENV]: '/nonexistent/chrome' }, usualPaths: [usual] }));
    expect(err).toBeInstanceOf(NoChromiumError);
    expect(err.message).not.toContain('\n');
    expect(err.message).toContain('ASCEND_TEST_CHROMIUM=/nonexistent/chrome');
    expect(err.message).toContain('apt-get install -y chromium');
  });
});

describe('when no browser can be found or installed', () => {
  it('stops with one line that says what to install and why installing failed', () => {
    let installs = 0;
    const err = thrown(() =>
      provideChromium({
        env: { PATH: '' },
        usualPaths: [],
        install: () => {
          installs += 1;
          return 'apt-get install -y chromium failed: E: Unable to locate package chromium';
        },
      }),
    );
    expect(installs).toBe(1);
    expect(err).toBeInstanceOf(NoChromiumError);
    expect(err.message).not.toContain('\n');
    expect(err.message).toContain('Unable to locate package chromium');
    expect(err.message).toContain('install Chromium (Debian/Ubuntu: `apt-get install -y chromium`');
  });

  it('uses what the install step put on the usual paths', () => {
    const dir = tempDir('ascend-chromium-');
    dirs.push(dir);
    const target = path.join(dir, 'chromium');
    const found = provideChromium({
      env: { PATH: '' },
      usualPaths: [target],
      install: () => {
        fs.writeFileSync(target, '#!/bin/sh\n', { mode: 0o755 });
        return undefined;
      },
    });
    expect(found).toBe(target);
  });

  it('makes a real vitest run of the dashboard tests fail with that line, running none of them', () => {
    const run = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--project', 'dashboard', 'test/dashboard/dashboard.test.ts'], {
      cwd: ROOT,
      env: { ...process.env, [CHROMIUM_ENV]: '/nonexistent/chrome', CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    const output = `${run.stdout}\n${run.stderr}`;
    expect(run.status).not.toBe(0);
    expect(output).toContain('NoChromiumError: ASCEND_TEST_CHROMIUM=/nonexistent/chrome is not an executable file');
    expect(output).not.toMatch(/Tests\s+\d+ passed/);
  }, 150_000);
});
