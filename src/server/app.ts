/**
 * `ascend serve`'s HTTP API v1 as a Fastify instance: the engine and Store of the embedded
 * client behind API keys, roles, organisations and optional request signing.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { droppedLogLines } from '../client/logging.js';
import { durationMs } from '../engine/index.js';
import { policyNow, policyStatus, type ServerPolicy } from './policy-status.js';
import { policyRoutes } from './routes/policy.js';
import { lingerOnClose } from './lingering-close.js';
import type { PushedPolicyFollower } from './policy-follower.js';
import { AscendError } from '../core/errors.js';
import type { Store } from '../store/store.js';
import { DecisionPoint } from '../decision/decision-point.js';
import { ApiKeyAuthenticator } from './api-keys.js';
import { RequestAuthenticator, requireRole } from './auth.js';
import { toHttpError } from './http-errors.js';
import { openApiDocument } from './openapi.js';
import { Router, type OrgScope } from './router.js';
import { actionRoutes } from './routes/actions.js';
import { adminRoutes } from './routes/admin.js';
import { approvalRoutes } from './routes/approvals.js';
import { DEFAULT_ORG, ORG_SEPARATOR, orgOfAgentId, TenantStore } from './tenant-store.js';
import { type BudgetGauge, ServerMetrics } from './metrics.js';
import { webhookRoutes } from './routes/webhooks.js';
import { eventRoutes } from './routes/events.js';
import { WebhookDispatcher, type WebhookDispatcherOptions } from './webhooks/dispatcher.js';
import type { WebhookOutbox } from '../store/outbox.js';
import type { NonceStore } from './nonces.js';
import { ValidationError } from '../core/errors.js';
import { packageVersion } from '../core/version.js';
import { statsRoutes } from './routes/stats.js';
import { loadAssets } from './dashboard/assets.js';
import { dashboardRoutes, type LocalSignIn } from './dashboard/routes.js';
import { slackInteractionRoutes, type SlackAppOptions } from './slack/interactions.js';
import { SmtpMailer, type SmtpOptions } from './webhooks/mailer.js';
import { SessionCodec } from './dashboard/sessions.js';

/** Options of {@link buildServer}. */
export interface AscendServerOptions {
  /** The shared store (its `close()` is the caller's). */
  store: Store;
  /**
   * Public keys (base64) whose audit checkpoints `/v1/audit/verify` and the chain status trust
   * (`ascend serve` passes its `--checkpoint-key`'s). Keys registered in the database never are.
   */
  checkpointPublicKeys?: string[];
  /**
   * The policy every organisation is decided by, or the error that stopped it loading (then every
   * call is denied), or a watched file (a LivePolicy): each decision reads the one in force.
   */
  policy: ServerPolicy;
  /** Follows policies pushed to the store (`ascend serve`); without it a push is stored but not adopted here. */
  policyFollower?: PushedPolicyFollower;
  logger: Logger;
  /** Refuse unsigned requests from every key. Default false (keys may require it one by one). */
  requireSigning?: boolean;
  /** A signed request's timestamp must be within this of the server's clock. Default 300 000. */
  maxSkewMs?: number;
  /** Largest request body. Default 1 MiB. */
  bodyLimitBytes?: number;
  /** Longest an approval wait request is held. Default 25 000. */
  longPollMaxMs?: number;
  /** How long a looked-up API key is trusted before it is read again (revocation delay). Default 1000. */
  keyCacheTtlMs?: number;
  /** Serve `/metrics` without a key (default: an admin key is needed). */
  publicMetrics?: boolean;
  /** Where nonces of signed requests are kept (default: this process's memory; `ascend serve` keeps them in its database). */
  nonces?: NonceStore;
  /** Webhooks: where they and their deliveries are kept. Without it, no webhook routes and no dispatcher. */
  outbox?: WebhookOutbox;
  /** Delivery settings (attempts before dead-lettering, back-off, polling). */
  webhooks?: Omit<WebhookDispatcherOptions, 'outbox' | 'logger' | 'onAttempt' | 'publicUrl'>;
  /**
   * The address people reach this server at (e.g. `https://ascend.example.com`), for the
   * one-click approval links in webhook payloads. Default: none, so no links.
   */
  publicUrl?: () => string | undefined;
  /** The dashboard's sign-in sessions. */
  dashboard?: DashboardOptions;
  /** A Slack app whose buttons decide in Slack (`POST /slack/interactions`); needs `outbox`. */
  slack?: SlackAppOptions;
  /** An SMTP server for email webhooks (`format: "email"`, a `mailto:` url); needs `outbox`. */
  email?: SmtpOptions;
}

