/**
 * Global setup of the whole run: no process a test started may outlive the run. Setup marks the
 * run (`LEAK_CHECK_RUN_ID`, inherited by vitest's workers and every child they spawn); teardown,
 * after the last test file, looks for the run's processes still alive, gives them a moment to
 * finish exiting, then prints the survivors, kills them and makes `vitest run` exit 1.
 *
 * Listed once, at the root of vitest.config.ts: every project inherits it, so the first project
 * to start does the work and the other copies do nothing.
 */
import { randomUUID } from 'node:crypto';
import { ROOT, sleep } from '../helpers.js';
import { RUN_MARKER_ENV, findLeakedProcesses, readProcess, type ProcessInfo, type RunIdentity } from './leaked-processes.js';

/** How long survivors get to finish exiting (a server sent SIGTERM in an afterAll, say). */
const GRACE_MS = 3000;
/** How long SIGKILLed survivors get to be gone. */
const KILL_WAIT_MS = 2000;

const STARTED = Symbol.for('ascend-sdk.test.no-leaked-processes');


/** Mark the run; returns the teardown that checks it (or nothing, when a copy already marked it). */
export default function setup(): (() => Promise<void>) | undefined {
  const globals = globalThis as { [STARTED]?: true };
  if (globals[STARTED]) return undefined;
  globals[STARTED] = true;
  const run: RunIdentity = { marker: randomUUID(), mainPid: process.pid, repoRoot: ROOT };
  process.env[RUN_MARKER_ENV] = run.marker;
  return () => failOnSurvivors(run);
}

async function failOnSurvivors(run: RunIdentity): Promise<void> {
  let leaked = findLeakedProcesses(run);
  for (const deadline = Date.now() + GRACE_MS; leaked.length > 0 && Date.now() < deadline; ) {
    await sleep(100);
    leaked = findLeakedProcesses(run);
  }
  if (leaked.length === 0) return;
  console.error(
    `\nFAILED: ${leaked.length} process(es) started by this test run were still running ${GRACE_MS} ms after the last test file; killing them:\n` +
      leaked.map((p) => `  pid ${p.pid}: ${p.command.slice(0, 400)}`).join('\n') +
      '\nEvery test must stop (and wait for) the processes it starts.\n',
  );
  for (const p of leaked) killIfSame(p);
  for (const deadline = Date.now() + KILL_WAIT_MS; leaked.some(isSameAlive) && Date.now() < deadline; ) await sleep(50);
  // A throw from a global teardown is only logged (vitest run still exits 0): set the code instead.
  process.exitCode = 1;
}

/** The process is still the one listed (same pid and start time) and not yet dead. */
function isSameAlive(p: ProcessInfo): boolean {
  const now = readProcess(p.pid);
  return now !== undefined && now.startTicks === p.startTicks && now.state !== 'Z';
}

function killIfSame(p: ProcessInfo): void {
  if (!isSameAlive(p)) return; // gone meanwhile, or the pid now belongs to someone else
  try {
    process.kill(p.pid, 'SIGKILL');
  } catch {
    // exited between the check and the kill
  }
}
