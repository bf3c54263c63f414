/**
 * What an `AscendClient` is made with, and how its inputs are checked at the edge: the
 * options and their schema, the in-process approver's types, and the zod checks of each public
 * method's input (one error shape: ValidationError naming the field).
 */
import * as z from '../core/zod.js';
import type { DestinationStream, LevelWithSilent, Logger } from 'pino';
import type { CompiledPolicy } from '../engine/index.js';
import { issuesSummary, ValidationError, validationIssues, type ValidationIssue } from '../core/errors.js';
import { closest } from '../core/did-you-mean.js';
import type { ApprovalAnswer } from './govern.js';
import { WEBHOOK_FORMATS } from '../store/outbox.js';
import type { CircuitBreakerOptions } from '../transport/resilience.js';
import type { Transport } from '../transport/transport.js';
import { type DecisionResult, type FailMode } from '../core/types.js';
import { displayedName, storableText } from '../core/inputs.js';

/** An answer an in-process approver gives: `approved`, and optionally `comment`, `decidedBy`
 * (default `callback`), `grantMinutes` and `channel` (default `callback`). */
export type ApprovalVerdict = ApprovalAnswer;

/** Called when a call is pending a human. Return a verdict to decide in process (recorded with
 * channel `callback`), or nothing to leave it to people (CLI, dashboard). */
export type OnApprovalRequired = (decision: DecisionResult) => ApprovalVerdict | void | Promise<ApprovalVerdict | void>;

/** Options of `AscendClient`. */
export interface AscendClientOptions {
  /** Identifies the agent in every decision and audit event. */
  agentId: string;
  agentName?: string;
  /** Label recorded with each action (`production`, `staging`, …). */
  environment?: string;
  /** What to do when the decision point cannot be reached. Default {@link FailMode.CLOSED}. */
  failMode?: FailMode;
  /** Policy file path (YAML or JSON) or a compiled policy. Default `$ASCEND_POLICY`, else
   * `./ascend.policy.yaml`, or the starter policy when that file does not exist. */
  policy?: string | CompiledPolicy;
  /**
   * Read the policy file again when it changes (within a second), switching every later
   * decision to it and recording `policy.changed`; a change that does not load keeps the
   * policy in force and is logged with its file:line. Default true (embedded, with a file).
   */
  watchPolicy?: boolean;
  /** Where the embedded store and the fail-open spool live. Default `.ascend`. */
  dataDir?: string;
  /** Audit durability (docs/architecture.md#durability). Default `{ durability: 'sync' }`. */
  audit?: { durability?: 'sync' | 'batched'; flushIntervalMs?: number; maxBatchSize?: number };
  /** Parameter paths to treat as secret at any depth (`password`, `card.number`, `*.token`).
   * Common secret names are always redacted. Redacted values are never stored, logged or sent. */
  redact?: string[];
  /** How long a call waits for a person by default. Default: the policy's `approvalTimeoutSeconds`. */
  approvalTimeoutMs?: number;
  /** Decide pending calls in process (e.g. `terminalApprover()`). */
  onApprovalRequired?: OnApprovalRequired;
  logLevel?: LevelWithSilent;
  /** JSON lines (default) or readable lines. */
  jsonLogs?: boolean;
  /** Where logs go (default stderr). */
  logDestination?: DestinationStream;
  /** A ready pino logger to use instead. */
  logger?: Logger;
  /** Remote decision point (`ascend serve`), e.g. `http://127.0.0.1:8080`. Default `$ASCEND_API_URL`;
   * absent → embedded. Nothing else in your code changes. */
  apiUrl?: string;
  /** API key for `apiUrl` (`ascend keys create`). Default `$ASCEND_API_KEY`. */
  apiKey?: string;
  /** Sign every request with this secret (HMAC-SHA256). Default `$ASCEND_SIGNING_SECRET`. */
  signingSecret?: string;
  /** Remote only: deadline of one call to the server, retries included. Default 30 000. */
  timeoutMs?: number;
  /** Remote only: retries of a retry-safe call (network, timeout, 5xx, 429). Default 3. */
  maxRetries?: number;
  /** Remote only: the circuit breaker. */
  circuitBreaker?: CircuitBreakerOptions;
  /**
   * Which API `apiUrl` speaks: `ascend` (`ascend serve`, the default) or `ascend-platform` (the
   * hosted ASCEND platform of the original Python SDK, with an `owkai_…` key; `apiUrl` then
   * defaults to `$ASCEND_API_URL`, `$OWKAI_API_URL`, else `https://pilot.owkai.app`). Default
   * `$ASCEND_PROTOCOL`, else `ascend`.
   */
  protocol?: 'ascend' | 'ascend-platform';
  /** `ascend-platform` only: how often the platform's kill switch is read. Default 5000. */
  killSwitchPollMs?: number;
  /** `ascend-platform` only: how often a heartbeat is sent once registered. Default 60 000. */
  heartbeatIntervalMs?: number;
  /** Use this transport instead of building one (advanced; tests, custom deployments). */
  transport?: Transport;
}

