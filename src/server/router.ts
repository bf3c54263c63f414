/**
 * The seam between Fastify and the route handlers. Each route declares who may call it and the
 * zod schemas of its params, query and body; the router authenticates, checks the role, parses
 * (a 400 names the field at fault) and hands the handler typed values plus the caller's
 * organisation's view of the engine and store. The same declarations make `/v1/openapi.json`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as z from 'zod';
import type { DecisionPoint } from '../decision/decision-point.js';
import type { ApiKeyRole } from '../core/types.js';
import { requireRole, type Caller, type RequestAuthenticator } from './auth.js';
import { parseWire } from './http-errors.js';
import type { TenantStore } from './tenant-store.js';

/** One organisation's decision point: the engine on its view of the shared store. */
export interface OrgScope {
  org: string;
  store: TenantStore;
  decisionPoint: DecisionPoint;
}

/** What a handler gets. */
export interface RouteContext<P, Q, B> {
  caller: Caller;
  scope: OrgScope;
  params: P;
  query: Q;
  body: B;
  header(name: string): string | undefined;
  /** Aborted when the client goes away or the server shuts down (long-polls end early). */
  signal: AbortSignal;
  /** Whether the caller's key is still good (not revoked since the request began): long streams ask. */
  stillAuthorized(): Promise<boolean>;
}

type Out<S> = S extends z.core.$ZodType ? z.output<S> : undefined;

/** A route's declaration. */
export interface RouteSpec<P extends z.core.$ZodType | undefined, Q extends z.core.$ZodType | undefined, B extends z.core.$ZodType | undefined> {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  summary: string;
  /** Roles allowed, and the route's purpose in words for the 403 message. */
  roles: readonly ApiKeyRole[];
  what: string;
  params?: P;
  query?: Q;
  body?: B;
  /** The success answer's schema (documentation, and what the HTTP transport validates). */
  response: z.core.$ZodType;
  handler(ctx: RouteContext<Out<P>, Out<Q>, Out<B>>): Promise<unknown>;
}

/** What the OpenAPI document is made from. */
export interface RouteDoc {
  method: string;
  url: string;
  summary: string;
  roles: readonly ApiKeyRole[];
  params?: z.core.$ZodType;
  query?: z.core.$ZodType;
  body?: z.core.$ZodType;
  response: z.core.$ZodType;
}

/** A long-lived `text/event-stream` route. */
export interface StreamSpec<Q extends z.core.$ZodType | undefined> {
  url: string;
  summary: string;
  roles: readonly ApiKeyRole[];
  what: string;
  query?: Q;
  /** Write events with `send` until `ctx.signal` aborts (client gone, server stopping). */
  handler(ctx: RouteContext<undefined, Out<Q>, undefined>, send: (event: { id?: string; event: string; data: string }) => boolean): Promise<void>;
}

/** Registers authenticated routes. */
export class Router {
  /** Every route added, for the OpenAPI document. */
  readonly docs: RouteDoc[] = [];

  constructor(
    private readonly app: FastifyInstance,
    private readonly auth: RequestAuthenticator,
    private readonly scopeOf: (org: string) => OrgScope,
    private readonly rawBodyOf: (request: FastifyRequest) => Buffer | undefined,
    private readonly shutdown: AbortSignal,
  ) {}

