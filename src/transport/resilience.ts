/**
 * One retry layer, one deadline, one circuit breaker — for remote calls only.
 *
 * - The deadline (`timeoutMs`) covers the whole call, retries and back-off included: with
 *   nothing listening a call fails within it (the original Python SDK stacked two retry layers and took 20 s
 *   to fail with a 1 s timeout).
 * - Only retry-safe calls are retried, and only on failures that say "try again": the network,
 *   a timeout, a 5xx, a 429 (after its `Retry-After`). Exponential back-off with full jitter.
 * - The breaker (cockatiel 4) counts only transport failures (network, timeout, 5xx) — never
 *   an answer such as a denial, a 4xx or a 429 — opens after `failureThreshold` in a row,
 *   and after `recoveryTimeoutMs` lets `halfOpenMaxCalls` trial calls through (others wait for
 *   their verdict) before closing again.
 */
import { createRequire } from 'node:module';
import type { CircuitBreakerPolicy, CircuitState } from 'cockatiel';
import { AscendError, CircuitBreakerOpenError, TimeoutError } from '../core/errors.js';

/**
 * cockatiel, loaded when the first remote client is made: an embedded client never needs it,
 * and loading it costs every process's start (docs/architecture.md#performance-budgets).
 */
let cockatielModule: typeof import('cockatiel') | undefined;
function cockatiel(): typeof import('cockatiel') {
  cockatielModule ??= createRequire(import.meta.url)('cockatiel') as typeof import('cockatiel');
  return cockatielModule;
}

/** The breaker settings, named as in the original Python SDK (docs/architecture.md#resilience-of-the-remote-transport). */
export interface CircuitBreakerOptions {
  /** Transport failures in a row that open the breaker. Default 5. */
  failureThreshold?: number;
  /** How long it stays open before trial calls. Default 30 000. */
  recoveryTimeoutMs?: number;
  /** Trial calls let through while half-open. Default 3. */
  halfOpenMaxCalls?: number;
}

/** Options of {@link ResilientCaller}. */
export interface ResilienceOptions {
  timeoutMs: number;
  maxRetries: number;
  circuitBreaker?: CircuitBreakerOptions;
  /** First back-off step (doubles each retry, jittered). Default 100. */
  retryBaseDelayMs?: number;
  /** Largest back-off step. Default 5 000. */
  retryMaxDelayMs?: number;
  onStateChange?: (state: BreakerState) => void;
}

/** Breaker states, named as in the original Python SDK. */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** One attempt, given the time it has left. */
export type Attempt<T> = (remainingMs: number, attempt: number) => Promise<T>;

const TRANSPORT_FAILURES = new Set(['connection_error', 'timeout']);

/** True for failures the breaker counts. */
export function isTransportFailure(err: unknown): boolean {
  return err instanceof AscendError && TRANSPORT_FAILURES.has(err.code);
}

function isRetryable(err: unknown): boolean {
  return err instanceof AscendError && (TRANSPORT_FAILURES.has(err.code) || err.code === 'rate_limited');
}

/**
 * A failure of a request the server certainly did not act on: refused with a 429, or a
 * connection that was refused (nothing was sent). Safe to send again even when the request
 * itself is not (a submit without an idempotency key).
 */
function isUnsent(err: unknown): boolean {
  if (!(err instanceof AscendError)) return false;
  if (err.code === 'rate_limited') return true;
  return err.code === 'connection_error' && (err.cause as { code?: unknown } | undefined)?.code === 'ECONNREFUSED';
}

/** Runs remote calls under the deadline, the retries and the breaker. */
export class ResilientCaller {
  private readonly breaker: CircuitBreakerPolicy;
  private readonly recoveryTimeoutMs: number;
  private openedAtMs = 0;

  constructor(private readonly options: ResilienceOptions) {
    const cb = options.circuitBreaker ?? {};
    this.recoveryTimeoutMs = cb.recoveryTimeoutMs ?? 30_000;
    const { circuitBreaker, handleWhen, ConsecutiveBreaker } = cockatiel();
    this.breaker = circuitBreaker(handleWhen(isTransportFailure), {
      halfOpenAfter: this.recoveryTimeoutMs,
      breaker: new ConsecutiveBreaker(cb.failureThreshold ?? 5),
      halfOpenSampling: { calls: cb.halfOpenMaxCalls ?? 3, threshold: 0 },
    });
    this.breaker.onBreak(() => {
      this.openedAtMs = Date.now();
    });
    this.breaker.onStateChange((state) => options.onStateChange?.(stateName(state)));
  }

  /** The breaker's state now. */
  get state(): BreakerState {
    return stateName(this.breaker.state);
  }

  /**
   * Run `attempt` until it succeeds, fails for good, or the deadline passes.
   * @param retrySafe whether repeating the request cannot do anything twice; `'unsent'`: it
   *   may, so it is repeated only when the server certainly did not act on it (a 429, a refused
   *   connection)
   * @param timeoutMs this call's deadline, when not the default
   */
  async call<T>(attempt: Attempt<T>, retrySafe: boolean | 'unsent', timeoutMs: number = this.options.timeoutMs): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    try {
      return await this.breaker.execute(() => this.withRetries(attempt, retrySafe, deadline, timeoutMs));
    } catch (err) {
      if (err instanceof cockatiel().BrokenCircuitError) {
        throw new CircuitBreakerOpenError(Math.max(0, this.openedAtMs + this.recoveryTimeoutMs - Date.now()));
      }
      throw err;
    }
  }

  private async withRetries<T>(attempt: Attempt<T>, retrySafe: boolean | 'unsent', deadline: number, timeoutMs: number): Promise<T> {
    const maxRetries = retrySafe === false ? 0 : this.options.maxRetries;
    const retryable = retrySafe === 'unsent' ? isUnsent : isRetryable;
    let lastError: unknown;
    for (let n = 0; ; n++) {
      const remaining = deadline - Date.now();
      // Out of time because a back-off ended late (a busy event loop): the failure that was being
      // retried says more than "timeout", and does not depend on how late the timer was.
      if (remaining <= 0) throw lastError ?? new TimeoutError(`No answer within ${timeoutMs} ms`, timeoutMs);
      try {
        return await attempt(remaining, n);
      } catch (err) {
        if (n >= maxRetries || !retryable(err)) throw err;
        lastError = err;
        const retryAfterMs = (err as { retryAfterMs?: number }).retryAfterMs;
        const delay = retryAfterMs ?? this.backoffMs(n);
        if (Date.now() + delay >= deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** Full jitter: uniform in [0, min(max, base·2^n)]. */
  private backoffMs(n: number): number {
    const cap = Math.min(this.options.retryMaxDelayMs ?? 5000, (this.options.retryBaseDelayMs ?? 100) * 2 ** n);
    return Math.random() * cap;
  }
}

function stateName(state: CircuitState): BreakerState {
  const { CircuitState: states } = cockatiel();
  if (state === states.Closed) return 'closed';
  if (state === states.HalfOpen) return 'half_open';
  return 'open';
}
