#!/usr/bin/env node
/**
 * Entry point of the `ascend` command: wires the real process into {@link runCli}.
 */
import { getEventListeners } from 'node:events';
import { enableCompileCache } from 'node:module';

// Node's on-disk code cache (in the OS temp dir, or $NODE_COMPILE_CACHE) for everything loaded
// from here on: the command starts faster from its second run. Enabled before the rest of the
// command is imported, which is why that import is dynamic.
enableCompileCache();
const { runCli } = await import('./run.js');

/** Conventional exit status after a signal: 128 + its number. */
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

const abort = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // A long-running command (watch, --follow) listens on the signal and stops cleanly, closing
    // the store. Anything else, or a second signal, ends at once: SQLite rolls back an
    // unfinished transaction, so nothing half-written survives.
    if (abort.signal.aborted || getEventListeners(abort.signal, 'abort').length === 0) {
      process.exit(SIGNAL_EXIT_CODES[signal]);
    }
    abort.abort();
  });
}
// `ascend audit export | head` closes the pipe early: that is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
  env: process.env,
  signal: abort.signal,
});