  /** Server-sent events: authenticated and parsed like {@link add}, then the socket is the handler's. */
  stream<Q extends z.core.$ZodType | undefined = undefined>(spec: StreamSpec<Q>): void {
    const doc: RouteDoc = { method: 'GET', url: spec.url, summary: `${spec.summary} (text/event-stream)`, roles: spec.roles, response: z.string() };
    if (spec.query) doc.query = spec.query;
    this.docs.push(doc);
    this.app.get(spec.url, async (request, reply) => {
      const caller = await this.auth.authenticate({ method: request.method, url: request.url, headers: request.headers, rawBody: undefined });
      requireRole(caller, spec.roles, spec.what);
      const query = (spec.query ? parseWire(spec.query, request.query, 'query') : undefined) as Out<Q>;
      const closed = new AbortController();
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      res.write(': ascend event stream\n\n');
      res.once('close', () => closed.abort());
      const signal = AbortSignal.any([closed.signal, this.shutdown]);
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
      const send = (e: { id?: string; event: string; data: string }): boolean =>
        res.write(`${e.id !== undefined ? `id: ${e.id}\n` : ''}event: ${e.event}\ndata: ${e.data.replace(/\n/g, '\ndata: ')}\n\n`);
      try {
        await spec.handler(
          {
            caller,
            scope: this.scopeOf(caller.org),
            params: undefined,
            query,
            body: undefined,
            header: (name) => {
              const value = request.headers[name.toLowerCase()];
              return Array.isArray(value) ? value[0] : value;
            },
            signal,
            stillAuthorized: () => this.auth.stillValid(request.headers),
          },
          send,
        );
      } catch (err) {
        request.log.error({ err }, 'event stream failed');
      } finally {
        clearInterval(heartbeat);
        res.end();
      }
    });
  }

  add<P extends z.core.$ZodType | undefined = undefined, Q extends z.core.$ZodType | undefined = undefined, B extends z.core.$ZodType | undefined = undefined>(
    spec: RouteSpec<P, Q, B>,
  ): void {
    const doc: RouteDoc = { method: spec.method, url: spec.url, summary: spec.summary, roles: spec.roles, response: spec.response };
    if (spec.params) doc.params = spec.params;
    if (spec.query) doc.query = spec.query;
    if (spec.body) doc.body = spec.body;
    this.docs.push(doc);
    this.app.route({
      method: spec.method,
      url: spec.url,
      handler: async (request, reply) => {
        const caller = await this.auth.authenticate({
          method: request.method,
          url: request.url,
          headers: request.headers,
          rawBody: this.rawBodyOf(request),
        });
        requireRole(caller, spec.roles, spec.what);
        const params = (spec.params ? parseWire(spec.params, request.params, 'params') : undefined) as Out<P>;
        const query = (spec.query ? parseWire(spec.query, request.query, 'query') : undefined) as Out<Q>;
        const body = (spec.body ? parseWire(spec.body, request.body, 'body') : undefined) as Out<B>;
        const ctx = new RequestContext<Out<P>, Out<Q>, Out<B>>(caller, this.scopeOf(caller.org), params, query, body, request, reply, this.shutdown);
        try {
          return await spec.handler(ctx);
        } finally {
          ctx.release();
        }
      },
    });
  }
}

/**
 * What a route's handler gets, one per request. A class rather than an object literal: a getter
 * in a literal costs an accessor pair that V8 allocates in the old generation on every request,
 * and that pair, dead but not yet collected, kept the whole request reachable through each
 * young-generation collection (docs/architecture.md, "Garbage the server leaves").
 */
class RequestContext<P, Q, B> implements RouteContext<P, Q, B> {
  private abortSignal: AbortSignal | undefined;
  private onClose: (() => void) | undefined;

  constructor(
    readonly caller: Caller,
    readonly scope: OrgScope,
    readonly params: P,
    readonly query: Q,
    readonly body: B,
    private readonly request: FastifyRequest,
    private readonly reply: FastifyReply,
    private readonly shutdown: AbortSignal,
  ) {}

  header(name: string): string | undefined {
    const value = this.request.headers[name.toLowerCase()];
    return Array.isArray(value) ? value[0] : value;
  }

  stillAuthorized(): Promise<boolean> {
    return Promise.resolve(true);
  }

  /** Made only for handlers that read it (long-polls): making one per request showed up in profiles. */
  get signal(): AbortSignal {
    if (!this.abortSignal) {
      const closed = new AbortController();
      this.onClose = () => closed.abort();
      this.reply.raw.once('close', this.onClose); // the connection went away (or the answer was sent)
      this.abortSignal = AbortSignal.any([closed.signal, this.shutdown]);
    }
    return this.abortSignal;
  }

  /** The answer is out: stop listening for the connection's close. */
  release(): void {
    if (this.onClose) this.reply.raw.off('close', this.onClose);
  }
}
