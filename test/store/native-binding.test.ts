/**
 * When the SQLite driver cannot run, opening a store fails with one NativeBindingError that says
 * why and what fixes it — never a crash and never the loader's list of probed paths. Both
 * failures are real: a copy of better-sqlite3 without any binary, and a real Node.js 20 (from the
 * npm registry, cached in .ci/tools), on which better-sqlite3 13's binary would abort the process.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NativeBindingError, StoreError } from '../../src/core/errors.js';
import { openSqliteStore } from '../../src/index.js';
import { driverRoot, loadNativeBinding } from '../../src/store/sqlite-driver.js';
import { ROOT, TSX_IMPORT } from '../helpers.js';

let work: string;
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ascend-binding-'));
});
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

/** better-sqlite3 on a platform it has no prebuilt binary for: its files, no `prebuilds/`, no `build/`. */
function driverWithoutBinary(): string {
  const target = path.join(work, 'nobinary', 'node_modules', 'better-sqlite3');
  const from = driverRoot();
  fs.cpSync(from, target, {
    recursive: true,
    filter: (source) => !['prebuilds', 'build', 'deps'].some((dir) => source.startsWith(path.join(from, dir))),
  });
  return target;
}

describe('a missing native binding', () => {
  it('is one StoreError naming the Node.js, the platform and the fix', () => {
    const root = driverWithoutBinary();
    let caught: unknown;
    try {
      loadNativeBinding(root);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(NativeBindingError);
    expect(caught).toBeInstanceOf(StoreError);
    const err = caught as NativeBindingError;
    expect(err.code).toBe('native_binding_unavailable');
    expect(err.problem).toBe('missing');
    expect(err.message).not.toContain('\n');
    expect(err.message).toContain(`better-sqlite3 in ${root} has no native binding for Node.js ${process.version}`);
    expect(err.message).toContain('npm explore better-sqlite3 -- npm run build-release');
    expect(err.message).toContain('python3, make and a C++ compiler');
    expect(err.details).toMatchObject({ problem: 'missing', nodeVersion: process.version, packageRoot: root });
  });

  it("does not stop this repository's binding from loading", async () => {
    expect(loadNativeBinding()).toMatch(/\.node$/);
    const store = openSqliteStore(path.join(work, 'ok', 'ascend.db'));
    await store.close();
  });

  it('refuses a Node.js older than 22 by its version, before loading anything', () => {
    let caught: unknown;
    try {
      loadNativeBinding(driverWithoutBinary(), 'v20.20.2');
    } catch (err) {
      caught = err;
    }
    expect((caught as NativeBindingError).problem).toBe('unsupported_node');
  });
});

describe('on a real Node.js 20', () => {
  let node20: string;
  beforeAll(() => {
    const provided = spawnSync('bash', [path.join(ROOT, '.ci/provide-node.sh'), '20'], { encoding: 'utf8', timeout: 600_000 });
    if (provided.status !== 0) throw new Error(`could not provide Node.js 20: ${provided.stderr}`);
    node20 = path.join(provided.stdout.trim(), 'bin', 'node');
  }, 660_000);

  it('opening a store is one NativeBindingError that says to use Node.js 22 or 24, and the process carries on', () => {
    const script = path.join(work, 'open-store.ts');
    fs.writeFileSync(
      script,
      `import { openSqliteStore } from ${JSON.stringify(path.join(ROOT, 'src/index.ts'))};
try {
  openSqliteStore(${JSON.stringify(path.join(work, 'old', 'ascend.db'))});
  console.log(JSON.stringify({ opened: true }));
} catch (err) {
  console.log(JSON.stringify({ name: err.name, code: err.code, problem: err.problem, message: err.message, version: process.version }));
}
`,
    );
    const run = spawnSync(node20, ['--import', TSX_IMPORT, script], { cwd: work, encoding: 'utf8', timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0); // not aborted (SIGABRT) nor crashed
    const result = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as Record<string, string>;
    expect(result.version).toMatch(/^v20\./);
    expect(result.opened).toBeUndefined();
    expect(result.name).toBe('NativeBindingError');
    expect(result.problem).toBe('unsupported_node');
    expect(result.message).not.toContain('\n');
    expect(result.message).toContain('needs Node.js 22 or later');
    expect(result.message).toContain('npm install node@24');
  });
});
