/**
 * Promise: on the hosted ASCEND platform (protocol 'ascend-platform'), nothing runs unless the
 * platform plainly said yes to this call, or a person approved this call there. A stand-in
 * platform answers what a broken or hostile one might: bodies that are not JSON, the wrong
 * shape, words this client does not know, a yes for another call's approval, a yes that comes
 * after this process stopped waiting. Each is a denial or an error, and the tool never runs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { platformStandIn, standInClientOptions, type PlatformStandIn } from '../fixtures/platform-stand-in.js';
import { eventually } from '../helpers.js';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

async function setUp(): Promise<{ platform: PlatformStandIn; client: AscendClient }> {
  const platform = await platformStandIn();
  const client = new AscendClient(standInClientOptions(platform, { agentId: 'platform-target', timeoutMs: 3000, maxRetries: 0 }));
  closers.push(() => platform.close(), () => client.close());
  return { platform, client };
}

/** Govern one call; whether its tool ran, and how the call ended. */
async function attempt(client: AscendClient, parameters: Record<string, unknown> = { sql: 'select 1' }, actionType = 'db.query'): Promise<{ ran: boolean; outcome: unknown }> {
  let ran = false;
  const outcome = await client.govern({ actionType, parameters }, () => (ran = true)).catch((e: unknown) => e);
  return { ran, outcome };
}

describe('a platform answer never becomes a yes', () => {
  it('bodies that are not a decision: HTML, an array, a string, no id, a yes in the wrong field or with odd spelling', async () => {
    const { platform, client } = await setUp();
    await attempt(client); // the kill switch has been read once
    const answers = [
      '<html><body>Welcome to nginx</body></html>',
      '[{"status": "approved"}]',
      '"approved"',
      '{"status": "approved"}',
      '{"action_id": 5, "status": "approved "}',
      '{"action_id": 5, "status": "APPROVED_PENDING"}',
      '{"action_id": 5, "approved": true}',
      '{"action_id": {"id": 5}, "status": "approved"}',
      '{"action_id": 5, "decision": "maybe", "status": "approved"}',
    ];
    for (const body of answers) {
      platform.answerNext('/api/v1/actions/submit', 200, body);
      const { ran, outcome } = await attempt(client);
      expect(ran, body).toBe(false);
      expect(outcome, body).toBeInstanceOf(Error);
    }
  });

  it('one approval the platform hands to two calls lets exactly one of them run, once', async () => {
    const { platform, client } = await setUp();
    const first = attempt(client, { amount: 5001 }, 'payments.transfer');
    const a = await eventually(() => platform.actionWith((d) => d.amount === 5001));
    // A confused platform answers the next call with the same approval request.
    platform.answerNext('/api/v1/actions/submit', 200, JSON.stringify({ action_id: 7001, status: 'pending_approval', approval_request_id: String(a.id), risk_score: 85 }));
    const second = attempt(client, { amount: 5002 }, 'payments.transfer');
    await eventually(() => platform.requests.filter((r) => r.path === `/api/sdk/approval/${a.id}`).length >= 2 || undefined);
    platform.approve(a.id);
    const results = await Promise.all([first, second]);
    expect(results.filter((r) => r.ran)).toHaveLength(1);
    expect(String(results.find((r) => !r.ran)!.outcome)).toMatch(/different call|already used/);
    // Spent: the same call made again asks anew, and does not run on the old yes.
    expect((await client.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 5001 } })).decision).toBe('pending');
  });

  it('a yes that comes after this process stopped waiting runs nothing', async () => {
    const { platform, client } = await setUp();
    const waited = await client.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 5003 }, waitForApproval: true, approvalTimeoutMs: 300 });
    expect(waited.decision).toBe('denied');
    const action = platform.actionWith((d) => d.amount === 5003)!;
    platform.approve(action.id);
    const late = await client.checkApproval(String(action.id));
    expect(late.status).toBe('expired');
    expect(await client.waitForApproval(String(action.id), { timeoutMs: 500 }).then((r) => r.status)).toBe('expired');
  });

  it('an approval answer that is not a decision ends the wait as a rejection', async () => {
    const { platform, client } = await setUp();
    const call = attempt(client, { amount: 5004 }, 'payments.transfer');
    const action = await eventually(() => platform.actionWith((d) => d.amount === 5004));
    platform.answerNext(`/api/sdk/approval/${action.id}`, 200, '{"status": {"value": "approved"}}');
    const { ran, outcome } = await call;
    expect(ran).toBe(false);
    expect(String(outcome)).toMatch(/does not understand/);
  });
});
