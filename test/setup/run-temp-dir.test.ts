/**
 * The run's temp dir (test/setup/run-temp-dir.ts) on a real `vitest run`: what its tests make
 * under the system's temp dir is inside one directory, gone when the run ends.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';
import { runVitest } from './nested-run.js';

describe("the run's temp dir", () => {
  it("puts a test's temp dirs under one directory of the run and removes it after the last file", async () => {
    const record = path.join(tempDir(), 'record.json');
    const { code, output } = await runVitest('test/setup/fixtures/temp-run.config.ts', { TEMP_RECORD_FILE: record });
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
