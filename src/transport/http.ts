/**
 * The remote decision point: `ascend serve` over HTTP (keep-alive sockets), API key, optional
 * HMAC signing over the exact bytes sent, and every call under {@link ResilientCaller}'s
 * deadline, retries and circuit breaker. Evaluate carries an `Idempotency-Key` (the action id
 * the client chose), so a retry never records a second action.
 */
import type { Logger } from 'pino';
import * as z from '../core/zod.js';
import { ConnectionError, NotFoundError, ProtocolError, TimeoutError, ValidationError, validationIssues } from '../core/errors.js';
import { signRequest } from '../core/signing.js';
import { timeOrderedId } from '../core/ids.js';
import type { ApprovalDecision } from '../store/store.js';
import { WEBHOOK_FORMATS } from '../store/outbox.js';
import type { ActionRecord, AgentRecord, ApprovalRecord, DecisionResult, OutcomeRecord } from '../core/types.js';
import type * as Wire from '../core/wire.js';
import { HttpClient, HttpExchangeError, type HttpAnswer } from './http-client.js';
import { errorForStatus } from './http-status.js';
import { denialHere } from '../decision/denial.js';
import { ResilientCaller, type BreakerState, type CircuitBreakerOptions } from './resilience.js';
import type { SpoolEntry } from '../core/types.js';
import type { Transport, WebhookInfo, WebhookInput } from './transport.js';
import type { AgentRegistration, EvaluationRequest } from '../decision/request.js';

/** Options of {@link HttpTransport}. */
export interface HttpTransportOptions {
  /** Base URL of `ascend serve`, e.g. `http://127.0.0.1:8080`. */
  apiUrl: string;
  apiKey: string;
  /** Sign every request (HMAC-SHA256) with this secret. */
  signingSecret?: string;
  /** Deadline of one call, retries included. Default 30 000. */
  timeoutMs?: number;
  /** Retries of a retry-safe call. Default 3. */
  maxRetries?: number;
  circuitBreaker?: CircuitBreakerOptions;
  retryBaseDelayMs?: number;
  logger?: Logger;
}

/**
 * The wire schemas, loaded with the first request: building them is half of what the package's
 * schemas cost a start, and an embedded client never needs them (docs/architecture.md,
 * "Performance budgets": the cold start). A failed load is tried again by the next request.
 */
let wireSchemas: Promise<typeof Wire> | undefined;
function loadWireSchemas(): Promise<typeof Wire> {
  wireSchemas ??= import('../core/wire.js').catch((err: unknown) => {
    wireSchemas = undefined;
    throw err;
  });
  return wireSchemas;
}

/** An answer read as it comes (evaluate reads its own; an upload's is not read). */
const ANY_ANSWER = z.unknown();

interface Request<T> {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  body?: unknown;
  /** The schema the answer must match, picked from the wire schemas. */
  response: (wire: typeof Wire) => z.core.$ZodType<T>;
  retrySafe: boolean;
  idempotencyKey?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** {@link Transport} to a remote `ascend serve`. */
export class HttpTransport implements Transport {
  readonly kind = 'http' as const;
  private readonly base: string;
  private readonly caller: ResilientCaller;
  private readonly authorization: string;
  private readonly http = new HttpClient();

  constructor(private readonly options: HttpTransportOptions) {
    checkConnectionSettings(options);
    this.base = options.apiUrl.replace(/\/+$/, '');
    this.authorization = `Bearer ${options.apiKey}`;
    this.caller = new ResilientCaller({
      timeoutMs: options.timeoutMs ?? 30_000,
      maxRetries: options.maxRetries ?? 3,
      ...(options.circuitBreaker ? { circuitBreaker: options.circuitBreaker } : {}),
      ...(options.retryBaseDelayMs !== undefined ? { retryBaseDelayMs: options.retryBaseDelayMs } : {}),
      onStateChange: (state) => {
        const log = options.logger;
        if (state === 'open') log?.error({ circuitState: state, apiUrl: this.base }, 'circuit breaker opened: the decision point is failing');
        else log?.warn({ circuitState: state, apiUrl: this.base }, `circuit breaker ${state === 'closed' ? 'closed' : 'half-open'}`);
      },
    });
  }

  /** The circuit breaker's state. */
  get circuitState(): BreakerState {
    return this.caller.state;
  }

  register(agent: AgentRegistration): Promise<AgentRecord> {
    return this.request({ method: 'POST', path: '/v1/agents', body: agent, response: (wire) => wire.AgentRecordSchema, retrySafe: true });
  }

