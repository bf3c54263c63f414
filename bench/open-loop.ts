/**
 * An open-loop load at a constant rate: request i is due at start + i / rate, and it is sent then
 * whatever the earlier ones are doing. Its latency counts from when it was due, not from when it
 * left, so a server (or a generator) that falls behind is charged for the wait.
 *
 * Why not autocannon's `overallRate`: each of its connections sends its whole quota for the
 * second back to back and then stops until the next second's tick, so at "half load" the server
 * is saturated for half of each second and the p99 it reports is the latency at saturation.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { percentile } from './lib.js';

/** How long one request may go without an answer before it counts as an error. */
const REQUEST_TIMEOUT_MS = 30_000;

/** What {@link offerConstantRate} sends. */
export interface OpenLoopOptions {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  ratePerS: number;
  durationS: number;
  /** Seconds offered first at the same rate and not measured, so both ends' code is compiled and the connections are open. Default 2. */
  warmupS?: number;
  /** Keep-alive connections the requests share; a request due while all are busy waits for one (and that wait counts). Default 50. */
  connections?: number;
}

/** What an open-loop run measured; latencies in milliseconds, counted from each request's due time. */
export interface OpenLoopResult {
  completedPerS: number;
  non2xx: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
}

/** Offer `ratePerS` requests a second to `url` for `durationS` seconds, evenly spaced, after `warmupS` unmeasured. */
export async function offerConstantRate(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections ?? 50 });
  try {
    const warmupS = options.warmupS ?? 2;
    if (warmupS > 0) await offer(options, warmupS, agent);
    return await offer(options, options.durationS, agent);
  } finally {
    agent.destroy();
  }
}

function offer(options: OpenLoopOptions, durationS: number, agent: http.Agent): Promise<OpenLoopResult> {
  const url = new URL(options.url);
  const headers = { ...options.headers, ...(options.body !== undefined ? { 'content-length': String(Buffer.byteLength(options.body)) } : {}) };
  const total = Math.max(1, Math.round(options.ratePerS * durationS));
  const intervalMs = 1000 / options.ratePerS;
  const latenciesMs: number[] = [];
  let non2xx = 0;
  let errors = 0;
  let settled = 0;
  let sent = 0;
  const started = performance.now();

  return new Promise((resolve) => {
    const finish = (): void => {
      const elapsedS = (performance.now() - started) / 1000;
      resolve({
        completedPerS: latenciesMs.length / elapsedS,
        non2xx,
        errors,
        p50Ms: percentile(latenciesMs, 50),
        p99Ms: percentile(latenciesMs, 99),
      });
    };
    const settle = (): void => {
      if (++settled === total) finish();
    };
    const send = (dueMs: number): void => {
      let done = false;
      const failed = (): void => {
        if (done) return;
        done = true;
        errors++;
        settle();
      };
      const req = http.request(url, { method: options.method ?? 'GET', headers, agent }, (res) => {
        res.resume();
        res.once('error', failed);
        res.once('end', () => {
          if (done) return;
          done = true;
          latenciesMs.push(performance.now() - dueMs);
          if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode > 299) non2xx++;
          settle();
        });
      });
      req.once('error', failed);
      // An answer that never comes is an error, not a hang of the whole run.
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer in ${REQUEST_TIMEOUT_MS} ms`)));
      req.end(options.body);
    };
    // Timers fire late by up to a millisecond or so; every request due by then goes out at once,
    // and its lateness is part of its latency.
    const tick = (): void => {
      const now = performance.now();
      while (sent < total && started + sent * intervalMs <= now) send(started + sent++ * intervalMs);
      if (sent < total) setTimeout(tick, Math.max(0, started + sent * intervalMs - performance.now()));
    };
    tick();
  });
}
