/**
 * One HTTP exchange over Node's own `http` / `https` with keep-alive sockets. The transport used
 * `fetch` first; on Node 20 fetch builds web streams for each body and clones each request,
 * which cost 100–200 µs a call here more than the same exchange with `http.request`
 * (`npm run bench:server` prints both) — the client's share of a governed remote call.
 * Redirects are not followed (an answer in 3xx is not a decision).
 */
import { createRequire } from 'node:module';
import type http from 'node:http';
import type https from 'node:https';

/**
 * Node's `http` and `https`, loaded by the first client made. `require` rather than `import`: an
 * ESM import of `node:http` reads every export, which loads undici for its WebSocket getters —
 * 40–50 ms of every cold start of a process that only governs locally (docs/architecture.md).
 */
function nodeHttp(): { http: typeof http; https: typeof https } {
  if (loaded === undefined) {
    const require = createRequire(import.meta.url);
    loaded = { http: require('node:http') as typeof http, https: require('node:https') as typeof https };
  }
  return loaded;
}
let loaded: { http: typeof http; https: typeof https } | undefined;

/** What {@link HttpClient.send} needs. */
export interface HttpExchange {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
  /** Ends the exchange: the caller went away. */
  signal?: AbortSignal;
  /** Ends the exchange when no complete answer came within it. */
  timeoutMs: number;
}

/** An answer read to its end. */
export interface HttpAnswer {
  status: number;
  ok: boolean;
  header(name: string): string | undefined;
  text: string;
}

/** Why an exchange did not produce an answer. */
export class HttpExchangeError extends Error {
  constructor(
    readonly kind: 'timeout' | 'aborted' | 'network' | 'too-large' | 'invalid',
    message: string,
    /** The system error code (`ECONNREFUSED`, …) for `network`. */
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Largest answer read; beyond it the exchange fails (an answer is a decision, not a dump). */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

/** Errors of a kept-alive socket the server had already closed before our request reached it. */
const STALE_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE']);

/** Keep-alive HTTP(S) exchanges. */
export class HttpClient {
  private closed = false;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor() {
    // After close(), a socket that finishes its exchange is destroyed instead of kept.
    const keepUnlessClosed = (): boolean => !this.closed;
    const { http, https } = nodeHttp();
    this.httpAgent = new (class extends http.Agent {
      override keepSocketAlive(socket: import('node:net').Socket): boolean {
        // Node returns whether it kept the socket (its types say void).
        return keepUnlessClosed() && (super.keepSocketAlive(socket) as unknown as boolean) !== false;
      }
    })({ keepAlive: true, scheduling: 'lifo' });
    this.httpsAgent = new (class extends https.Agent {
      override keepSocketAlive(socket: import('node:net').Socket): boolean {
        // Node returns whether it kept the socket (its types say void).
        return keepUnlessClosed() && (super.keepSocketAlive(socket) as unknown as boolean) !== false;
      }
    })({ keepAlive: true, scheduling: 'lifo' });
  }

  /**
   * Send and read the whole answer. A request that fails on a reused keep-alive socket before
   * any answer arrives (the server had closed it) is sent once more on another: it never
   * reached the server.
   */
  async send(exchange: HttpExchange): Promise<HttpAnswer> {
    const started = Date.now();
    try {
      return await this.sendOnce(exchange);
    } catch (err) {
      if (!(err instanceof StaleSocketError)) throw err;
      return this.sendOnce({ ...exchange, timeoutMs: Math.max(1, exchange.timeoutMs - (Date.now() - started)) });
    }
  }

  private sendOnce(exchange: HttpExchange): Promise<HttpAnswer> {
    const { url } = exchange;
    if (exchange.signal?.aborted) return Promise.reject(new HttpExchangeError('aborted', 'The call was cancelled'));
    const secure = url.protocol === 'https:';
    const headers: Record<string, string | number> = { ...exchange.headers };
    if (exchange.body !== undefined) headers['content-length'] = Buffer.byteLength(exchange.body);
    let request: http.ClientRequest;
    try {
      // Throws at once for a bad protocol or header value: a rejection, never a crash later.
      const { http, https } = nodeHttp();
      request = (secure ? https : http).request({
        protocol: url.protocol,
        hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
        port: url.port || (secure ? 443 : 80),
        path: url.pathname + url.search,
        method: exchange.method,
        headers,
        agent: secure ? this.httpsAgent : this.httpAgent,
      });
    } catch (err) {
      return Promise.reject(new HttpExchangeError('invalid', (err as Error).message, (err as NodeJS.ErrnoException).code));
    }
    return new Promise<HttpAnswer>((resolve, reject) => {
      let settled = false;
      let answered = false;
      const finish = (error: Error | undefined, answer?: HttpAnswer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        exchange.signal?.removeEventListener('abort', onAbort);
        if (error) {
          request.destroy();
          reject(error);
        } else {
          resolve(answer!);
        }
      };
      const onAbort = (): void => finish(new HttpExchangeError('aborted', 'The call was cancelled'));
      const timer = setTimeout(() => finish(new HttpExchangeError('timeout', `no complete answer within ${exchange.timeoutMs} ms`)), exchange.timeoutMs);
      request.on('response', (response) => {
        answered = true;
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) finish(new HttpExchangeError('too-large', `the answer is larger than ${MAX_ANSWER_BYTES} bytes`));
          else chunks.push(chunk);
        });
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          const raw = response.headers;
          finish(undefined, {
            status,
            ok: status >= 200 && status < 300,
            header: (name) => {
              const value = raw[name.toLowerCase()];
              return Array.isArray(value) ? value.join(', ') : value;
            },
            text: chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'),
          });
        });
        response.on('error', (err: NodeJS.ErrnoException) => finish(new HttpExchangeError('network', err.message, err.code)));
      });
      request.on('error', (err: NodeJS.ErrnoException) => {
        if (!answered && request.reusedSocket && err.code !== undefined && STALE_SOCKET_CODES.has(err.code)) finish(new StaleSocketError(err.message, err.code));
        else finish(new HttpExchangeError('network', err.message, err.code));
      });
      exchange.signal?.addEventListener('abort', onAbort, { once: true });
      request.end(exchange.body);
    });
  }

  /**
   * Stop keeping sockets: idle ones close now; exchanges in flight finish, and their sockets
   * close after them.
   */
  close(): void {
    this.closed = true;
    for (const agent of [this.httpAgent, this.httpsAgent]) {
      for (const sockets of Object.values(agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
    }
  }
}

/** The reused socket was already closed by the server: {@link HttpClient.send} sends once more. */
class StaleSocketError extends HttpExchangeError {
  constructor(message: string, code: string) {
    super('network', message, code);
  }
}
