/**
 * Speaking HTTP to the hosted ASCEND platform: its headers (API key, SDK version, environment,
 * correlation id, timestamp), the `X-Signature` over the exact Python-sorted bytes sent, one
 * deadline with retries and the circuit breaker around each request, and its error answers
 * (FastAPI's `detail`) as our errors. See docs/architecture.md#the-ascend-platform-protocol.
 */
import type { Logger } from 'pino';
import {
  type AscendError,
  AuthenticationError,
  AuthorizationError,
  ConnectionError,
  issuesSummary,
  NotFoundError,
  ProtocolError,
  RateLimitError,
  ServerError,
  TimeoutError,
  ValidationError,
  type ValidationIssue,
} from '../core/errors.js';
import { packageVersion } from '../core/version.js';
import { HttpClient, HttpExchangeError, type HttpAnswer } from './http-client.js';
import { parseRetryAfter } from './http-status.js';
import { correlationId, platformSignature, platformTimestamp, pythonJson, violationsFrom } from './platform-wire.js';
import { ResilientCaller, type BreakerState, type CircuitBreakerOptions } from './resilience.js';

/** An answer body as the platform sends it: any JSON object. */
export type Body = Record<string, unknown>;

/** Where the platform is and how to speak to it. */
export interface PlatformClientOptions {
  apiUrl: string;
  apiKey: string;
  signingSecret?: string;
  environment?: string;
  timeoutMs?: number;
  maxRetries?: number;
  circuitBreaker?: CircuitBreakerOptions;
  retryBaseDelayMs?: number;
  logger?: Logger;
}

/** Requests to the platform, each under the deadline, retries and breaker. */
export class PlatformClient {
  /** This package's version, as sent in `X-SDK-Version`. */
  readonly version = packageVersion();
  private readonly base: string;
  private readonly caller: ResilientCaller;
  private readonly http = new HttpClient();

  constructor(private readonly options: PlatformClientOptions) {
    this.base = options.apiUrl.replace(/\/+$/, '');
    this.caller = new ResilientCaller({
      timeoutMs: options.timeoutMs ?? 30_000,
      maxRetries: options.maxRetries ?? 3,
      ...(options.circuitBreaker ? { circuitBreaker: options.circuitBreaker } : {}),
      ...(options.retryBaseDelayMs !== undefined ? { retryBaseDelayMs: options.retryBaseDelayMs } : {}),
      onStateChange: (state) => options.logger?.warn({ circuitState: state, apiUrl: this.base }, `circuit breaker ${state}`),
    });
  }

  /** The circuit breaker's state. */
  get circuitState(): BreakerState {
    return this.caller.state;
  }

  /** Release the kept-alive connections. */
  close(): void {
    this.http.close();
  }

  /** One request under the deadline, retries and breaker; the answer's JSON object. */
  call(method: 'GET' | 'POST', path: string, body: unknown, retrySafe: boolean | 'unsent'): Promise<Body> {
    const text = body === undefined ? undefined : pythonJson(body);
    return this.caller.call((remainingMs) => this.once(method, path, text, remainingMs), retrySafe);
  }