/** Options of the dashboard served at `/`. */
export interface DashboardOptions {
  /** Signs session cookies; replicas that share it share sessions. Default: random per process. */
  sessionSecret?: string;
  /** How long a sign-in lasts. Default 8 hours. */
  sessionTtlMs?: number;
  /** `ascend ui`'s local sign-in link. */
  localSignIn?: LocalSignIn;
  /** Mark the session cookie `Secure` (default: when `publicUrl` is https). */
  secureCookies?: boolean;
}

/** A built server: the Fastify instance and a shutdown that ends long-polls first. */
export interface AscendServer {
  app: FastifyInstance;
  /** Stop taking requests, end waits, drain in-flight requests, flush the store. */
  close(): Promise<void>;
}

const rawBodies = new WeakMap<FastifyRequest['raw'], Buffer>();

/** Build (not start) the server. */
export async function buildServer(options: AscendServerOptions): Promise<AscendServer> {
  const bodyLimit = options.bodyLimitBytes ?? 1024 * 1024;
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit,
    // Per-request lines would cost more than an evaluation; failures are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  const shutdown = new AbortController();

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (request, body, done) => {
    const bytes = body as Buffer;
    rawBodies.set(request.raw, bytes);
    if (bytes.length === 0) return done(null, {});
    try {
      done(null, parseJsonSafely(decodeUtf8(bytes)));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  app.setErrorHandler((err, request, reply) => {
    const wire = toHttpError(err);
    // The path only: a query may carry a capability (a sign-in token, a link's signature).
    const url = request.url.split('?')[0];
    if (wire.status >= 500) request.log.error({ err, url, method: request.method }, 'request failed');
    else if (wire.status === 401) request.log.warn({ code: wire.body.error.code, url, reason: wire.body.error.message }, 'refused');
    if (wire.status === 413) {
      // The client is likely still sending the body: close without a reset (lingering-close.ts).
      lingerOnClose(request.raw);
      void reply.header('connection', 'close');
    }
    void reply.status(wire.status).send(wire.body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: { code: 'not_found', message: `No route ${request.method} ${request.url.split('?')[0]}` } });
  });

  const scopes = new Map<string, OrgScope>();
  const scopeOf = (org: string): OrgScope => {
    let scope = scopes.get(org);
    if (!scope) {
      const store = new TenantStore(options.store, org, options.checkpointPublicKeys ?? []);
      // Keyed decisions share the group commit: the evaluate route reads back what was recorded.
      scope = { org, store, decisionPoint: new DecisionPoint({ policy: options.policy, store: () => store, keyedDecisionsMayQueue: true }) };
      scopes.set(org, scope);
    }
    return scope;
  };

  const keys = new ApiKeyAuthenticator(options.store, options.keyCacheTtlMs ?? 1000);
  const sessions = new SessionCodec({
    ...(options.dashboard?.sessionSecret !== undefined ? { secret: options.dashboard.sessionSecret } : {}),
    ...(options.dashboard?.sessionTtlMs !== undefined ? { ttlMs: options.dashboard.sessionTtlMs } : {}),
  });
  const auth = new RequestAuthenticator(keys, {
    sessions,
    localSessions: options.dashboard?.localSignIn !== undefined,
    ...(options.publicUrl ? { publicOrigin: options.publicUrl } : {}),
    requireSigning: options.requireSigning ?? false,
    ...(options.maxSkewMs !== undefined ? { maxSkewMs: options.maxSkewMs } : {}),
    ...(options.nonces ? { nonces: options.nonces } : {}),
  });
  const metrics = new ServerMetrics();
  app.addHook('onResponse', async (request, reply) => {
    metrics.request(request.method, request.routeOptions.url ?? 'unknown', reply.statusCode, reply.elapsedTime / 1000);
  });

  const router = new Router(app, auth, scopeOf, (request) => rawBodies.get(request.raw), shutdown.signal);
  actionRoutes(router, metrics);
  approvalRoutes(router, { longPollMaxMs: options.longPollMaxMs ?? 25_000, watch: (listener) => options.store.watch(listener) });
  adminRoutes(router);
  eventRoutes(router, (listener) => options.store.watch(listener));
  statsRoutes(router);
  policyRoutes(router, {
    status: () => policyStatus(options.policy),
    store: options.store,
    inForce: () => policyNow(options.policy),
    follow: () => options.policyFollower?.check() ?? Promise.resolve(),
  });
  dashboardRoutes(app, {
    assets: loadAssets(),
    sessions,
    keys,
    auth,
    scopeOf,
    ...(options.outbox ? { outbox: options.outbox } : {}),
    ...(options.dashboard?.localSignIn ? { localSignIn: options.dashboard.localSignIn } : {}),
    secureCookies: options.dashboard?.secureCookies ?? options.publicUrl?.()?.startsWith('https:') === true,
  });

  let dispatcher: WebhookDispatcher | undefined;
  let unwatchDispatcher: (() => void) | undefined;
  const outbox = options.outbox;
  const mailer = options.email && outbox ? new SmtpMailer(options.email) : undefined;
  if (outbox) {
    dispatcher = new WebhookDispatcher({
      ...options.webhooks,
      outbox,
      ...(mailer ? { mailer } : {}),
      logger: options.logger,
      onAttempt: (o) => metrics.webhookAttempt(o),
      ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
    });
    const d = dispatcher;
    webhookRoutes(router, outbox, () => d.kick(), {
      allowPrivateTargets: options.webhooks?.allowPrivateTargets ?? false,
      ...(options.webhooks?.resolveHost ? { resolveHost: options.webhooks.resolveHost } : {}),
      slackApp: options.slack !== undefined,
      email: mailer !== undefined,
    });
    if (options.slack) {
      slackInteractionRoutes(app, {
        slack: options.slack,
        outbox,
        scopeOf,
        allowPrivateTargets: options.webhooks?.allowPrivateTargets ?? false,
        ...(options.webhooks?.resolveHost ? { resolveHost: options.webhooks.resolveHost } : {}),
      });
    }
    dispatcher.start();
    unwatchDispatcher = options.store.watch(() => d.kick());
  }

  // Counts across every organisation: for the operator (an admin key), unless made public.
  app.get('/metrics', async (request, reply) => {
    if (!options.publicMetrics) {
      const caller = await auth.authenticate({ method: request.method, url: request.url, headers: request.headers, rawBody: undefined });
      requireRole(caller, ['admin'], 'read metrics');
    }
    void reply.header('content-type', 'text/plain; version=0.0.4');
    return metrics.render({
      pendingApprovals: async () => (await options.store.listApprovals({ status: 'pending', limit: 100_000 })).length,
      webhookDeliveries: async () => (outbox ? outbox.countDeliveries() : {}),
      droppedLogLines: () => droppedLogLines(options.logger),
      budgets: () => budgetGauges(options.store, scopeOf),
      policy: () => policyStatus(options.policy),
      chainLock: () => options.store.chainLockStats?.(),
    });
  });

  const openapi = openApiDocument(router.docs, packageVersion());
  app.get('/v1/openapi.json', async () => openapi);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      await options.store.getApiKey('readiness-probe');
      const policy = policyNow(options.policy);
      return {
        status: 'ready',
        store: options.store.kind,
        policy: policy instanceof Error ? 'failed to load' : 'loaded',
        ...(policy instanceof Error ? {} : { policyVersion: policy.policyVersion }),
      };
    } catch (err) {
      void reply.status(503);
      return { status: 'unavailable', store: options.store.kind, error: err instanceof AscendError ? err.code : 'store_error' };
    }
  });

  let closing: Promise<void> | undefined;
  return {
    app,
    close() {
      closing ??= (async () => {
        shutdown.abort(); // long-polls answer now, so draining does not wait for them
        unwatchDispatcher?.();
        await app.close();
        await dispatcher?.stop();
        mailer?.close();
        await options.store.flush();
      })();
      return closing;
    },
  };
}

