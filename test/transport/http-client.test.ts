/**
 * HttpClient against a real local HTTP server: keep-alive reuse, status and headers, the
 * deadline, cancellation, oversized answers and refused connections.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { HttpClient, HttpExchangeError } from '../../src/transport/http-client.js';
import { eventually } from '../helpers.js';

let server: http.Server;
let base: string;
let connections = 0;
let mediumRequests = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.url === '/echo') {
        res.writeHead(201, { 'content-type': 'application/json', 'retry-after': '7' }).end(JSON.stringify({ method: req.method, body, length: req.headers['content-length'] }));
      } else if (req.url === '/big') {
        res.writeHead(200);
        const chunk = Buffer.alloc(1024 * 1024, 'x');
        for (let i = 0; i < 17; i++) res.write(chunk);
        res.end();
      } else if (req.url === '/slow') {
        setTimeout(() => res.writeHead(200).end('late'), 10_000).unref();
      } else if (req.url === '/medium') {
        mediumRequests++;
        setTimeout(() => res.writeHead(200).end('done'), 150).unref();
      } else if (req.url === '/hangs-up-on-reuse') {
        // A keep-alive socket the server gave up on: the second request on it gets a reset.
        const served = (req.socket as { served?: number }).served ?? 0;
        (req.socket as { served?: number }).served = served + 1;
        if (served > 0) req.socket.destroy();
        else res.writeHead(200).end('first');
      } else {
        res.writeHead(404).end();
      }
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
afterEach(() => {
  vi.useRealTimers();
});

describe('HttpClient', () => {
  it('sends the body with its length, reads status, headers and text, and reuses one socket', async () => {
    const client = new HttpClient();
    const before = connections;
    for (let i = 0; i < 5; i++) {
      const answer = await client.send({ method: 'POST', url: new URL(`${base}/echo`), headers: { 'content-type': 'application/json' }, body: '{"é":1}', timeoutMs: 5000 });
      expect(answer.status).toBe(201);
      expect(answer.ok).toBe(true);
      expect(answer.header('Retry-After')).toBe('7');
      expect(JSON.parse(answer.text)).toEqual({ method: 'POST', body: '{"é":1}', length: '8' });
    }
    expect(connections - before).toBe(1);
    const missing = await client.send({ method: 'GET', url: new URL(`${base}/nope`), headers: {}, timeoutMs: 5000 });
    expect(missing).toMatchObject({ status: 404, ok: false, text: '' });
    client.close();
  });

  it('ends at the deadline, on cancellation, and on an answer over 16 MiB', async () => {
    const client = new HttpClient();
    const started = Date.now();
    await expect(client.send({ method: 'GET', url: new URL(`${base}/slow`), headers: {}, timeoutMs: 100 })).rejects.toMatchObject({ kind: 'timeout' });
    expect(Date.now() - started).toBeLessThan(5000); // at its deadline, not when the answer comes (10 s)
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await expect(client.send({ method: 'GET', url: new URL(`${base}/slow`), headers: {}, timeoutMs: 5000, signal: controller.signal })).rejects.toMatchObject({ kind: 'aborted' });
    await expect(client.send({ method: 'GET', url: new URL(`${base}/big`), headers: {}, timeoutMs: 5000 })).rejects.toMatchObject({ kind: 'too-large' });
    client.close();
  });

  it('names the system error when nothing listens', async () => {
    const client = new HttpClient();
    const err = await client.send({ method: 'GET', url: new URL('http://127.0.0.1:1/x'), headers: {}, timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpExchangeError);
    expect(err).toMatchObject({ kind: 'network', code: 'ECONNREFUSED' });
    client.close();
  });

  it('a synchronous failure (bad header value) is a rejection, and nothing fires later', async () => {
    // The exchange never reaches a socket: only its timer could fire later, on a clock this test moves.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const client = new HttpClient();
    const err = await client.send({ method: 'GET', url: new URL(`${base}/echo`), headers: { authorization: 'Bearer ak\n' }, timeoutMs: 50 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'invalid' });
    await vi.advanceTimersByTimeAsync(120); // past the would-be timer: the process is still here
    client.close();
  });

  it('close() lets an exchange in flight finish, then keeps no socket', async () => {
    const client = new HttpClient();
    const before = mediumRequests;
    const inFlight = client.send({ method: 'GET', url: new URL(`${base}/medium`), headers: {}, timeoutMs: 5000 });
    await eventually(() => mediumRequests > before); // the server has it; its answer comes 150 ms later
    client.close();
    await expect(inFlight).resolves.toMatchObject({ status: 200, text: 'done' });
    const connectionsBefore = connections;
    await client.send({ method: 'GET', url: new URL(`${base}/medium`), headers: {}, timeoutMs: 5000 });
    await client.send({ method: 'GET', url: new URL(`${base}/medium`), headers: {}, timeoutMs: 5000 });
    expect(connections - connectionsBefore).toBe(2); // not pooled after close
  });

  it('sends again, once, when a reused keep-alive socket turns out closed before any answer', async () => {
    const client = new HttpClient();
    const first = await client.send({ method: 'POST', url: new URL(`${base}/hangs-up-on-reuse`), headers: {}, body: '{}', timeoutMs: 5000 });
    expect(first.text).toBe('first');
    const before = connections;
    const second = await client.send({ method: 'POST', url: new URL(`${base}/hangs-up-on-reuse`), headers: {}, body: '{}', timeoutMs: 5000 });
    expect(second.text).toBe('first'); // answered on a fresh connection
    expect(connections - before).toBe(1);
    client.close();
  });
});
