/**
 * A signed request cannot be replayed across a restart, nor to another `ascend serve` on the same
 * SQLite file. Real server processes on one database file and a key that must sign
 * (`keys.signer`): a request is taken once; after the server stops and starts again, within the
 * signature window, the same bytes are still refused and the audit holds one evaluation.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callDigest } from '../../src/core/call-digest.js';
import { signRequest } from '../../src/core/signing.js';
import { api, disposeServer, sendExactly, startServerProcess, type ServerProcess } from '../server/helpers.js';

let server: ServerProcess;
let sibling: ServerProcess | undefined;
beforeAll(async () => {
  server = await startServerProcess();
}, 60_000);
afterAll(async () => {
  await disposeServer(sibling);
  await disposeServer(server);
});

function evaluateBody(agentId: string) {
  const parameters = { sql: 'select 1' };
  return { agentId, actionType: 'db.query', resource: '', parameters, digest: callDigest({ agentId, actionType: 'db.query', resource: '', parameters }) };
}

/** Send exactly these bytes with these headers as the signing key to the server at `url`. */
function send(url: string, method: string, pathWithQuery: string, body: string | undefined, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return sendExactly(url, server.keys.signer.apiKey, { method, pathWithQuery, body, headers });
}

function expectReplayRefused(answer: { status: number; body: any }, what: string): void {
  expect(answer.status, `${what}: ${JSON.stringify(answer.body)}`).toBe(401);
  expect(answer.body.error.code).toBe('authentication_error');
  expect(answer.body.error.message, what).toMatch(/Replayed/);
}

/** How many evaluations the audit holds for `agentId`. */
async function evaluationsOf(agentId: string): Promise<number> {
  const audit = await api(server, 'GET', `/v1/audit?agentId=${agentId}&type=action.evaluated&limit=5000`, server.keys.approver);
  expect(audit.status).toBe(200);
  return audit.body.events.length as number;
}

describe('a signed request on a SQLite server', () => {
  it('is still refused when replayed after the server restarts, and is recorded once', async () => {
    const agentId = `restarted-${randomUUID().slice(0, 8)}`;
    const body = JSON.stringify(evaluateBody(agentId));
    const headers = signRequest(server.keys.signer.signingSecret!, { method: 'POST', pathWithQuery: '/v1/actions/evaluate', body });
    const get = signRequest(server.keys.signer.signingSecret!, { method: 'GET', pathWithQuery: '/v1/agents' });

    const first = await send(server.url, 'POST', '/v1/actions/evaluate', body, headers);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.decision).toBe('allowed');
    expect((await send(server.url, 'GET', '/v1/agents', undefined, get)).status).toBe(200);
    expectReplayRefused(await send(server.url, 'POST', '/v1/actions/evaluate', body, headers), 'replay before the restart');

    expect(await server.stop()).toBe(0);
    await server.restart();

    // Well inside the 5-minute window: only the remembered nonce stands in the way.
    expectReplayRefused(await send(server.url, 'POST', '/v1/actions/evaluate', body, headers), 'replay after the restart');
    expectReplayRefused(await send(server.url, 'GET', '/v1/agents', undefined, get), 'bodiless replay after the restart');
    expect(await evaluationsOf(agentId)).toBe(1);

    // The restarted server still takes new signed requests.
    const fresh = signRequest(server.keys.signer.signingSecret!, { method: 'GET', pathWithQuery: '/v1/agents' });
    expect((await send(server.url, 'GET', '/v1/agents', undefined, fresh)).status).toBe(200);
  }, 60_000);

  it('is refused when replayed to another server on the same database file', async () => {
    sibling = await startServerProcess({ db: `sqlite:${server.dbPath}`, keys: server.keys });
    const agentId = `sibling-${randomUUID().slice(0, 8)}`;
    const body = JSON.stringify(evaluateBody(agentId));
    const headers = signRequest(server.keys.signer.signingSecret!, { method: 'POST', pathWithQuery: '/v1/actions/evaluate', body });

    expect((await send(server.url, 'POST', '/v1/actions/evaluate', body, headers)).status).toBe(200);
    expectReplayRefused(await send(sibling.url, 'POST', '/v1/actions/evaluate', body, headers), 'replay to the other server');
    expect(await evaluationsOf(agentId)).toBe(1);
  }, 60_000);
});
