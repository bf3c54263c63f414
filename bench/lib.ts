/**
 * Small helpers shared by the benchmarks: timing loops, percentiles, a results table.
 * Benchmarks report per-operation latencies in microseconds.
 */
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AscendClient } from '../src/index.js';
import { fileURLToPath } from 'node:url';

/** One benchmark's results: a row per measured thing. */
export interface BenchResult {
  name: string;
  rows: Array<{ label: string; p50Us: number; p99Us: number; note?: string }>;
}

/** The `p`-th percentile (0–100) of `values` (nearest rank). Sorts a copy. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Options of {@link timeOps}. */
export interface TimeOptions {
  /** Untimed calls first, so the JIT has settled. Default 10,000. */
  warmupOps?: number;
  /** Timed samples. Default 20,000. */
  samples?: number;
  /** Calls per sample; the sample is the batch time divided by this (amortizes the timer's own
   * cost for sub-microsecond operations). Default 1. */
  batch?: number;
}

/** Per-operation latency samples of `op`, in microseconds. `op(i)` gets a running index. */
export function timeOps(op: (i: number) => unknown, options: TimeOptions = {}): number[] {
  const warmup = options.warmupOps ?? 10_000;
  const samples = options.samples ?? 20_000;
  const batch = Math.max(1, options.batch ?? 1);
  let sink: unknown;
  for (let i = 0; i < warmup; i++) sink = op(i);
  const out = new Array<number>(samples);
  let i = 0;
  for (let s = 0; s < samples; s++) {
    const t0 = process.hrtime.bigint();
    for (let b = 0; b < batch; b++) sink = op(i++);
    const t1 = process.hrtime.bigint();
    out[s] = Number(t1 - t0) / 1000 / batch;
  }
  keep(sink);
  return out;
}

/** Async variant of {@link timeOps}; each sample is one awaited call (batch 1). */
export async function timeOpsAsync(op: (i: number) => Promise<unknown>, options: Omit<TimeOptions, 'batch'> = {}): Promise<number[]> {
  const warmup = options.warmupOps ?? 1_000;
  const samples = options.samples ?? 5_000;
  for (let i = 0; i < warmup; i++) await op(i);
  const out = new Array<number>(samples);
  for (let s = 0; s < samples; s++) {
    const t0 = process.hrtime.bigint();
    await op(warmup + s);
    out[s] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  return out;
}

/** One thing to measure in {@link raceAsync}. */
export interface Contender {
  label: string;
  op: () => unknown;
}

/** Options of {@link raceAsync}. */
export interface RaceOptions {
  samples: number;
  warmupOps: number;
  /** Calls a contender makes in a row before the next one takes over. Default 256. */
  blockSize?: number;
}

/** What {@link raceAsync} measured for one contender. */
export interface RaceResult {
  label: string;
  /** Per-call latencies, µs. */
  samplesUs: number[];
  /** Wall time per call of its blocks, the turns of the event loop after them included, µs: it
   * includes work a contender does between calls (a group commit), which latencies do not. */
  wallPerCallUs: number;
}

/** Let the event loop turn once (timers, immediates, I/O). */
export function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Measure several async operations side by side: in blocks of `blockSize` calls, taking turns
 * (A×256, B×256, C×256, A×256, …), so a noisy neighbour on this virtual machine hits them all
 * alike while each block runs with warm caches. After each block the event loop turns: an
 * agent's tool calls are separated by I/O (the model's answer), which is when timers — a group
 * commit — run. That turn is outside the latencies but inside `wallPerCallUs`.
 */
