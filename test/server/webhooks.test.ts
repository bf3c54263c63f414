/**
 * Webhooks from a real server process to real local HTTP receivers: signed (verifiable over the
 * exact bytes), each event delivered once, retried with back-off when the receiver fails,
 * dead-lettered and visible when it stays down, scoped to the organisation. And `/metrics`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AscendClient, AuthorizationError, verifyWebhookSignature } from '../../src/index.js';
import { callDigest } from '../../src/core/call-digest.js';
import { captureLogs, eventually, tempDir } from '../helpers.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from './helpers.js';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

async function receiver(fail: (n: number) => boolean = () => false): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  let n = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (fail(++n)) {
        res.writeHead(503).end('busy');
        return;
      }
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

let server: ServerProcess;
beforeAll(async () => {
  server = await startServerProcess({ args: ['--webhook-attempts', '3', '--webhook-retry-ms', '50', '--allow-private-webhooks'] });
});
afterAll(async () => {
  await disposeServer(server);
});

/**
 * Until the server has no delivery of the webhook left to send: each one made so far was
 * delivered (or dead-lettered). Deliveries are made from the audit trail in order, so once an
 * event has arrived, every delivery of an earlier event — a duplicate, another organisation's, if
 * one were made — exists; once none is pending, each has reached the receiver. A count to wait
 * for, not a time.
 */
async function deliveriesSettled(webhookId: string): Promise<void> {
  await eventually(async () => (await api(server, 'GET', `/v1/webhooks/${webhookId}/deliveries?status=pending`, server.keys.admin)).body.deliveries.length === 0, 10_000);
}

function adminClient(): AscendClient {
  return new AscendClient({ agentId: 'hook-agent', apiUrl: server.url, apiKey: server.keys.admin.apiKey, dataDir: tempDir(), logDestination: captureLogs().destination });
}

