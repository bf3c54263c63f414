/**
 * When better-sqlite3's compiled binding is missing (installed with scripts off) or was built for
 * another Node.js (versions switched after the install), opening a SQLite store fails with one
 * NativeBindingError that names the Node.js and ABI and says how to fix it — not the loader's
 * list of thirteen probed paths. Both failures are real: a copy of the package without its build,
 * and the repository's build loaded by a Node.js of another major version.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NativeBindingError, StoreError } from '../../src/errors.js';
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

/** better-sqlite3 as `npm install --ignore-scripts` leaves it: its files and dependencies, no build. */
function unbuiltDriverCopy(): string {
  const modules = path.join(work, 'unbuilt', 'node_modules');
  const from = path.dirname(driverRoot());
  for (const name of ['better-sqlite3', 'bindings', 'file-uri-to-path']) {
    fs.cpSync(path.join(from, name), path.join(modules, name), {
      recursive: true,
      filter: (source) => !source.startsWith(path.join(from, 'better-sqlite3', 'build')) && !source.startsWith(path.join(from, 'better-sqlite3', 'deps')),
    });
  }
  return path.join(modules, 'better-sqlite3');
}

describe('a missing native binding', () => {
  it('is one StoreError naming the Node.js, its ABI and the fix, with the loader error as cause', () => {
    const root = unbuiltDriverCopy();
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
    expect(err.message).toContain(`not built in ${root} for Node.js ${process.version} (ABI ${process.versions.modules}, ${process.platform}-${process.arch})`);
    expect(err.message).toContain('npm rebuild better-sqlite3');
    expect(err.message).toContain('python3, make and a C++ compiler');
    // What better-sqlite3's loader said is kept as the cause, not shown.
    expect(String((err.cause as Error).message)).toContain('Could not locate the bindings file');
    expect(err.details).toMatchObject({ problem: 'missing', nodeVersion: process.version, nodeAbi: process.versions.modules, packageRoot: root });
  });

  it('does not stop the built binding of this repository from loading', async () => {
    expect(loadNativeBinding()).toMatch(/better_sqlite3\.node$/);
    const store = openSqliteStore(path.join(work, 'ok', 'ascend.db'));
    await store.close();
  });
});

describe('a binding built for another Node.js', () => {
  /** A Node.js of another major line than this one, from the npm registry (cached in .ci/tools). */
  let otherNode: string;
  beforeAll(() => {
    const major = process.versions.node.startsWith('22.') ? '24' : '22';
    const provided = spawnSync('bash', [path.join(ROOT, '.ci/provide-node.sh'), major], { encoding: 'utf8', timeout: 600_000 });
    if (provided.status !== 0) throw new Error(`could not provide Node.js ${major}: ${provided.stderr}`);
    otherNode = path.join(provided.stdout.trim(), 'bin', 'node');
  }, 660_000);

  it('is one StoreError naming both ABIs and the fix, when a store opens', () => {
    const script = path.join(work, 'open-store.ts');
    fs.writeFileSync(
      script,
      `import { openSqliteStore } from ${JSON.stringify(path.join(ROOT, 'src/index.ts'))};
try {
  openSqliteStore(${JSON.stringify(path.join(work, 'other', 'ascend.db'))});
  console.log(JSON.stringify({ opened: true }));
} catch (err) {
  console.log(JSON.stringify({ name: err.name, code: err.code, problem: err.problem, message: err.message, abi: process.versions.modules, version: process.version }));
}
`,
    );
    const run = spawnSync(otherNode, ['--import', TSX_IMPORT, script], { cwd: work, encoding: 'utf8', timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as Record<string, string>;
    expect(result.opened).toBeUndefined();
    expect(result.name).toBe('NativeBindingError');
    expect(result.code).toBe('native_binding_unavailable');
    expect(result.problem).toBe('abi_mismatch');
    expect(result.message).not.toContain('\n');
    expect(result.message).toContain(`was built for ABI ${process.versions.modules}, not for Node.js ${result.version} (ABI ${result.abi},`);
    expect(result.message).toContain('npm rebuild better-sqlite3');
  });
});