/** Deepest nesting a request body may have. */
const MAX_BODY_DEPTH = 64;

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }); // a BOM stays, and is not JSON

/**
 * The body as text, refusing invalid UTF-8: a lenient decoder would turn bad bytes into U+FFFD,
 * so what was decided and recorded would differ from the bytes sent (and signed).
 */
function decodeUtf8(bytes: Buffer): string {
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    throw new ValidationError('The body is not valid UTF-8', [{ path: 'body', message: 'not valid UTF-8' }]);
  }
}

/**
 * JSON.parse, then refuse `__proto__` / `constructor.prototype` keys (prototype poisoning) —
 * always walked, since `\u005f_proto__` spells the key without its letters — numbers out of
 * range (`1e999`), and nesting deeper than {@link MAX_BODY_DEPTH}. Iterative: no input can
 * exhaust the stack.
 */
function parseJsonSafely(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`The body is not valid JSON: ${(err as Error).message}`, [{ path: 'body', message: 'not valid JSON' }]);
  }
  if (!isClean(value)) throw poisonError(value);
  return value;
}

/** The fast check, on every body: no paths built, nothing allocated but the stack. */
function isClean(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  const nodes: object[] = [value];
  const depths: number[] = [0];
  while (nodes.length > 0) {
    const node = nodes.pop()!;
    const depth = depths.pop()!;
    if (depth > MAX_BODY_DEPTH) return false;
    for (const key in node) {
      if (!Object.hasOwn(node, key)) continue;
      const child = (node as Record<string, unknown>)[key];
      if (key === '__proto__' || (key === 'constructor' && typeof child === 'object' && child !== null && 'prototype' in child)) return false;
      // JSON.parse reads 1e999 as Infinity, which JSON cannot write back: what was decided
      // would not be what is recorded.
      if (typeof child === 'number' && !Number.isFinite(child)) return false;
      if (typeof child === 'object' && child !== null) {
        nodes.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return true;
}

/** The error for a body {@link isClean} refused, naming where (walked again with paths: rare). */
function poisonError(value: unknown): ValidationError {
  const stack: Array<{ node: unknown; path: string; depth: number }> = [{ node: value, path: 'body', depth: 0 }];
  while (stack.length > 0) {
    const { node, path, depth } = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > MAX_BODY_DEPTH) return new ValidationError(`The body nests deeper than ${MAX_BODY_DEPTH} levels at ${path}`, [{ path, message: 'nested too deeply' }]);
    for (const key of Object.keys(node)) {
      const child = (node as Record<string, unknown>)[key];
      if (key === '__proto__' || (key === 'constructor' && typeof child === 'object' && child !== null && 'prototype' in child)) {
        return new ValidationError(`Forbidden key "${key}" at ${path}`, [{ path: `${path}.${key}`, message: 'forbidden key (prototype poisoning)' }]);
      }
      if (typeof child === 'number' && !Number.isFinite(child)) {
        return new ValidationError(`A number at ${path}.${key} is out of range (it would be ${child})`, [{ path: `${path}.${key}`, message: 'number out of range: JSON numbers must be finite' }]);
      }
      stack.push({ node: child, path: `${path}.${key}`, depth: depth + 1 });
    }
  }
  return new ValidationError('The body was refused', [{ path: 'body', message: 'refused' }]);
}

/** Every registered agent's budgets, organisation by organisation (each with its own budgets). */
async function budgetGauges(store: Store, scopeOf: (org: string) => OrgScope): Promise<BudgetGauge[]> {
  const byOrg = new Map<string, string[]>();
  for (const agent of await store.listAgents()) {
    const org = orgOfAgentId(agent.agentId);
    const own = org === DEFAULT_ORG ? agent.agentId : agent.agentId.slice(org.length + ORG_SEPARATOR.length);
    byOrg.set(org, [...(byOrg.get(org) ?? []), own]);
  }
  const gauges: BudgetGauge[] = [];
  for (const [org, agentIds] of byOrg) {
    for (const [agentId, budgets] of await scopeOf(org).decisionPoint.agentBudgets(agentIds)) {
      for (const b of budgets) {
        gauges.push({
          org,
          agentId,
          ruleId: b.ruleId,
          used: b.used,
          count: b.count,
          windowSeconds: (durationMs(b.per) ?? 0) / 1000,
          resetsAtSeconds: b.resetsAt === null ? null : Date.parse(b.resetsAt) / 1000,
        });
      }
    }
  }
  return gauges;
}