  async evaluate(request: EvaluationRequest): Promise<DecisionResult> {
    const actionId = request.actionId ?? timeOrderedId();
    // The raw answer is checked here, not by request(): an answer we cannot read is a denial.
    const raw = await this.request({
      method: 'POST',
      path: '/v1/actions/evaluate',
      body: {
        agentId: request.agentId,
        actionType: request.actionType,
        resource: request.resource,
        parameters: request.redactedParameters, // secrets never leave the process
        context: request.context,
        requireHumanApproval: request.requireHumanApproval,
        digest: request.digest,
        ...(request.editOf === undefined ? {} : { editOf: request.editOf }),
      },
      response: () => ANY_ANSWER,
      retrySafe: true,
      idempotencyKey: actionId,
    });
    const parsed = z.safeParse((await loadWireSchemas()).DecisionResultSchema, raw);
    if (parsed.success) return parsed.data as DecisionResult;
    const reason = `The decision point answered something this client does not understand (${validationIssues(parsed.error.issues).summary}); denied`;
    this.options.logger?.error({ actionId }, reason);
    return denialHere(request, actionId, 'unrecognised_answer', reason);
  }

  async recordOutcome(outcome: OutcomeRecord): Promise<void> {
    const body: Record<string, unknown> = { durationMs: outcome.durationMs, recordedAt: outcome.recordedAt };
    if (outcome.status === 'completed') {
      if (outcome.result !== undefined) body.result = outcome.result;
    } else {
      body.error = outcome.error ?? 'failed';
    }
    await this.request({
      method: 'POST',
      path: `/v1/actions/${encodeURIComponent(outcome.actionId)}/${outcome.status === 'completed' ? 'complete' : 'fail'}`,
      body,
      response: (wire) => wire.OutcomeResponseSchema,
      retrySafe: true, // the server records an outcome once and answers a repeat with the same
    });
  }

  async getAction(actionId: string): Promise<ActionRecord | undefined> {
    const found = await undefinedIfNotFound(
      this.request({ method: 'GET', path: `/v1/actions/${encodeURIComponent(actionId)}`, response: (wire) => wire.ActionWithOutcomeSchema, retrySafe: true }),
    );
    return found?.action as ActionRecord | undefined;
  }

  getApproval(approvalId: string): Promise<ApprovalRecord | undefined> {
    return undefinedIfNotFound(
      this.request({ method: 'GET', path: `/v1/approvals/${encodeURIComponent(approvalId)}`, response: (wire) => wire.ApprovalRecordSchema, retrySafe: true }),
    );
  }

  awaitApproval(approvalId: string, maxWaitMs: number, signal?: AbortSignal): Promise<ApprovalRecord | undefined> {
    const waitMs = Math.max(0, Math.floor(maxWaitMs));
    return undefinedIfNotFound(
      this.request({
        method: 'GET',
        path: `/v1/approvals/${encodeURIComponent(approvalId)}/wait?timeoutMs=${waitMs}`,
        response: (wire) => wire.ApprovalRecordSchema,
        retrySafe: true,
        timeoutMs: waitMs + (this.options.timeoutMs ?? 30_000),
        ...(signal ? { signal } : {}),
      }),
    );
  }

  decideApproval(decision: Omit<ApprovalDecision, 'now'>): Promise<ApprovalRecord> {
    const body = approvalVerdictBody(decision);
    const verb = decision.status === 'approved' ? 'approve' : 'reject';
    // Not retried: a repeat after a lost answer would be refused as "already decided".
    return this.request({ method: 'POST', path: `/v1/approvals/${encodeURIComponent(decision.approvalId)}/${verb}`, body, response: (wire) => wire.ApprovalRecordSchema, retrySafe: false });
  }

  expireApproval(approvalId: string): Promise<ApprovalRecord> {
    return this.request({ method: 'POST', path: `/v1/approvals/${encodeURIComponent(approvalId)}/expire`, body: {}, response: (wire) => wire.ApprovalRecordSchema, retrySafe: true });
  }

  async consumeApproval(approvalId: string, digest: string): Promise<boolean> {
    // Not retried: a repeat after a lost answer reads "already spent", which denies (fail-safe).
    const answer = await this.request({
      method: 'POST',
      path: `/v1/approvals/${encodeURIComponent(approvalId)}/consume`,
      body: { digest },
      response: (wire) => wire.ConsumeResponseSchema,
      retrySafe: false,
    });
    return answer.consumed;
  }

  async uploadFailOpen(entry: SpoolEntry): Promise<void> {
    await this.request({ method: 'POST', path: '/v1/actions/upload', body: entry, response: () => ANY_ANSWER, retrySafe: true });
  }

  configureWebhook(input: WebhookInput): Promise<WebhookInfo> {
    return this.request({ method: 'POST', path: '/v1/webhooks', body: input, response: () => WebhookInfoSchema, retrySafe: false });
  }

  /** Remote changes arrive through {@link awaitApproval}'s long-poll. */
  watch(): () => void {
    return () => undefined;
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.http.close();
  }


  /**
   * Any route of the API, under the same deadline, retries, breaker, signing and error mapping
   * (the CLI against a server uses it). `retrySafe`: repeating it cannot do anything twice.
   */
  call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body: unknown, response: z.core.$ZodType<T>, retrySafe: boolean): Promise<T> {
    return this.request({ method, path, response: () => response, retrySafe, ...(body !== undefined ? { body } : {}) });
  }