describe('webhooks', () => {
  it('delivers each subscribed event once, signed with the customer secret over the exact body', async () => {
    const sink = await receiver();
    const client = adminClient();
    try {
      const secret = 'customer-secret-0123456789';
      const hook = await client.configureWebhook({ url: sink.url, secret });
      expect(hook.secret).toBeUndefined(); // the customer's own secret is never echoed
      await client.govern({ actionType: 'db.query', parameters: { sql: 'select 1' } }, () => 1);
      await client.govern({ actionType: 'db.execute', parameters: { sql: 'drop table t' } }, () => 1).catch((e: unknown) => expect(e).toBeInstanceOf(AuthorizationError));
      await client.govern({ actionType: 'db.query', parameters: { sql: 'select 2' } }, () => {
        throw new Error('db down');
      }).catch(() => undefined);
      const pending = await client.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 5000 } });
      await api(server, 'POST', `/v1/approvals/${pending.approvalRequestId}/approve`, server.keys.approver, {});

      const want = ['action.evaluated', 'action.completed', 'action.denied', 'action.failed', 'approval.requested', 'action.approved'];
      await eventually(() => want.every((e) => sink.received.some((r) => r.headers['x-ascend-event'] === e)), 10_000);
      for (const r of sink.received) {
        expect(verifyWebhookSignature({ secret, body: r.body, headers: r.headers })).toEqual({ ok: true });
        expect(verifyWebhookSignature({ secret: 'someone-elses-secret-000', body: r.body, headers: r.headers }).ok).toBe(false);
        expect(verifyWebhookSignature({ secret, body: r.body.replace('hook-agent', 'evil-agent'), headers: r.headers }).ok).toBe(false);
        expect(JSON.parse(r.body).agentId).toBe('hook-agent');
      }
      // Once each: no two deliveries of the same event for the same audit row.
      await deliveriesSettled(hook.webhookId);
      const keys = sink.received.map((r) => `${JSON.parse(r.body).auditSeq}/${r.headers['x-ascend-event']}`);
      expect(new Set(keys).size).toBe(keys.length);
      const denial = sink.received.find((r) => r.headers['x-ascend-event'] === 'action.denied')!;
      expect(JSON.parse(denial.body).data.reason).toContain('Dropping tables');
    } finally {
      await client.close();
      await sink.close();
    }
  });

  it('retries a failing receiver with back-off until it answers', async () => {
    const sink = await receiver((n) => n <= 2);
    const hook = await api(server, 'POST', '/v1/webhooks', server.keys.admin, { url: sink.url, events: ['action.evaluated'] });
    expect(hook.status).toBe(200);
    expect(hook.body.secret).toMatch(/^[A-Za-z0-9_-]{43}$/); // made for us, shown once
    const parameters = { sql: 'select 3' };
    await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, { agentId: 'r1', actionType: 'db.query', parameters, digest: callDigest({ agentId: 'r1', actionType: 'db.query', resource: '', parameters }) });
    await eventually(() => sink.received.length >= 1, 10_000);
    // The server records the delivery once it has read the receiver's answer, a moment later.
    const delivered = await eventually(async () => {
      const deliveries = await api(server, 'GET', `/v1/webhooks/${hook.body.webhookId}/deliveries?status=delivered`, server.keys.admin);
      return deliveries.body.deliveries[0];
    });
    expect(delivered).toMatchObject({ status: 'delivered', attempts: 3 });
    const listed = await api(server, 'GET', '/v1/webhooks', server.keys.admin);
    expect(JSON.stringify(listed.body)).not.toContain(hook.body.secret);
    await sink.close();
  });

  it('dead-letters after the last attempt when the receiver is down, and shows it', async () => {
    const sink = await receiver();
    const url = sink.url;
    await sink.close(); // nothing listens there now
    const hook = await api(server, 'POST', '/v1/webhooks', server.keys.admin, { url, events: ['action.evaluated'] });
    const parameters = { sql: 'select 4' };
    await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, { agentId: 'r2', actionType: 'db.query', parameters, digest: callDigest({ agentId: 'r2', actionType: 'db.query', resource: '', parameters }) });
    const dead = await eventually(async () => {
      const r = await api(server, 'GET', `/v1/webhooks/${hook.body.webhookId}/deliveries?status=dead`, server.keys.admin);
      return r.body.deliveries.length > 0 ? r.body.deliveries : undefined;
    }, 10_000);
    expect(dead[0]).toMatchObject({ status: 'dead', attempts: 3 });
    expect(dead[0].lastError).toContain('cannot reach');
    const metrics = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.keys.admin.apiKey}` } }).then((r) => r.text());
    expect(metrics).toMatch(/ascend_webhook_deliveries\{status="dead"\} [1-9]/);
    expect(metrics).toMatch(/ascend_webhook_attempts_total\{outcome="dead"\} [1-9]/);
    await api(server, 'DELETE', `/v1/webhooks/${hook.body.webhookId}`, server.keys.admin);
  });

  it("sends an organisation only its own agents' events; agent keys cannot configure webhooks", async () => {
    const sink = await receiver();
    const denied = await api(server, 'POST', '/v1/webhooks', server.keys.agent, { url: sink.url });
    expect(denied.status).toBe(403);
    const hook = await api(server, 'POST', '/v1/webhooks', server.keys.admin, { url: sink.url, events: ['action.evaluated'] });
    const parameters = { sql: 'select 5' };
    const body = (agentId: string) => ({ agentId, actionType: 'db.query', parameters, digest: callDigest({ agentId, actionType: 'db.query', resource: '', parameters }) });
    await api(server, 'POST', '/v1/actions/evaluate', server.keys.otherAgent, body('theirs'));
    await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, body('ours'));
    await eventually(() => sink.received.some((r) => JSON.parse(r.body).agentId === 'ours'), 10_000);
    await deliveriesSettled(hook.body.webhookId);
    expect(sink.received.some((r) => JSON.parse(r.body).agentId === 'theirs')).toBe(false);
    await api(server, 'DELETE', `/v1/webhooks/${hook.body.webhookId}`, server.keys.admin);
    await sink.close();
  });

  it('a bad webhook URL or event names the field', async () => {
    const r = await api(server, 'POST', '/v1/webhooks', server.keys.admin, { url: 'ftp://x', events: ['action.exploded'] });
    expect(r.status).toBe(400);
    const paths = r.body.error.details.issues.map((i: { path: string }) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['body.url', 'body.events.0']));
  });
});

describe('webhook targets', () => {
  it('a server refuses private, loopback and link-local targets unless the operator allows them', async () => {
    const { isPrivateAddress } = await import('../../src/server/webhooks/address-guard.js');
    for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '::1', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '0.0.0.0']) expect(isPrivateAddress(a), a).toBe(true);
    for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111']) expect(isPrivateAddress(a), a).toBe(false);
    const strict = await startServerProcess();
    try {
      for (const url of ['http://127.0.0.1:9/hook', 'http://169.254.169.254/latest/meta-data', 'http://localhost:5432/', 'http://[::1]:80/']) {
        const r = await api(strict, 'POST', '/v1/webhooks', strict.keys.admin, { url });
        expect(r.status, url).toBe(400);
        expect(r.body.error.details.issues[0].path).toBe('body.url');
      }
    } finally {
      await disposeServer(strict);
    }
  });
});

describe('/metrics', () => {
  it('reports decisions by outcome, latency histograms and pending approvals in Prometheus format, to an admin key', async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.keys.approver.apiKey}` } })).status).toBe(403);
    const text = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.keys.admin.apiKey}` } }).then((r) => r.text());
    expect(text).toContain('# TYPE ascend_decisions_total counter');
    expect(text).toMatch(/ascend_decisions_total\{decision="allowed"\} [1-9]/);
    expect(text).toMatch(/ascend_decisions_total\{decision="denied"\} [1-9]/);
    expect(text).toMatch(/ascend_http_request_duration_seconds_bucket\{method="POST",route="\/v1\/actions\/evaluate",le="\+Inf"\} [1-9]/);
    expect(text).toMatch(/ascend_pending_approvals \d+/);
  });
});
