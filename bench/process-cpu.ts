/**
 * CPU time a child process has used, all its threads (user + system), read from Linux's
 * `/proc/PID/stat`. `bench:server` uses it to say how busy a server was at a load: an evenly
 * offered request can cost the server more CPU than one of a saturated stream (there one wake-up
 * reads many requests and one group commit holds many decisions), so "half of the saturated
 * throughput" need not be half the CPU.
 */
import fs from 'node:fs';

/** Clock ticks per second of `/proc/PID/stat`'s times (`getconf CLK_TCK`: 100 on Linux's usual builds). */
const TICKS_PER_S = 100;

/** Milliseconds of CPU the process `pid` has used so far, or undefined where `/proc` is not there. */
export function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces, so split after its closing paren):
  // state is field 3, utime field 14, stime field 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? (ticks * 1000) / TICKS_PER_S : undefined;
}

/** Runs `work` and says how many cores the process `pid` kept busy meanwhile, on average (undefined without `/proc`). */
export async function coresUsedDuring<T>(pid: number | undefined, work: () => Promise<T>): Promise<{ result: T; cores: number | undefined }> {
  const cpu0 = processCpuMs(pid);
  const t0 = performance.now();
  const result = await work();
  const wallMs = performance.now() - t0;
  const cpu1 = processCpuMs(pid);
  return { result, cores: cpu0 === undefined || cpu1 === undefined ? undefined : (cpu1 - cpu0) / wallMs };
}
