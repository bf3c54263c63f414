/**
 * The router's per-request context: what a handler reads from it, that its abort signal still
 * follows the connection and the server's shutdown, and that it is built without per-request
 * accessors or closures (a getter in a per-request object literal made V8 keep every request
 * reachable through young-generation collections; docs/architecture.md, "Garbage the server leaves").
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import * as z from 'zod';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiKeyAuthenticator, generateApiKey, type NewApiKey } from '../../src/server/api-keys.js';
import { RequestAuthenticator } from '../../src/server/auth.js';
import { Router, type OrgScope, type RouteContext } from '../../src/server/router.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';
import { tempDir } from '../helpers.js';

describe('Router request context', () => {
  let dir: string;
  let store: SqliteStore;
  let app: FastifyInstance;
  let url: string;
  let key: NewApiKey;
  let shutdown: AbortController;
  const seen: Array<RouteContext<unknown, unknown, unknown>> = [];
  let release: () => void = () => undefined;

  beforeEach(async () => {
    dir = tempDir();
    store = openSqliteStore(path.join(dir, 'ascend.db'));
    key = generateApiKey({ name: 'bot', role: 'agent', org: 'default', createdBy: 'test' });
    await store.createApiKey(key.record);
    app = Fastify();
    shutdown = new AbortController();
    const scope = { org: 'default' } as OrgScope; // the handlers below never touch the store
    const router = new Router(app, new RequestAuthenticator(new ApiKeyAuthenticator(store), { requireSigning: false }), () => scope, () => undefined, shutdown.signal);
    router.add({
      method: 'POST',
      url: '/echo',
      summary: 'echo',
      roles: ['agent'],
      what: 'echo',
      body: z.object({ n: z.number() }),
      response: z.unknown(),
      async handler(ctx) {
        seen.push(ctx);
        return { n: ctx.body.n, header: ctx.header('X-Test') ?? null, org: ctx.scope.org, authorized: await ctx.stillAuthorized() };
      },
    });
    router.add({
      method: 'GET',
      url: '/wait',
      summary: 'a long-poll that ends when its signal aborts',
      roles: ['agent'],
      what: 'wait',
      response: z.unknown(),
      async handler(ctx) {
        seen.push(ctx);
        const signal = ctx.signal;
        await new Promise<void>((resolve) => {
          release = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
        return { aborted: signal.aborted };
      },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    release();
    seen.length = 0;
    await app.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const auth = (): Record<string, string> => ({ authorization: `Bearer ${key.apiKey}` });

  it('hands the handler the parsed body, the headers, the scope; and carries no per-request accessor or closure', async () => {
    const res = await fetch(`${url}/echo`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', 'x-test': 'hello' }, body: JSON.stringify({ n: 7 }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ n: 7, header: 'hello', org: 'default', authorized: true });
    const ctx = seen[0]!;
    // Every own property is plain data: an accessor or a function made per request is what
    // kept requests reachable through scavenges.
    for (const name of Reflect.ownKeys(ctx)) {
      const descriptor = Object.getOwnPropertyDescriptor(ctx, name)!;
      expect(descriptor.get, String(name)).toBeUndefined();
      expect(typeof descriptor.value, String(name)).not.toBe('function');
    }
    expect(typeof ctx.header).toBe('function');
  });

  it('gives each request its own context', async () => {
    for (const n of [1, 2]) {
      const res = await fetch(`${url}/echo`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify({ n }) });
      expect(await res.json()).toMatchObject({ n, header: null });
    }
    expect(seen).toHaveLength(2);
    expect(seen[0]).not.toBe(seen[1]);
    expect(seen[0]!.body).toEqual({ n: 1 });
  });

  it("aborts a handler's signal when the server shuts down", async () => {
    const answer = fetch(`${url}/wait`, { headers: auth() });
    await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(1);
    shutdown.abort();
    const res = await answer;
    expect(await res.json()).toEqual({ aborted: true });
  });

  it("aborts a handler's signal when the client goes away", async () => {
    const request = http.get(`${url}/wait`, { headers: auth() });
    request.on('error', () => undefined); // destroyed below
    await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(1);
    const signal = seen[0]!.signal;
    expect(signal.aborted).toBe(false);
    request.destroy();
    await expect.poll(() => signal.aborted, { timeout: 10_000 }).toBe(true);
  });
});
