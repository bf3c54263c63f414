/**
 * Global setup of the whole run: every temporary directory the run makes lives under one
 * directory of its own, removed after the last test file. Tests make theirs under `os.tmpdir()`
 * (`tempDir()` in test/helpers.ts, and the processes they start), so pointing `TMPDIR` at the
 * run's directory here (inherited by vitest's workers and every child they spawn) is enough.
 * Without it each run left a few hundred directories, about 40 MB, in the system's temp dir.
 *
 * Listed once, at the root of vitest.config.ts: every project inherits it, so the first project
 * to start does the work and the other copies do nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const STARTED = Symbol.for('ascend-sdk.test.run-temp-dir');

/** Make the run's temp dir and point TMPDIR at it; returns the teardown that removes it (or nothing, when a copy already did). */
export default function setup(): (() => void) | undefined {
  const globals = globalThis as { [STARTED]?: true };
  if (globals[STARTED]) return undefined;
  globals[STARTED] = true;
  const previous = process.env.TMPDIR;
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ascend-test-run-'));
  process.env.TMPDIR = runDir;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    // A process that is still exiting may be writing a file into it: retry, then leave it.
    fs.rmSync(runDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  };
}