/** The options' schema: checked when a client is made. */
export const ClientOptionsSchema = z.object({
  agentId: displayedName(z.minLength(1, 'agentId is required'), z.maxLength(256)),
  agentName: z.optional(displayedName(z.maxLength(256))),
  environment: z.optional(storableText(z.maxLength(64))),
  failMode: z.optional(z.enum(['closed', 'open'])),
  dataDir: z.optional(z.string().check(z.minLength(1))),
  watchPolicy: z.optional(z.boolean()),
  audit: z.optional(
    z.strictObject({
      durability: z.optional(z.enum(['sync', 'batched'])),
      flushIntervalMs: z.optional(z.int().check(z.positive(), z.lte(60_000))),
      maxBatchSize: z.optional(z.int().check(z.positive(), z.lte(100_000))),
    }),
  ),
  redact: z.optional(z.array(z.string().check(z.minLength(1)))),
  approvalTimeoutMs: z.optional(z.int().check(z.positive())),
  logLevel: z.optional(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])),
  jsonLogs: z.optional(z.boolean()),
  apiUrl: z.optional(z.url({ protocol: /^https?$/, error: 'apiUrl must be an http(s) URL' })),
  apiKey: z.optional(z.string().check(z.minLength(1))),
  signingSecret: z.optional(z.string().check(z.minLength(16, 'signingSecret must be at least 16 characters'))),
  timeoutMs: z.optional(z.int().check(z.positive(), z.lte(600_000))),
  maxRetries: z.optional(z.int().check(z.gte(0), z.lte(10))),
  circuitBreaker: z.optional(
    z.strictObject({
      failureThreshold: z.optional(z.int().check(z.positive(), z.lte(1000))),
      recoveryTimeoutMs: z.optional(z.int().check(z.positive(), z.lte(3_600_000))),
      halfOpenMaxCalls: z.optional(z.int().check(z.positive(), z.lte(1000))),
    }),
  ),
  protocol: z.optional(z.enum(['ascend', 'ascend-platform'])),
  killSwitchPollMs: z.optional(z.int().check(z.gte(100), z.lte(3_600_000))),
  heartbeatIntervalMs: z.optional(z.int().check(z.gte(1000), z.lte(86_400_000))),
});

/** What `configureWebhook` accepts. */
export const WebhookInputSchema = z.object({
  url: z.url({ protocol: /^https?$/, error: 'url must be an http(s) URL' }),
  events: z.optional(z.array(z.string().check(z.minLength(1))).check(z.minLength(1))),
  secret: z.optional(z.string().check(z.minLength(16, 'secret must be at least 16 characters'))),
  approvalLinks: z.optional(z.boolean()),
  format: z.optional(z.enum(WEBHOOK_FORMATS)),
  interactive: z.optional(z.boolean()),
});

/** An environment variable's value, undefined when unset or empty. */
export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/**
 * `input` checked by `schema`, or a ValidationError naming `method` and each field at fault.
 * Every key of an object input must be known — the schema's, or one of `alsoKnown` (what the
 * method reads itself, such as a signal) — so a misspelt key is an error naming the key it
 * probably meant, never dropped: a misspelt `capabilities` would register an agent without
 * its restrictions.
 */
export function parseInput<S extends z.core.$ZodType>(schema: S, input: unknown, method: string, alsoKnown: readonly string[] = []): z.output<S> {
  const shape = (schema as { _zod: { def: { shape?: Record<string, unknown> } } })._zod.def.shape;
  if (shape !== undefined) refuseUnknownKeys(input, shapeKeys(schema, shape), method, alsoKnown);
  const parsed = z.safeParse(schema, input);
  if (!parsed.success) throw toValidationError(method, parsed.error);
  return parsed.data;
}

/**
 * A ValidationError for each key of `input` that is neither in `known` nor in `alsoKnown`, with
 * the known key it is closest to.
 */
export function refuseUnknownKeys(input: unknown, known: ReadonlySet<string>, method: string, alsoKnown: readonly string[] = []): void {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return;
  let issues: ValidationIssue[] | undefined;
  for (const key of Object.keys(input)) {
    if (known.has(key) || alsoKnown.includes(key)) continue;
    const guess = closest(key, [...known, ...alsoKnown]);
    (issues ??= []).push({ path: key, message: `unknown key${guess === undefined ? '' : ` (did you mean "${guess}"?)`}` });
  }
  if (issues !== undefined) throw new ValidationError(`Invalid input to ${method}: ${issuesSummary(issues)}`, issues);
}

const SHAPE_KEYS = new WeakMap<object, ReadonlySet<string>>();

function shapeKeys(schema: object, shape: Record<string, unknown>): ReadonlySet<string> {
  let keys = SHAPE_KEYS.get(schema);
  if (keys === undefined) SHAPE_KEYS.set(schema, (keys = new Set(Object.keys(shape))));
  return keys;
}

/** A zod error as a ValidationError. */
function toValidationError(where: string, error: z.core.$ZodError): ValidationError {
  const { issues, summary } = validationIssues(error.issues, { root: '(input)' });
  return new ValidationError(`Invalid input to ${where}: ${summary}`, issues);
}
