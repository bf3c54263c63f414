/**
 * Promise: logging never blocks or hangs a process. When stderr stops draining (a pipe nobody
 * reads) or breaks (its reader is gone: EPIPE), log lines are dropped and counted
 * (`ascend_log_lines_dropped_total` on /metrics), the server keeps answering, and SIGTERM still
 * ends it promptly. An agent process using the client is not held up by its log sink either.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_MAIN, ROOT, TEST_POLICY, TSX_IMPORT, eventually, tempDir, writePolicy } from '../helpers.js';

/** Generous: the server needs well under a second to stop; a loaded machine may be slow. */
const EXIT_WITHIN_MS = 15_000;

/** A real pipe (a FIFO, 64 KiB) whose read end this test holds and never reads. */
interface StderrPipe {
  /** The write end, for the child's stderr. */
  writeFd: number;
  /** Close the read end: the child's next write fails with EPIPE. */
  closeReader(): void;
  close(): void;
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function stderrPipe(dir: string): StderrPipe {
  const fifo = path.join(dir, 'stderr.fifo');
  execFileSync('mkfifo', [fifo]);
  let readFd: number | undefined = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  let writeFd: number | undefined = fs.openSync(fifo, fs.constants.O_WRONLY);
  const pipe: StderrPipe = {
    writeFd,
    closeReader() {
      if (readFd !== undefined) fs.closeSync(readFd);
      readFd = undefined;
    },
    close() {
      pipe.closeReader();
      if (writeFd !== undefined) fs.closeSync(writeFd);
      writeFd = undefined;
    },
  };
  cleanups.push(() => pipe.close());
  return pipe;
}

/** Spawn a node process (through tsx) with stdout piped and the given stderr; killed after the test if still running. */
function spawnTracked(args: string[], stderr: number | 'pipe', options: { cwd: string; env?: Record<string, string> }): ChildProcess {
  const child = spawn(process.execPath, ['--import', TSX_IMPORT, ...args], {
    cwd: options.cwd,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', stderr],
  });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

function exited(child: ChildProcess, withinMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'still running'> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve({ code: child.exitCode, signal: child.signalCode });
    const timer = setTimeout(() => resolve('still running'), withinMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

function stdoutOf(child: ChildProcess): { text(): string } {
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  return { text: () => text };
}

/** The first match of `pattern` in what the child printed; fails as soon as the child has ended without it. */
function untilStdout(child: ChildProcess, out: { text(): string }, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  return eventually(
    () => {
      const match = pattern.exec(out.text());
      if (match) return match;
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`process ended (${child.exitCode ?? child.signalCode}) before printing ${pattern}: ${out.text()}`);
      return undefined;
    },
    { timeoutMs, everyMs: 20, message: () => `no ${pattern} within ${timeoutMs} ms: ${out.text()}` },
  );
}

/** `ascend serve` on a fresh SQLite database, /metrics public, stderr on `pipe`. */
async function startServe(pipe: StderrPipe, dir: string): Promise<{ child: ChildProcess; url: string }> {
  const policy = writePolicy(dir, TEST_POLICY);
  const child = spawnTracked(
    [CLI_MAIN, 'serve', '--db', `sqlite:${path.join(dir, 'ascend.db')}`, '--policy', policy, '--port', '0', '--public-metrics', '--log-level', 'debug'],
    pipe.writeFd,
    { cwd: dir },
  );
  const out = stdoutOf(child);
  const match = await untilStdout(child, out, /listening on (http:\/\/\S+)/);
  return { child, url: match[1]! };
}

async function droppedLines(url: string): Promise<number> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const match = /^ascend_log_lines_dropped_total (\d+)$/m.exec(text);
  return match ? Number(match[1]) : -1;
}

/** `count` unauthenticated requests, `parallel` at a time: each is refused (401) and logged. */
async function refusedRequests(url: string, count: number, parallel = 8): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      const r = await fetch(`${url}/v1/actions/evaluate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(r.status).toBe(401);
      await r.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

function newDir(): string {
  const dir = tempDir('ascend-log-sink-');
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('logging never stalls the server', () => {
  it('a server whose stderr nobody reads keeps answering, drops and counts log lines, and exits promptly on SIGTERM', async () => {
    const dir = newDir();
    const pipe = stderrPipe(dir);
    const { child, url } = await startServe(pipe, dir);
    // Far more log than the pipe (64 KiB) and the sink's buffer hold: refused requests, each
    // logged, until the server reports lines dropped (bounded by a request count, not by time).
    let dropped = await droppedLines(url);
    for (let batch = 0; batch < 40 && dropped <= 0; batch++) {
      await refusedRequests(url, 400);
      dropped = await droppedLines(url);
    }
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    child.kill('SIGTERM');
    expect(await exited(child, EXIT_WITHIN_MS)).toEqual({ code: 0, signal: null });
    expect(dropped).toBeGreaterThan(0);
  }, 180_000);

  it('a server whose stderr reader is gone (EPIPE) keeps answering, counts every lost line, and exits promptly on SIGTERM', async () => {
    const dir = newDir();
    const pipe = stderrPipe(dir);
    const { child, url } = await startServe(pipe, dir);
    pipe.closeReader();
    const before = Math.max(0, await droppedLines(url));
    await refusedRequests(url, 50);
    const after = await droppedLines(url);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    child.kill('SIGTERM');
    expect(await exited(child, EXIT_WITHIN_MS)).toEqual({ code: 0, signal: null });
    expect(after).toBeGreaterThanOrEqual(before + 50);
  }, 120_000);

  const agentCases = [
    { sink: 'a pipe nobody reads, shared with a child it started', stderr: 'fifo', env: { SPAWN_SHARING_STDERR: '1' } },
    { sink: 'a pipe whose reader is gone', stderr: 'fifo-closed', env: {} },
    { sink: 'a socket nobody reads, shared with a child it started', stderr: 'socket', env: { SPAWN_SHARING_STDERR: '1' } },
  ] as const;
  for (const { sink, stderr, env } of agentCases) {
    it(`an agent process logging through the client to ${sink} finishes its work and exits by itself`, async () => {
      const dir = newDir();
      const args = [path.join(ROOT, 'test/adversarial/fixtures/chatty-agent.ts')];
      const options = { cwd: dir, env: { CALLS: '100', LINES: '8000', ...env } };
      let child: ChildProcess;
      if (stderr === 'socket') {
        // Node's 'pipe' is a socket pair; its stream here is never consumed, so it stops reading.
        child = spawnTracked(args, 'pipe', options);
        child.stderr!.pause();
      } else {
        const pipe = stderrPipe(dir);
        if (stderr === 'fifo-closed') pipe.closeReader();
        child = spawnTracked(args, pipe.writeFd, options);
      }
      const out = stdoutOf(child);
      const done = await untilStdout(child, out, /^(\{.*\})$/m, 120_000);
      const report = JSON.parse(done[1]!) as { governed: number; dropped: number; dir: string };
      cleanups.push(() => fs.rmSync(report.dir, { recursive: true, force: true }));
      expect(report.governed).toBe(100);
      expect(report.dropped).toBeGreaterThan(0);
      expect(await exited(child, EXIT_WITHIN_MS)).toEqual({ code: 0, signal: null });
    }, 180_000);
  }
});