export async function raceAsync(contenders: readonly Contender[], options: RaceOptions): Promise<RaceResult[]> {
  const blockSize = options.blockSize ?? 256;
  const blocks = Math.ceil(options.samples / blockSize);
  const warmupBlocks = Math.ceil(options.warmupOps / blockSize);
  const samples = contenders.map(() => [] as number[]);
  const wallNs = contenders.map(() => 0n);
  for (let b = 0; b < warmupBlocks + blocks; b++) {
    for (let k = 0; k < contenders.length; k++) {
      const op = (contenders[k] as Contender).op;
      const out = samples[k] as number[];
      const blockStart = process.hrtime.bigint();
      for (let i = 0; i < blockSize; i++) {
        const t0 = process.hrtime.bigint();
        await op();
        if (b >= warmupBlocks) out.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      await yieldTurn();
      if (b >= warmupBlocks) wallNs[k] = (wallNs[k] as bigint) + (process.hrtime.bigint() - blockStart);
    }
  }
  return contenders.map((c, k) => ({
    label: c.label,
    samplesUs: samples[k] as number[],
    wallPerCallUs: Number(wallNs[k]) / 1000 / (samples[k] as number[]).length,
  }));
}

/** p50 and p99 of samples, as a result row. */
export function summarize(label: string, samplesUs: readonly number[], note?: string): BenchResult['rows'][number] {
  return { label, p50Us: percentile(samplesUs, 50), p99Us: percentile(samplesUs, 99), ...(note !== undefined ? { note } : {}) };
}

let sinkHolder: unknown;
/** Keep a value alive so the optimizer cannot drop the work that made it. */
export function keep(value: unknown): void {
  sinkHolder = value;
}
/** The last kept value (exists so `keep` has an observable effect). */
export function kept(): unknown {
  return sinkHolder;
}

function fmt(us: number): string {
  return us >= 100 ? us.toFixed(0) : us >= 10 ? us.toFixed(1) : us.toFixed(2);
}

/** The result as an aligned text table. */
export function formatResult(result: BenchResult): string {
  const header = ['', 'p50 µs', 'p99 µs', ''];
  const lines = result.rows.map((r) => [r.label, fmt(r.p50Us), fmt(r.p99Us), r.note ?? '']);
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => (l[c] as string).length)));
  const row = (cells: string[]): string =>
    cells.map((cell, c) => (c === 0 || c === 3 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number))).join('  ').trimEnd();
  return [`== ${result.name}`, row(header), ...lines.map(row)].join('\n');
}

/** Print the result table to stdout. */
export function printResult(result: BenchResult): void {
  console.log(formatResult(result));
}

/** Whether the module at `importMetaUrl` is the script node (or tsx) was started with. */
export function isMain(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  const strip = (p: string): string => p.replace(/\.[cm]?[jt]s$/, '');
  return strip(fileURLToPath(importMetaUrl)) === strip(resolve(entry));
}

/** How a wake benchmark finds the approval its agent waits on, and approves it. */
export interface WakeRound {
  /** The pending approval of `round`, once it exists. */
  findPending(round: number): Promise<string | undefined>;
  /** Approve it through another connection (or replica). */
  approve(approvalId: string): Promise<void>;
}

/**
 * One governed call per round that waits for a person; approved through `through`, after
 * `settleMs()` (the agent is in its wait). Returns each round's delay from the approval to the
 * tool running, in ms.
 */
export async function measureWakes(client: AscendClient, rounds: number, through: WakeRound, settleMs: () => number): Promise<number[]> {
  const delaysMs: number[] = [];
  for (let round = 0; round < rounds; round++) {
    let ranAt = 0;
    const governed = client.govern({ actionType: 'payments.transfer', parameters: { round } }, () => {
      ranAt = performance.now();
    });
    let approvalId: string | undefined;
    while (!(approvalId = await through.findPending(round))) await new Promise((r) => setTimeout(r, 2));
    await new Promise((r) => setTimeout(r, settleMs()));
    await through.approve(approvalId);
    const approvedAt = performance.now();
    await governed;
    delaysMs.push(ranAt - approvedAt);
  }
  return delaysMs;
}

/** Print p50 / p95 / max of wake delays with the budget's verdict (p95 ≤ 250 ms). */
export function printWakes(title: string, delaysMs: readonly number[]): void {
  const p95 = percentile(delaysMs, 95);
  console.log(title);
  console.log(
    `  p50 ${percentile(delaysMs, 50).toFixed(1)} ms   p95 ${p95.toFixed(1)} ms   max ${Math.max(...delaysMs).toFixed(1)} ms   (budget p95 ≤ 250 ms: ${p95 <= 250 ? 'OK' : 'MISSED'}; the original Python SDK polled every 5 s)`,
  );
}