  private async request<T>(req: Request<T>): Promise<T> {
    const text = req.body === undefined ? undefined : JSON.stringify(req.body);
    const answerSchema = req.response(await loadWireSchemas());
    return this.caller.call((remainingMs) => this.once(req, text, answerSchema, remainingMs), req.retrySafe, req.timeoutMs);
  }

  private async once<T>(req: Request<T>, text: string | undefined, answerSchema: z.core.$ZodType<T>, remainingMs: number): Promise<T> {
    const headers: Record<string, string> = { authorization: this.authorization, accept: 'application/json' };
    if (text !== undefined) headers['content-type'] = 'application/json';
    if (req.idempotencyKey !== undefined) headers['idempotency-key'] = req.idempotencyKey;
    if (this.options.signingSecret) {
      Object.assign(
        headers,
        signRequest(this.options.signingSecret, {
          method: req.method,
          pathWithQuery: req.path,
          ...(text !== undefined ? { body: text } : {}),
          ...(req.idempotencyKey !== undefined ? { idempotencyKey: req.idempotencyKey } : {}),
        }),
      );
    }
    const ms = Math.round(remainingMs);
    let response: HttpAnswer;
    try {
      response = await this.http.send({
        method: req.method,
        url: new URL(this.base + req.path),
        headers,
        ...(text !== undefined ? { body: text } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
        timeoutMs: remainingMs,
      });
    } catch (err) {
      if (req.signal?.aborted) throw req.signal.reason;
      if (!(err instanceof HttpExchangeError)) throw err;
      if (err.kind === 'timeout') throw new TimeoutError(`${req.method} ${pathOnly(req.path)}: no complete answer within ${ms} ms`, ms);
      if (err.kind === 'too-large') throw new ProtocolError(`${req.method} ${pathOnly(req.path)}: ${err.message}`);
      if (err.kind === 'invalid') throw new ValidationError(`Cannot send ${req.method} ${pathOnly(req.path)}: ${err.message}`, [{ path: 'request', message: err.message }]);
      throw new ConnectionError(`Cannot reach the decision point at ${this.base}${err.code ? ` (${err.code})` : ''}`, { cause: err });
    }
    let body: unknown;
    try {
      body = response.text.length === 0 ? undefined : JSON.parse(response.text);
    } catch {
      if (response.ok) throw new ProtocolError(`The decision point sent a body that is not JSON (HTTP ${response.status})`);
      body = undefined;
    }
    if (!response.ok) throw errorForStatus(response.status, body, response.header('retry-after') ?? null, pathOnly(req.path));
    const parsed = z.safeParse(answerSchema, body);
    if (!parsed.success) {
      throw new ProtocolError(`Unexpected answer to ${req.method} ${pathOnly(req.path)}: ${validationIssues(parsed.error.issues).summary}`);
    }
    return parsed.data;
  }
}

const WebhookInfoSchema = z.object({
  webhookId: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  createdAt: z.string(),
  secret: z.optional(z.string()),
  approvalLinks: z.optional(z.boolean()),
  format: z.optional(z.enum(WEBHOOK_FORMATS)),
  interactive: z.optional(z.boolean()),
});

/** Settings that would make every request fail, refused when the client is made (never echoing the key). */
function checkConnectionSettings(options: HttpTransportOptions): void {
  let url: URL | undefined;
  try {
    url = new URL(options.apiUrl);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ValidationError(`apiUrl must be an http(s) URL such as http://127.0.0.1:8080, got "${options.apiUrl}"`, [{ path: 'apiUrl', message: 'not an http(s) URL' }]);
  }
  if (!/^[\x21-\x7e]+$/.test(options.apiKey)) {
    throw new ValidationError('apiKey contains spaces, line breaks or non-ASCII characters (a key read from a file often ends with a newline)', [
      { path: 'apiKey', message: 'not a printable ASCII token' },
    ]);
  }
}

function pathOnly(path: string): string {
  return path.split('?')[0]!;
}


/** `pending`'s value, or undefined when the server answered 404 (NotFoundError). */
export async function undefinedIfNotFound<T>(pending: Promise<T>): Promise<T | undefined> {
  try {
    return await pending;
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/** The body of POST /v1/approvals/:id/approve or /reject for a decision. */
export function approvalVerdictBody(decision: Omit<ApprovalDecision, 'now'>): Record<string, unknown> {
  const body: Record<string, unknown> = { decidedBy: decision.decidedBy, channel: decision.channel };
  if (decision.comment !== undefined) body.comment = decision.comment;
  if (decision.grantMinutes !== undefined) body.grantMinutes = decision.grantMinutes;
  if (decision.edits !== undefined) body.edits = decision.edits;
  return body;
}
