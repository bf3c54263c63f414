/**
 * The leak check of the test run (test/setup/no-leaked-processes.ts) on real processes: which
 * processes it takes for the run's, and a whole `vitest run` that leaves one behind failing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, eventually, tempDir } from '../helpers.js';
import { RUN_MARKER_ENV, findLeakedProcesses, readProcess } from './leaked-processes.js';
import { runVitest } from './nested-run.js';

const started: number[] = [];
afterEach(async () => {
  const pids = started.splice(0);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await eventually(() => !pids.some(alive), 10_000);
});

/** Alive and not a zombie. */
function alive(pid: number): boolean {
  const p = readProcess(pid);
  return p !== undefined && p.state !== 'Z';
}

/** Start `command`; its first line of output, if it prints one, is a pid it started. */
function start(command: string, args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; printedPid: Promise<number> } {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'ignore'] });
  started.push(child.pid!);
  let out = '';
  const printedPid = new Promise<number>((resolve) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = /^(\d+)\n/.exec(out);
      if (line) {
        started.push(Number(line[1]));
        resolve(Number(line[1]));
      }
    });
  });
  return { child, printedPid };
}

const pids = (run: { marker: string; mainPid: number }) => findLeakedProcesses({ ...run, repoRoot: ROOT }).map((p) => p.pid);

describe('finding the processes a test run left running', () => {
  it('lists a process started with the run marker, with its command line, until it has exited', async () => {
    const run = { marker: randomUUID(), mainPid: process.pid };
    const { child } = start('sleep', ['300'], { ...process.env, [RUN_MARKER_ENV]: run.marker });
    await eventually(() => pids(run).includes(child.pid!));
    expect(findLeakedProcesses({ ...run, repoRoot: ROOT }).find((p) => p.pid === child.pid)?.command).toBe('sleep 300');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(pids(run)).not.toContain(child.pid);
  });

  it("lists a marked process's children even when they were started with an empty environment", async () => {
    const run = { marker: randomUUID(), mainPid: process.pid };
    const { child, printedPid } = start('sh', ['-c', 'env -i sleep 300 & echo $!; wait'], { ...process.env, [RUN_MARKER_ENV]: run.marker });
    const grandchild = await printedPid;
    expect(pids(run)).toEqual(expect.arrayContaining([child.pid, grandchild]));
  });

  it("never lists the run's main process or its ancestors, nor another run's processes", async () => {
    const marker = randomUUID();
    // A marked process whose child plays the run's main process: the parent is its ancestor.
    const { child, printedPid } = start('sh', ['-c', 'sleep 300 & echo $!; wait'], { ...process.env, [RUN_MARKER_ENV]: marker });
    const main = await printedPid;
    expect(pids({ marker, mainPid: main })).not.toContain(child.pid);
    expect(pids({ marker, mainPid: main })).not.toContain(main);
    expect(pids({ marker: randomUUID(), mainPid: process.pid })).not.toContain(child.pid);
  });

  it("lists an orphan of the run's process group that names the repository, and nothing still attached to a parent there", async () => {
    const run = { marker: randomUUID(), mainPid: process.pid };
    const clean = { PATH: process.env.PATH };
    const idle = (...args: string[]) => [process.execPath, '-e', 'setTimeout(() => {}, 300000)', ...args].map((a) => `'${a}'`).join(' ');
    // Each shell exits at once: the process it started is re-parented out of this process group.
    const orphan = start('sh', ['-c', `${idle(ROOT)} >/dev/null & echo $!`], clean);
    // Not `idle()`: in CI the Node.js binary itself lives under the repository (.ci/tools).
    const foreign = start('sh', ['-c', `sleep 300 >/dev/null & echo $!`], clean);
    const attached = start(process.execPath, ['-e', 'setTimeout(() => {}, 300000)', ROOT], clean);
    const orphanPid = await orphan.printedPid;
    const foreignPid = await foreign.printedPid;
    await eventually(() => readProcess(orphanPid)?.ppid !== orphan.child.pid && readProcess(foreignPid)?.ppid !== foreign.child.pid);
    expect(pids(run)).toContain(orphanPid);
    expect(pids(run)).not.toContain(foreignPid); // does not name the repository
    expect(pids(run)).not.toContain(attached.child.pid); // its parent (this process) is in the group
  });
});

describe('the leak check of a whole run', () => {
  it('a `vitest run` whose test leaves a process running exits 1, names the process and kills it', async () => {
    const pidFile = path.join(tempDir(), 'leaked.pid');
    const { code, output } = await runVitest('test/setup/fixtures/leaky-run.config.ts', { LEAK_PID_FILE: pidFile });
    const leaked = Number(fs.readFileSync(pidFile, 'utf8'));
    started.push(leaked);
    expect(output).toContain('1 passed');
    expect(code, output).toBe(1);
    expect(output).toMatch(new RegExp(`FAILED: 1 process\\(es\\) started by this test run were still running[^]*pid ${leaked}: sleep 300`));
    await eventually(() => !alive(leaked), 10_000);
  }, 60_000);
});