  private async once(method: 'GET' | 'POST', path: string, text: string | undefined, remainingMs: number): Promise<Body> {
    const timestamp = platformTimestamp();
    const headers: Record<string, string> = {
      accept: 'application/json',
      'x-api-key': this.options.apiKey,
      authorization: `Bearer ${this.options.apiKey}`,
      'user-agent': `ascend-sdk-typescript/${this.version} (node ${process.versions.node})`,
      'x-sdk-version': this.version,
      'x-environment': this.options.environment ?? 'production',
      'x-correlation-id': correlationId(),
      'x-request-timestamp': timestamp,
    };
    if (text !== undefined) {
      headers['content-type'] = 'application/json';
      if (this.options.signingSecret) headers['x-signature'] = platformSignature(this.options.signingSecret, timestamp, text);
    }
    let answer: HttpAnswer;
    try {
      answer = await this.http.send({ method, url: new URL(this.base + path), headers, ...(text !== undefined ? { body: text } : {}), timeoutMs: remainingMs });
    } catch (err) {
      if (!(err instanceof HttpExchangeError)) throw err;
      if (err.kind === 'timeout') throw new TimeoutError(`${method} ${path}: no complete answer within ${Math.round(remainingMs)} ms`, Math.round(remainingMs));
      if (err.kind === 'too-large') throw new ProtocolError(`${method} ${path}: ${err.message}`);
      if (err.kind === 'invalid') throw new ValidationError(`Cannot send ${method} ${path}: ${err.message}`, [{ path: 'request', message: err.message }]);
      throw new ConnectionError(`Cannot reach the ASCEND platform at ${this.base}${err.code ? ` (${err.code})` : ''}`, { cause: err });
    }
    let parsed: unknown;
    try {
      parsed = answer.text.length === 0 ? {} : JSON.parse(answer.text);
    } catch {
      if (answer.ok) throw new ProtocolError(`The platform answered ${method} ${path} with a body that is not JSON (HTTP ${answer.status})`);
      parsed = {};
    }
    if (!answer.ok) throw platformError(answer.status, parsed, answer.header('retry-after') ?? null, `${method} ${path}`);
    if (!isBody(parsed)) throw new ProtocolError(`The platform answered ${method} ${path} with JSON that is not an object`);
    return parsed;
  }
}

/** A 402 (kill switch, spend limit) or 403 from the platform. */
export class PlatformRefusedError extends AuthorizationError {
  constructor(
    readonly status: 402 | 403,
    message: string,
    policyViolations: ReturnType<typeof violationsFrom>,
  ) {
    super(message, { decision: 'denied', policyViolations });
  }
}

/** Whether `value` is a JSON object (an answer body). */
export function isBody(value: unknown): value is Body {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The error for a platform answer that is not a success (FastAPI's `detail` shape). */
function platformError(status: number, body: unknown, retryAfter: string | null, what: string): AscendError {
  const o = isBody(body) ? body : {};
  const detail = o.detail;
  const message = typeof detail === 'string' ? detail : typeof o.message === 'string' ? o.message : `HTTP ${status} from ${what}`;
  switch (status) {
    case 400:
    case 422: {
      // FastAPI lists problems as detail: [{ loc: ['body', 'field'], msg }].
      const issues: ValidationIssue[] = (Array.isArray(detail) ? detail : Array.isArray(o.errors) ? o.errors : []).filter(isBody).map((d) => ({
        path: Array.isArray(d.loc) ? d.loc.map(String).join('.') : typeof d.field === 'string' ? d.field : '(request)',
        message: typeof d.msg === 'string' ? d.msg : typeof d.message === 'string' ? d.message : JSON.stringify(d),
      }));
      const summary = issues.length > 0 ? issuesSummary(issues) : message;
      return new ValidationError(`The platform refused ${what}: ${summary}`, issues.length > 0 ? issues : [{ path: '(request)', message }]);
    }
    case 401:
      return new AuthenticationError(`The platform did not accept the API key (${message})`);
    case 402:
    case 403:
      return new PlatformRefusedError(status, message, violationsFrom(o.policy_violations));
    case 404:
      return new NotFoundError('route', what);
    case 429:
      return new RateLimitError(`The platform is rate limiting (${message})`, parseRetryAfter(retryAfter));
  }
  // A 500 is the platform failing on this request (not an outage: fail-open does not apply);
  // 502–504 are something in front of it, or the platform down.
  if (status === 500) return new ServerError(`The platform failed on ${what} (HTTP 500): ${message}`, status);
  if (status >= 500) return new ConnectionError(`The ASCEND platform is unavailable (HTTP ${status}): ${message}`);
  return new ProtocolError(`Unexpected HTTP ${status} from the platform for ${what}: ${message}`, { status });
}
