/**
 * The run's temp dir (test/setup/run-temp-dir.ts) on a real `vitest run`: what its tests make
 * under the system's temp dir is inside one directory, gone when the run ends.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers.js';

describe("the run's temp dir", () => {
  it("puts a test's temp dirs under one directory of the run and removes it after the last file", async () => {
    const record = path.join(tempDir(), 'record.json');
    const child = spawn(process.execPath, [path.join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'test/setup/fixtures/temp-run.config.ts'], {
      cwd: ROOT,
      env: { ...process.env, TEMP_RECORD_FILE: record, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('close', r));
    expect(code, output).toBe(0);
    const { dir, tmpdir } = JSON.parse(fs.readFileSync(record, 'utf8')) as { dir: string; tmpdir: string };
    // The worker's temp dir was the run's own, a new one under the temp dir the run was given.
    expect(path.dirname(tmpdir)).toBe(os.tmpdir());
    expect(path.basename(tmpdir)).toMatch(/^ascend-test-run-/);
    expect(path.dirname(dir)).toBe(tmpdir);
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.existsSync(tmpdir)).toBe(false);
  }, 60_000);
});
