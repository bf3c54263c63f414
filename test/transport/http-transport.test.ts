/**
 * The HTTP transport against real local HTTP servers that misbehave on purpose: the breaker,
 * the retries and their deadline, error mapping, idempotency keys, signing, and answers the
 * client does not understand. Each case is one of the original Python SDK's failures
 * (docs/architecture.md#lessons-from-the-original-python-sdk).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { callDigest } from '../../src/core/call-digest.js';
import {
  AuthenticationError,
  AuthorizationError,
  CircuitBreakerOpenError,
  ConnectionError,
  ProtocolError,
  RateLimitError,
  TimeoutError,
  ValidationError,
} from '../../src/core/errors.js';
import { verifyRequestSignature } from '../../src/core/signing.js';
import { HttpTransport, type HttpTransportOptions } from '../../src/transport/http.js';
import { parseRetryAfter } from '../../src/transport/http-status.js';
import type { EvaluationRequest } from '../../src/decision/request.js';

interface Hit {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

type Answer = { status: number; body?: unknown; headers?: Record<string, string>; delayMs?: number } | 'hang' | 'destroy';
type Responder = (hit: Hit, n: number) => Answer | Promise<Answer>;

const servers: http.Server[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function fakeServer(respond: Responder): Promise<{ url: string; hits: Hit[] }> {
  const hits: Hit[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const hit: Hit = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) };
      hits.push(hit);
      void Promise.resolve(respond(hit, hits.length)).then((answer) => {
        if (answer === 'hang') return;
        if (answer === 'destroy') return void req.socket.destroy();
        const send = (): void => {
          res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
          res.end(answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
        };
        if (answer.delayMs) setTimeout(send, answer.delayMs);
        else send();
      });
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

function transport(url: string, extra: Partial<HttpTransportOptions> = {}): HttpTransport {
  return new HttpTransport({ apiUrl: url, apiKey: 'ak_0123456789abcdef_' + 'x'.repeat(43), timeoutMs: 2000, maxRetries: 3, retryBaseDelayMs: 5, ...extra });
}

const PARAMS = { sql: 'select 1' };
function request(extra: Partial<EvaluationRequest> = {}): EvaluationRequest {
  return {
    agentId: 'a1',
    actionType: 'db.query',
    resource: 'prod',
    parameters: PARAMS,
    redactedParameters: PARAMS,
    digest: callDigest({ agentId: 'a1', actionType: 'db.query', resource: 'prod', parameters: PARAMS }),
    context: {},
    requireHumanApproval: false,
    ...extra,
  };
}

function decision(actionId: string, d = 'allowed'): Record<string, unknown> {
  return {
    decision: d,
    reason: 'ok',
    riskScore: 5,
    riskLevel: 'low',
    riskFactors: [],
    matchedRules: ['reads'],
    policyViolations: [],
    requiredApprovers: [],
    approvalTimeoutSeconds: 60,
    mode: 'enforce',
    actionId,
    agentId: 'a1',
    actionType: 'db.query',
    resource: 'prod',
    conditions: [],
    decidedAt: new Date().toISOString(),
  };
}

describe('HttpTransport: circuit breaker', () => {
  it('opens on outage answers (the original Python SDK counted 5xx as successes) and then fails fast without calling', async () => {
    // The server reporting its store down, and a proxy in front of a server that does not answer.
    const answers = [
      { status: 503, body: { error: { code: 'store_error', message: 'disk full' } } },
      { status: 502, body: {} },
      { status: 503, body: { error: { code: 'store_error', message: 'disk full' } } },
    ];
    const { url, hits } = await fakeServer((_hit, n) => answers[n % answers.length]!);
    const t = transport(url, { maxRetries: 0, circuitBreaker: { failureThreshold: 3, recoveryTimeoutMs: 60_000 } });
    for (let i = 0; i < 3; i++) await expect(t.evaluate(request())).rejects.toBeInstanceOf(ConnectionError);
    expect(t.circuitState).toBe('open');
    const err = await t.evaluate(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CircuitBreakerOpenError);
    expect((err as CircuitBreakerOpenError).recoveryTimeMs).toBeGreaterThan(50_000);
    expect(hits).toHaveLength(3); // the open breaker never reached the server
  });

  it("shows the breaker state in the client's metrics", async () => {
    const { url } = await fakeServer(() => ({ status: 502, body: {} }));
    const { AscendClient, FailMode } = await import('../../src/index.js');
    const { captureLogs, tempDir } = await import('../helpers.js');
    const logs = captureLogs();
    const client = new AscendClient({
      agentId: 'm1',
      apiUrl: url,
      apiKey: 'ak_0123456789abcdef_' + 'x'.repeat(43),
      failMode: FailMode.OPEN,
      maxRetries: 0,
      circuitBreaker: { failureThreshold: 2, recoveryTimeoutMs: 60_000 },
      dataDir: tempDir(),
      logDestination: logs.destination,
    });
    expect(client.metrics()).toContain('ascend_client_circuit_state 0');
    for (let i = 0; i < 3; i++) await client.evaluateAction({ actionType: 'db.query' });
    expect(client.circuitState).toBe('open');
    expect(client.metrics()).toContain('ascend_client_circuit_state 2');
    expect(client.metrics()).toContain('ascend_client_decisions_total{decision="fail_open"} 3');
    expect(logs.text()).toContain('circuit breaker opened');
    expect(logs.text()).not.toContain('x'.repeat(43)); // the key's secret never reaches a log
    await client.close();
  });

  it('does not count answers (4xx, a denial) as failures', async () => {
    let n = 0;
    const { url } = await fakeServer((hit) =>
      ++n % 2 === 0 ? { status: 400, body: { error: { code: 'validation_error', message: 'bad' } } } : { status: 200, body: decision(String(hit.headers['idempotency-key']), 'denied') },
    );
    const t = transport(url, { maxRetries: 0, circuitBreaker: { failureThreshold: 2 } });
    for (let i = 0; i < 10; i++) await t.evaluate(request()).catch(() => undefined);
    expect(t.circuitState).toBe('closed');
  });

  it('half-open lets only halfOpenMaxCalls trial calls through; the rest wait for their verdict, then it closes', async () => {
    let failing = true;
    // For each call that reached the server: how many answers the server had sent by then.
    const answeredBefore: number[] = [];
    let answered = 0;
    const held: Array<() => void> = [];
    const { url } = await fakeServer((hit) => {
      if (failing) return { status: 503, body: {} };
      answeredBefore.push(answered);
      const answer = { status: 200, body: decision(String(hit.headers['idempotency-key'])) };
      if (answeredBefore.length > 2) return (answered++, answer);
      // The trial calls' answers wait until both trials are in (or 5 s), then 150 ms more: time
      // for a third call to arrive early, were the breaker to let one through.
      return new Promise<Answer>((resolve) => {
        held.push(() => resolve((answered++, answer)));
        const release = (): unknown => setTimeout(() => held.splice(0).forEach((send) => send()), 150);
        if (held.length === 2) release();
        else setTimeout(() => held.length === 1 && release(), 5000);
      });
    });
    const t = transport(url, { maxRetries: 0, circuitBreaker: { failureThreshold: 1, recoveryTimeoutMs: 100, halfOpenMaxCalls: 2 } });
    await expect(t.evaluate(request())).rejects.toBeInstanceOf(ConnectionError);
    expect(t.circuitState).toBe('open');
    failing = false;
    // The breaker reads Date.now(): move that clock past recoveryTimeoutMs rather than wait it out
    // (timers stay real: the held answers above and the sockets need them).
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.advanceTimersByTime(150);
    const results = await Promise.all(Array.from({ length: 8 }, () => t.evaluate(request())));
    expect(results.every((r) => r.decision === 'allowed')).toBe(true);
    expect(answeredBefore).toHaveLength(8);
    // Two trial calls arrived before any answer; every other call only after their answers.
    expect(answeredBefore.slice(0, 2)).toEqual([0, 0]);
    expect(answeredBefore.slice(2).every((n) => n >= 1)).toBe(true);
    expect(t.circuitState).toBe('closed');
  });
});

describe('HttpTransport: retries and deadline', () => {
  it('with nothing listening fails within its deadline (the original Python SDK took ~20 s with a 1 s timeout)', async () => {
    const { url } = await fakeServer(() => ({ status: 200 }));
    const closed = servers.pop()!;
    closed.closeAllConnections();
    await new Promise((r) => closed.close(r));
    const t = transport(url, { timeoutMs: 1000, maxRetries: 10, retryBaseDelayMs: 50 });
    const started = Date.now();
    const err = await t.evaluate(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    // Within a small multiple of the 1 s deadline; ten back-offs past it would take ~10 s.
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('a back-off that ends past the deadline (a stalled event loop) reports the failure it retried, not a bare timeout', async () => {
    let stalled = false;
    const { url } = await fakeServer(() => {
      if (!stalled) {
        // Block this process (the client's too) during the client's 1 s back-off, past its 1.5 s deadline.
        stalled = true;
        setTimeout(() => {
          for (const until = Date.now() + 1500; Date.now() < until; );
        }, 100);
      }
      return { status: 429, body: {}, headers: { 'retry-after': '1' } };
    });
    const err = await transport(url, { timeoutMs: 1500, maxRetries: 3 }).evaluate(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
  });

  it('a hung server times out at the deadline as TimeoutError', async () => {
    const { url } = await fakeServer(() => 'hang');
    const t = transport(url, { timeoutMs: 300, maxRetries: 10 });
    const started = Date.now();
    const err = await t.getApproval('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    // The deadline covers the retries: eleven attempts of 300 ms each would take over 3.3 s.
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('retries evaluate after a 503 with the same Idempotency-Key, so one action is recorded', async () => {
    const { url, hits } = await fakeServer((hit, n) => (n < 3 ? { status: 503, body: {} } : { status: 200, body: decision(String(hit.headers['idempotency-key'])) }));
    const result = await transport(url).evaluate(request());
    expect(hits).toHaveLength(3);
    const keys = new Set(hits.map((h) => h.headers['idempotency-key']));
    expect(keys.size).toBe(1);
    expect(result.actionId).toBe([...keys][0]);
  });

  it('retries a dropped connection, but never an approval decision (not retry-safe)', async () => {
    const { url, hits } = await fakeServer(() => 'destroy');
    await expect(transport(url).decideApproval({ approvalId: 'ap1', status: 'approved', decidedBy: 'x', channel: 'api' })).rejects.toBeInstanceOf(ConnectionError);
    expect(hits).toHaveLength(1);
    hits.length = 0;
    await expect(transport(url).getApproval('ap1')).rejects.toBeInstanceOf(ConnectionError);
    expect(hits).toHaveLength(4); // 1 + maxRetries
  });

  it('429 honours Retry-After, in seconds or as an HTTP-date (which crashed the original Python SDK)', async () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter(new Date(Date.now() + 3000).toUTCString())).toBeGreaterThan(1000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
    const { url, hits } = await fakeServer((hit, n) =>
      n === 1 ? { status: 429, body: { error: { code: 'rate_limited', message: 'slow down' } }, headers: { 'retry-after': '0' } } : { status: 200, body: decision(String(hit.headers['idempotency-key'])) },
    );
    await transport(url).evaluate(request());
    expect(hits).toHaveLength(2);
    const { url: url2 } = await fakeServer(() => ({ status: 429, body: {}, headers: { 'retry-after': new Date(Date.now() + 60_000).toUTCString() } }));
    const err = await transport(url2).evaluate(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError); // the wait would pass the deadline: not retried
    expect((err as RateLimitError).retryAfterMs).toBeGreaterThan(50_000);
  });
});

describe('HttpTransport: answers', () => {
  it('maps statuses to error classes', async () => {
    const cases: Array<[number, new (...a: never[]) => Error]> = [
      [401, AuthenticationError],
      [403, AuthorizationError],
      [400, ValidationError],
      [413, ValidationError],
      [408, TimeoutError],
      [418, ProtocolError],
    ];
    for (const [status, cls] of cases) {
      const { url } = await fakeServer(() => ({ status, body: { error: { code: 'x', message: `status ${status}`, details: { issues: [{ path: 'body.actionType', message: 'bad' }] } } } }));
      const err = await transport(url, { maxRetries: 0 }).evaluate(request()).catch((e: unknown) => e);
      expect(err, String(status)).toBeInstanceOf(cls);
    }
    const { url } = await fakeServer(() => ({ status: 400, body: { error: { code: 'validation_error', message: 'bad', details: { issues: [{ path: 'body.actionType', message: 'required' }] } } } }));
    const err = (await transport(url).evaluate(request()).catch((e: unknown) => e)) as ValidationError;
    expect(err.issues[0]!.path).toBe('body.actionType');
  });

  it('an unknown decision is a denial — never pending, never allowed (the original Python SDK read it as pending)', async () => {
    for (const weird of ['approved', 'PENDING', 'maybe', 42]) {
      const { url } = await fakeServer((hit) => ({ status: 200, body: { ...decision(String(hit.headers['idempotency-key'])), decision: weird } }));
      const result = await transport(url).evaluate(request());
      expect(result.decision).toBe('denied');
      expect(result.conditions).toContain('unrecognised_answer');
    }
    const { url } = await fakeServer(() => ({ status: 200, body: 'not json at all' }));
    const err = await transport(url).evaluate(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError); // not "unreachable": fail-open never applies
  });

  it('sends redacted parameters only, and signs the exact bytes, method, path and time', async () => {
    const secret = 's'.repeat(32);
    const { url, hits } = await fakeServer((hit) => ({ status: 200, body: decision(String(hit.headers['idempotency-key'])) }));
    await transport(url, { signingSecret: secret }).evaluate(request({ parameters: { password: 'hunter2' }, redactedParameters: { password: '[REDACTED]' } }));
    await transport(url, { signingSecret: secret }).getApproval('ap-1').catch(() => undefined); // the fake answers a decision: only the request matters
    const [post, get] = hits;
    expect(post!.body.toString()).not.toContain('hunter2');
    for (const hit of [post!, get!]) {
      const check = verifyRequestSignature(secret, { method: hit.method, pathWithQuery: hit.url, headers: hit.headers, body: hit.body });
      expect(check.ok).toBe(true);
    }
    const tampered = verifyRequestSignature(secret, { method: 'POST', pathWithQuery: post!.url, headers: post!.headers, body: Buffer.from(post!.body.toString().replace('db.query', 'db.drop')) });
    expect(tampered).toMatchObject({ ok: false });
    const moved = verifyRequestSignature(secret, { method: 'POST', pathWithQuery: '/v1/approvals/x/approve', headers: post!.headers, body: post!.body });
    expect(moved).toMatchObject({ ok: false });
    expect(get!.headers['x-ascend-signature']).toMatch(/^v1=[0-9a-f]{64}$/); // bodiless requests are signed too
    // The idempotency key is signed: another key under the same signature does not verify.
    const rekeyed = verifyRequestSignature(secret, { method: 'POST', pathWithQuery: post!.url, headers: { ...post!.headers, 'idempotency-key': 'someone-elses-key-123' }, body: post!.body });
    expect(rekeyed).toMatchObject({ ok: false });
  });
});

describe('HttpTransport: settings that could never work are refused when the client is made', () => {
  it('an apiUrl without http(s), and a key with a line break (never echoed)', () => {
    expect(() => new HttpTransport({ apiUrl: 'localhost:8080', apiKey: 'ak_x' })).toThrow(ValidationError);
    expect(() => new HttpTransport({ apiUrl: 'ftp://example.com', apiKey: 'ak_x' })).toThrow(/http\(s\) URL/);
    const key = `ak_0123456789abcdef_${'s'.repeat(43)}\n`;
    let message = '';
    try {
      new HttpTransport({ apiUrl: 'http://127.0.0.1:1', apiKey: key });
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/line breaks/);
    expect(message).not.toContain('sss');
    expect(() => new HttpTransport({ apiUrl: 'https://ascend.example.com/', apiKey: key.trim() })).not.toThrow();
  });
});
