/**
 * `GET /v1/events` on a real server: live server-sent events of the caller's organisation,
 * resumable with Last-Event-ID, refused to agent keys.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callDigest } from '../../src/core/call-digest.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from './helpers.js';
import { eventually, WOKEN_WITHIN_MS } from '../helpers.js';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServerProcess();
});
afterAll(async () => {
  await disposeServer(server);
});

interface Sse {
  id?: string;
  event: string;
  data: any;
  at: number;
}

/** Open the stream and collect parsed events until `close()`; resolves once the stream is `ready` (or refused). */
async function follow(key: string, headers: Record<string, string> = {}, query = ''): Promise<{ events: Sse[]; close(): void; status: number }> {
  const controller = new AbortController();
  const response = await fetch(`${server.url}/v1/events${query}`, { headers: { authorization: `Bearer ${key}`, ...headers }, signal: controller.signal });
  const events: Sse[] = [];
  if (response.ok && response.body) {
    void (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const fields = Object.fromEntries(block.split('\n').filter((l) => !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
            if (fields.event && fields.data !== undefined) events.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data), at: Date.now() });
          }
        }
      } catch {
        // aborted
      }
    })();
  }
  // Everything after `ready` is sent: wait for it rather than for a guessed time.
  if (response.ok) await eventually(() => events.some((e) => e.event === 'ready'), 10_000);
  return { events, close: () => controller.abort(), status: response.status };
}

function evaluate(key: Parameters<typeof api>[3], agentId: string, actionType: string, parameters: Record<string, unknown>) {
  return api(server, 'POST', '/v1/actions/evaluate', key, { agentId, actionType, parameters, digest: callDigest({ agentId, actionType, resource: '', parameters }) });
}

describe('/v1/events', () => {
  it('streams approval requests and decisions live, only of the organisation', async () => {
    const stream = await follow(server.keys.approver.apiKey);
    expect(stream.status).toBe(200);
    await evaluate(server.keys.otherAgent, 'theirs', 'payments.transfer', { amount: 5000 });
    const sentAt = Date.now();
    const d = await evaluate(server.keys.agent, 'ours', 'payments.transfer', { amount: 5000 });
    const requested = await eventually(() => stream.events.find((e) => e.event === 'approval.requested' && e.data.approvalId === d.body.approvalRequestId), 10_000, 5);
    // Live: pushed on the commit, not found by a client polling every few seconds.
    expect(requested.at - sentAt).toBeLessThan(WOKEN_WITHIN_MS);
    await api(server, 'POST', `/v1/approvals/${d.body.approvalRequestId}/approve`, server.keys.approver, {});
    await eventually(() => stream.events.find((e) => e.event === 'approval.approved'), 10_000, 5);
    expect(stream.events.some((e) => String(e.data.agentId).includes('theirs'))).toBe(false);
    stream.close();
  });

  it('resumes after Last-Event-ID without missing events', async () => {
    const first = await follow(server.keys.approver.apiKey);
    await evaluate(server.keys.agent, 'resumer', 'db.query', { sql: 'select 1' });
    const seen = await eventually(() => first.events.find((e) => e.data.agentId === 'resumer'), 10_000, 5);
    first.close();
    await evaluate(server.keys.agent, 'resumer', 'db.query', { sql: 'select 2' }); // while disconnected
    const second = await follow(server.keys.approver.apiKey, { 'last-event-id': seen.id! });
    const missed = await eventually(() => second.events.find((e) => e.data.agentId === 'resumer' && e.data.data?.parameters?.sql === 'select 2'), 10_000, 5);
    expect(Number(missed.id)).toBeGreaterThan(Number(seen.id));
    second.close();
  });

  it('ends a stream whose key is revoked', async () => {
    const { generateApiKey } = await import('../../src/server/api-keys.js');
    const { openSqliteStore } = await import('../../src/store/sqlite.js');
    const made = generateApiKey({ name: 'temp-approver', role: 'approver', org: 'default', createdBy: 'test' });
    const store = openSqliteStore(server.dbPath);
    await store.createApiKey(made.record);
    const response = await fetch(`${server.url}/v1/events`, { headers: { authorization: `Bearer ${made.apiKey}` } });
    expect(response.status).toBe(200);
    const started = Date.now();
    await store.revokeApiKey(made.record.keyId, 'test', new Date().toISOString());
    await store.close();
    const text = await response.text(); // resolves when the server ends the stream
    expect(text).toContain('revoked');
    // The stream rechecks its key at least every second; without the check it would never end.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('is refused to an agent key', async () => {
    const stream = await follow(server.keys.agent.apiKey);
    expect(stream.status).toBe(403);
  });
});
