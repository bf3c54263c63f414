/**
 * Promise: bad input is an answer (a 400 naming the field), never an "outage". Fail-open and the
 * circuit breaker apply only when the decision point cannot be reached, so nothing a model puts
 * in a call can lock an agent out (CLOSED) or make every call run (OPEN).
 *
 * The attack: a NUL character (U+0000) in `resource`, `actionType` or `agentId`. PostgreSQL's
 * `text` cannot hold it (error 22021); the server used to answer 503, the client's breaker counted
 * it, and after five such calls a fail-open client ran every call — denied ones included.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AscendClient, FailMode, ServerError, ValidationError, type AscendClientOptions } from '../../src/index.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import { captureLogs, tempDir } from '../helpers.js';
import { PG_URL } from '../store/pg-helpers.js';
import { api, disposeServer, seedKeys, startServerProcess, type ServerProcess } from '../server/helpers.js';

const NUL = '\u0000';
const schema = `ascend_badinput_${randomBytes(4).toString('hex')}`;

let onPostgres: ServerProcess;
let onSqlite: ServerProcess;
beforeAll(async () => {
  const db = `${PG_URL}?schema=${schema}`;
  [onPostgres, onSqlite] = await Promise.all([startServerProcess({ db, keys: await seedKeys(db) }), startServerProcess()]);
}, 60_000);
afterAll(async () => {
  await Promise.all([disposeServer(onPostgres), disposeServer(onSqlite)]);
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

const clients: AscendClient[] = [];
const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function remoteClient(server: { url: string }, apiKey: string, opts: Partial<AscendClientOptions> = {}): AscendClient {
  const client = new AscendClient({
    agentId: 'agent-1',
    apiUrl: server.url,
    apiKey,
    dataDir: path.join(tempDir(), '.ascend'),
    logDestination: captureLogs().destination,
    timeoutMs: 5000,
    maxRetries: 0,
    circuitBreaker: { failureThreshold: 2, recoveryTimeoutMs: 60_000 },
    ...opts,
  });
  clients.push(client);
  return client;
}

const evaluateBody = (over: Record<string, unknown>) => ({
  agentId: 'agent-1',
  actionType: 'db.query',
  resource: 'prod',
  parameters: { sql: 'SELECT 1' },
  digest: 'a'.repeat(64),
  ...over,
});

describe.each([
  ['PostgreSQL', () => onPostgres],
  ['SQLite', () => onSqlite],
])('a server on %s answers bad text with a 400 naming the field', (_name, server) => {
  it('evaluate: NUL or an unpaired surrogate in resource, actionType or agentId', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ resource: `prod${NUL}` }, 'body.resource'],
      [{ actionType: `db.query${NUL}` }, 'body.actionType'],
      [{ agentId: `agent${NUL}1` }, 'body.agentId'],
      [{ resource: 'prod\ud800' }, 'body.resource'],
    ];
    for (const [over, field] of cases) {
      const answer = await api(server(), 'POST', '/v1/actions/evaluate', server().keys.agent, evaluateBody(over));
      expect(answer.status, field).toBe(400);
      expect(answer.body.error.details.issues.map((i: { path: string }) => i.path)).toContain(field);
    }
  });

  it('register, block and approval verdicts: the same', async () => {
    const s = server();
    const register = await api(s, 'POST', '/v1/agents', s.keys.agent, { agentId: 'agent-1', agentName: `bot${NUL}`, allowedResources: [`x${NUL}`] });
    expect(register.status).toBe(400);
    expect(register.body.error.details.issues.map((i: { path: string }) => i.path)).toEqual(expect.arrayContaining(['body.agentName', 'body.allowedResources.0']));
    const block = await api(s, 'POST', '/v1/agents/agent-1/block', s.keys.admin, { reason: `loop${NUL}` });
    expect(block.status).toBe(400);
    // An approval to decide: a pending call, then a verdict with a NUL in its comment.
    const pending = await api(s, 'POST', '/v1/actions/evaluate', s.keys.agent, evaluateBody({ actionType: 'payments.transfer', resource: '', parameters: { amount: 5000 } }));
    expect(pending.body.decision).toBe('pending');
    const verdict = await api(s, 'POST', `/v1/approvals/${pending.body.approvalRequestId}/approve`, s.keys.approver, { comment: `ok${NUL}` });
    expect(verdict.status).toBe(400);
    expect(verdict.body.error.details.issues[0].path).toBe('body.comment');
  });

  it('fifty hostile calls leave a fail-open client closed, and a denied call stays denied', async () => {
    const s = server();
    const client = remoteClient(s, s.keys.agent.apiKey, { failMode: FailMode.OPEN });
    for (let i = 0; i < 50; i++) {
      const err = await client.evaluateAction({ actionType: 'db.query', resource: `prod${NUL}${i}` }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).issues[0]?.path).toBe('resource');
    }
    expect(client.circuitState).toBe('closed');
    const denied = await client.evaluateAction({ actionType: 'db.execute', resource: 'prod', parameters: { sql: 'DROP TABLE users' } });
    expect(denied.decision).toBe('denied');
    expect(denied.conditions).not.toContain('fail_open_mode');
  });
});

describe('a store refusing a value is an answer, not an outage', () => {
  it('PostgreSQL: a NUL that slips past the edge is a ValidationError, not a StoreError', async () => {
    const store = await openPostgresStore(PG_URL, { schema });
    try {
      const err = await store
        .upsertAgent({ agentId: `nul${NUL}agent`, agentName: 'x', agentType: 'x', capabilities: [], allowedResources: [], metadata: {} }, new Date().toISOString())
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect(String((err as Error).message)).toContain('22021');
    } finally {
      await store.close();
    }
  });
});

describe('the client: only an unanswered request is "unreachable"', () => {
  async function answering(status: number, body: unknown): Promise<{ url: string; hits: () => number }> {
    let hits = 0;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        hits++;
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits };
  }

  it('a server that fails on a request (500 in Ascend shape) never opens the breaker nor turns fail-open on', async () => {
    const failing = await answering(500, { error: { code: 'internal_error', message: 'Internal server error (logged on the server)' } });
    const client = remoteClient(failing, 'ak_0123456789abcdef_' + 'x'.repeat(43), { failMode: FailMode.OPEN });
    let ran = 0;
    for (let i = 0; i < 10; i++) {
      const err = await client.govern({ actionType: 'db.execute', parameters: { sql: 'DROP TABLE users' } }, () => ran++).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ServerError);
    }
    expect(ran).toBe(0);
    expect(client.circuitState).toBe('closed');
    expect(failing.hits()).toBe(10);
  });

  it('an outage the server reports (503 store_error) or a proxy 502 is unreachable: the breaker opens', async () => {
    for (const [status, body] of [
      [503, { error: { code: 'store_error', message: 'disk full' } }],
      [502, '<html>Bad Gateway</html>'],
    ] as const) {
      const down = await answering(status, body);
      const client = remoteClient(down, 'ak_0123456789abcdef_' + 'x'.repeat(43), { failMode: FailMode.CLOSED });
      for (let i = 0; i < 2; i++) await client.evaluateAction({ actionType: 'db.query' }).catch(() => undefined);
      expect(client.circuitState).toBe('open');
    }
  });
});
