/** Shared test helpers: temp dirs, policy files, captured logs, real child processes. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** tsx's loader as a file URL: a bare `--import tsx` would resolve from the child's cwd. */
export const TSX_IMPORT = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

/** The `ascend` CLI's entry point (run from source through {@link TSX_IMPORT}), absolute: children may run in any dir. */
export const CLI_MAIN = path.join(ROOT, 'src/cli/main.ts');

/** A fresh temp dir. */
export function tempDir(prefix = 'ascend-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Write a policy file into `dir` and return its path. */
export function writePolicy(dir: string, yaml: string, name = 'ascend.policy.yaml'): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, yaml);
  return file;
}

/** A pino destination that keeps every line, for scanning. */
export function captureLogs(): { destination: { write(line: string): void }; lines: string[]; text(): string } {
  const lines: string[] = [];
  return {
    destination: { write: (line: string) => void lines.push(line) },
    lines,
    text: () => lines.join(''),
  };
}

/** Run `node --import tsx <script> ...args` as a real process; resolves with its exit and output. */
export function runNode(
  script: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX_IMPORT, path.resolve(ROOT, script), ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/**
 * Environment of a real `ascend` process: this one's, without the `ASCEND_*` variables that
 * would change what a command does (`ASCEND_DATA_DIR`, `ASCEND_DEBUG`), without colour, plus `extra`.
 */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.ASCEND_DATA_DIR;
  delete env.ASCEND_DEBUG;
  return { ...env, ...extra };
}

/** Run the real `ascend` CLI (from source) as a child process, in {@link cliEnv} plus `options.env`. */
export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return runNode(CLI_MAIN, args, { ...options, env: cliEnv(options.env) });
}

/**
 * Longest a test lets "a person's answer wakes the waiting agent" (or a live event) take: far
 * above the few hundred ms a loaded machine 4× slower than usual needs for a wake by
 * notification, far below the 5 s the original Python SDK polled at and the 25 s a long-poll
 * lasts. The speed itself (p95 ≤ 250 ms) is a benchmark budget (`npm run bench:server`), not a test.
 */
export const WOKEN_WITHIN_MS = 2500;

/**
 * The timers every wait here uses, taken when this module loads: a wait takes real time, and its
 * deadline passes in real time, even while a test fakes the clock (`vi.useFakeTimers`). The
 * `performance` of `node:perf_hooks` is never faked (vitest replaces only the global one).
 */
const realSetTimeout = globalThis.setTimeout;
const realNow = (): number => performance.now();

/**
 * Wait `ms` of real time. Only where a test must let real time pass in a process it does not
 * own (a clock in a child process, a cache age inside the store); waiting for an event is
 * {@link eventually}, and a clock of this process is faked (`vi.useFakeTimers`), not slept through.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => realSetTimeout(resolve, ms));
}

/** How {@link eventually} and {@link eventuallyPasses} wait. */
export interface WaitOptions {
  /** Give up after this long. Default 10 000 ms: generous, machines are slow and shared. */
  timeoutMs?: number;
  /** Pause between tries. Default 10 ms ({@link eventually}) or 25 ms ({@link eventuallyPasses}). */
  everyMs?: number;
  /** What {@link eventually}'s error says when the deadline passes, read then (so it may show the last state). */
  message?: () => string;
}

/** {@link WaitOptions} from either call style, with the defaults filled in. */
function waitOptions(options: number | WaitOptions | undefined, everyMs: number | undefined, defaultEveryMs: number): { timeoutMs: number; everyMs: number; message: (() => string) | undefined } {
  const given: WaitOptions = typeof options === 'number' ? { timeoutMs: options, everyMs } : (options ?? {});
  return { timeoutMs: given.timeoutMs ?? 10_000, everyMs: given.everyMs ?? defaultEveryMs, message: given.message };
}

/**
 * Retry `check` until it stops throwing (an `expect` that holds), or throw its last error after
 * the deadline (`options`: a timeout in ms, or {@link WaitOptions}; by default it tries every 25 ms).
 */
export async function eventuallyPasses(check: () => unknown, options?: number | WaitOptions): Promise<void> {
  const { timeoutMs, everyMs } = waitOptions(options, undefined, 25);
  const deadline = realNow() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (realNow() > deadline) throw err;
      await sleep(everyMs);
    }
  }
}

/**
 * Poll `fn` until it returns a truthy value, and resolve with it. An error `fn` throws ends the
 * wait at once (a condition that can no longer be met, say); when the deadline passes, the error
 * says `options.message` or that the condition was not met in time. Call it with a timeout and
 * an interval in ms (`eventually(fn, 20_000, 50)`) or with {@link WaitOptions}.
 */
export function eventually<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<NonNullable<T>>;
export function eventually<T>(fn: () => T | Promise<T>, timeoutMs?: number, everyMs?: number): Promise<NonNullable<T>>;
export async function eventually<T>(fn: () => T | Promise<T>, options?: number | WaitOptions, everyMsArg?: number): Promise<NonNullable<T>> {
  const { timeoutMs, everyMs, message } = waitOptions(options, everyMsArg, 10);
  const deadline = realNow() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value as NonNullable<T>;
    if (realNow() > deadline) throw new Error(message ? message() : `condition not met within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

/** The policy most client tests use. */
export const TEST_POLICY = `
version: 1
default: deny
approvalTimeoutSeconds: 60
rules:
  - id: reads
    actions: ["db.query"]
    when: 'parameters.sql.matches("(?i)^\\\\s*select\\\\b")'
    effect: allow
  - id: no-drops
    actions: ["db.*"]
    when: 'parameters.sql.matches("(?i)\\\\bdrop\\\\b")'
    effect: deny
    reason: Dropping tables is never allowed
  - id: small-transfers
    actions: ["payments.transfer"]
    when: "parameters.amount <= 1000"
    effect: allow
  - id: large-transfers
    actions: ["payments.transfer"]
    when: "parameters.amount > 1000"
    effect: require_approval
    approvers: ["finance"]
    reason: Large transfers need a person
`;

/** A small deterministic PRNG (mulberry32), so a failing random test can be replayed. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
