/**
 * Finding the processes a test run started that are still alive, from Linux's /proc. A run marks
 * itself with an environment variable that every child inherits; a process is the run's when:
 * - its environment carries the run's marker (what it was started with: /proc shows the
 *   environment a process began with), or
 * - it descends from such a process (a child started with a scrubbed environment, e.g. an MCP
 *   server that the MCP SDK starts with only PATH, HOME and a few others), or
 * - it was orphaned out of the run's process group: in the run's group, started after the run's
 *   main process, its parent no longer in the group (it was re-parented to init), no marker of
 *   another run, and its command line names this repository. Processes still attached to a
 *   parent in the group are left alone, so a second run started from the same shell is never
 *   taken for ours.
 * Elsewhere than Linux there is no /proc and nothing is found.
 */
import fs from 'node:fs';

/**
 * The environment variable naming the test run a process belongs to. Not `ASCEND_…`: some tests
 * start children without any of the package's own `ASCEND_*` settings, and the mark must stay.
 */
export const RUN_MARKER_ENV = 'LEAK_CHECK_RUN_ID';

/** One process, as /proc describes it. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** Process group. */
  pgid: number;
  /** Start time, in clock ticks since boot: a later process has a larger value. */
  startTicks: number;
  /** One letter: R running, S sleeping, Z zombie, … */
  state: string;
  /** The command line, arguments joined with spaces ('' for kernel threads and zombies). */
  command: string;
}

/** What a run is: its marker, its main process and the repository it tests. */
export interface RunIdentity {
  /** The value of {@link RUN_MARKER_ENV} the run gave its children. */
  marker: string;
  /** The run's main process (vitest's): never listed, nor its ancestors. */
  mainPid: number;
  /** Absolute path of the repository: an orphan must name it on its command line. */
  repoRoot: string;
}

/** One process by pid, or undefined when it is gone (or not ours to read). */
export function readProcess(pid: number): ProcessInfo | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name in parentheses may itself contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const command = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter((a) => a !== '').join(' ');
    return { pid, state: fields[0]!, ppid: Number(fields[1]), pgid: Number(fields[2]), startTicks: Number(fields[19]), command };
  } catch {
    return undefined;
  }
}

/** Every process this user may read ([] without /proc). */
export function listProcesses(): ProcessInfo[] {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  const out: ProcessInfo[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const info = readProcess(Number(entry));
    if (info) out.push(info);
  }
  return out;
}

/** The run marker a process was started with, if any ('' when unreadable). */
export function markerOf(pid: number): string | undefined {
  let environ: string;
  try {
    environ = fs.readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch {
    return '';
  }
  const prefix = `${RUN_MARKER_ENV}=`;
  const entry = environ.split('\0').find((e) => e.startsWith(prefix));
  return entry === undefined ? undefined : entry.slice(prefix.length);
}

/** The processes of `run` still alive, by pid (zombies left out: they are dead, waiting to be reaped). */
export function findLeakedProcesses(run: RunIdentity, table: ProcessInfo[] = listProcesses()): ProcessInfo[] {
  const byPid = new Map(table.map((p) => [p.pid, p]));
  const main = byPid.get(run.mainPid);
  if (!main) return [];

  // The main process, its ancestors, and vitest's own workers (they may still be stopping).
  const excluded = new Set<number>();
  for (let p: ProcessInfo | undefined = main; p && !excluded.has(p.pid); p = byPid.get(p.ppid)) excluded.add(p.pid);
  for (const p of table) if (p.ppid === main.pid && p.command.includes('/vitest/dist/workers/')) excluded.add(p.pid);

  const alive = table.filter((p) => !excluded.has(p.pid) && p.state !== 'Z');
  const found = new Set<number>();
  for (const p of alive) {
    const marker = markerOf(p.pid);
    if (marker === run.marker) found.add(p.pid);
    else if (marker === undefined && isOrphanOfRun(p, main, byPid, run.repoRoot)) found.add(p.pid);
  }

  // Their descendants, whatever environment those were given.
  const children = new Map<number, ProcessInfo[]>();
  for (const p of alive) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const queue = [...found];
  while (queue.length > 0) {
    for (const child of children.get(queue.pop()!) ?? []) {
      if (found.has(child.pid)) continue;
      found.add(child.pid);
      queue.push(child.pid);
    }
  }
  return alive.filter((p) => found.has(p.pid)).sort((a, b) => a.pid - b.pid);
}

function isOrphanOfRun(p: ProcessInfo, main: ProcessInfo, byPid: Map<number, ProcessInfo>, repoRoot: string): boolean {
  return p.pgid === main.pgid && p.startTicks > main.startTicks && byPid.get(p.ppid)?.pgid !== main.pgid && p.command.includes(repoRoot);
}
