/** Shared test helpers: temp dirs, policy files, captured logs, real child processes. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** tsx's loader as a file URL: a bare `--import tsx` would resolve from the child's cwd. */
export const TSX_IMPORT = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

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

/** Run the real `ascend` CLI (from source) as a child process. */
export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return runNode('src/cli/main.ts', args, options);
}

/**
 * Longest a test lets "a person's answer wakes the waiting agent" (or a live event) take: far
 * above the few hundred ms a loaded machine 4× slower than usual needs for a wake by
 * notification, far below the 5 s the original Python SDK polled at and the 25 s a long-poll
 * lasts. The speed itself (p95 ≤ 250 ms) is a benchmark budget (`npm run bench:server`), not a test.
 */
export const WOKEN_WITHIN_MS = 2500;

/** Wait `ms` (only where a test must let time pass: waiting for an event is `eventually`). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Retry `check` until it stops throwing (an `expect` that holds), or throw its last error after `timeoutMs`. */
export async function eventuallyPasses(check: () => unknown, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(25);
    }
  }
}

/** Poll `fn` until it returns a truthy value or `timeoutMs` passes (generous: machines are slow and shared). */
export async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 10): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
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
