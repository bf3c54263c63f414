/**
 * `protocol: 'ascend-platform'`: the client against a stand-in of the hosted ASCEND platform
 * (test/fixtures/platform-stand-in.ts, built from the platform's wire specification). Every
 * mapping: headers and signature, register, submit and its answers (integer ids, odd words),
 * approvals polled and spent once, completion and failure, heartbeats, the kill switch, rate
 * limits, outages in both fail modes, and what the platform does not have.
 */
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AscendClient, AuthorizationError, ConnectionError, FailMode, UnsupportedError, ValidationError, type AscendClientOptions } from '../../src/index.js';
import { pythonJson } from '../../src/transport/platform-wire.js';
import { platformStandIn, standInClientOptions, type PlatformStandIn } from '../fixtures/platform-stand-in.js';
import { captureLogs, eventually, tempDir } from '../helpers.js';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

async function standIn(options: Parameters<typeof platformStandIn>[0] = {}): Promise<PlatformStandIn> {
  const platform = await platformStandIn(options);
  closers.push(() => platform.close());
  return platform;
}

function client(platform: { url: string; apiKey: string }, extra: Partial<AscendClientOptions> = {}): { client: AscendClient; logs: ReturnType<typeof captureLogs> } {
  const logs = captureLogs();
  const c = new AscendClient(standInClientOptions(platform, { logDestination: logs.destination, timeoutMs: 5000, ...extra }));
  closers.push(() => c.close());
  return { client: c, logs };
}

const submits = (p: PlatformStandIn) => p.requests.filter((r) => r.path === '/api/v1/actions/submit');

describe('the ASCEND platform protocol', () => {
  it('speaks the platform’s headers, and signs the exact bytes it sends (Python’s sorted JSON)', async () => {
    const platform = await standIn({ signingSecret: 'platform-signing-secret-0123456789' });
    const { client: c } = client(platform, { signingSecret: 'platform-signing-secret-0123456789', environment: 'staging' });
    const ran = await c.govern({ actionType: 'db.query', resource: 'crm', parameters: { sql: 'select 1', note: 'café ✓', nested: { b: 1, a: [1, 2] } } }, () => 'rows');
    expect(ran).toBe('rows');
    expect(platform.badSignatures).toBe(0);
    const submit = submits(platform)[0]!;
    expect(submit.headers['x-api-key']).toBe(platform.apiKey);
    expect(submit.headers.authorization).toBe(`Bearer ${platform.apiKey}`);
    expect(submit.headers['x-correlation-id']).toMatch(/^asc_[0-9a-f]{16}$/);
    expect(submit.headers['x-request-timestamp']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
    expect(submit.headers['x-environment']).toBe('staging');
    expect(submit.headers['x-sdk-version']).toMatch(/^\d+\.\d+\.\d+/);
    expect(submit.headers['user-agent']).toMatch(/^ascend-sdk-typescript\//);
    expect(submit.headers['x-signature']).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(submit.body).toContain('"note": "caf\\u00e9 \\u2713"');
    expect(submit.body).toBe(pythonJson(JSON.parse(submit.body)));
    const sent = JSON.parse(submit.body);
    expect(sent).toMatchObject({ agent_id: 'platform-agent', action_type: 'db.query', resource: 'crm', tool_name: 'db.query', description: 'db.query on crm' });
    expect(sent.action_details).toEqual({ sql: 'select 1', note: 'café ✓', nested: { b: 1, a: [1, 2] } });

    // Signed with another secret: the platform refuses, and nothing runs.
    const { client: wrong } = client(platform, { signingSecret: 'not-the-platform-secret-987654321' });
    await expect(wrong.govern({ actionType: 'db.query', parameters: {} }, () => 'ran')).rejects.toThrow(/did not accept|signature/i);
  });

  it('pythonJson writes what Python’s json.dumps(sort_keys=True) writes', () => {
    expect(pythonJson({ b: 1, a: [true, null, 'x'], c: { z: 1.5, y: 'é' } })).toBe('{"a": [true, null, "x"], "b": 1, "c": {"y": "\\u00e9", "z": 1.5}}');
    expect(pythonJson({ s: 'line\nbreak "quoted" \u{1F600}' })).toBe('{"s": "line\\nbreak \\"quoted\\" \\ud83d\\ude00"}');
  });

  it('registers (the platform’s fields), warns when the agent starts in a draft status, and sends heartbeats', async () => {
    const platform = await standIn({ agentStatus: 'draft' });
    // The heartbeat's interval runs on a fake clock this test moves (the requests stay real).
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { client: c, logs } = client(platform, { heartbeatIntervalMs: 1000 });
    const agent = await c.register({ agentType: 'support', capabilities: ['db.query'], allowedResources: ['crm'], metadata: { team: 'care' } });
    expect(platform.agents[0]).toMatchObject({ agent_id: 'platform-agent', display_name: 'platform-agent', agent_type: 'support', capabilities: ['db.query'], allowed_resources: ['crm'], metadata: { team: 'care' } });
    expect(agent.warnings?.[0]).toContain('"draft"');
    expect(logs.text()).toContain('draft');
    vi.advanceTimersByTime(1000); // one interval: a heartbeat after the one sent on registering
    await eventually(() => (platform.heartbeats.length >= 2 ? true : undefined), 10_000);
    expect(platform.heartbeats[0]).toMatchObject({ agent_id: 'platform-agent', metrics: {} });
    const short = new AscendClient({ agentId: 'ab', protocol: 'ascend-platform', apiUrl: platform.url, apiKey: platform.apiKey, dataDir: tempDir(), logLevel: 'silent' });
    closers.push(() => short.close());
    const refused = await short.register().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).issues[0]).toMatchObject({ path: 'body.agent_id' });
  });

  it('an allowed call runs and its completion reaches the platform; a failure too; a denial never runs', async () => {
    const platform = await standIn();
    const { client: c } = client(platform);
    const result = await c.govern({ actionType: 'db.query', parameters: { sql: 'select 1' } }, (decision) => decision);
    expect(result).toMatchObject({ decision: 'allowed', actionId: '1001', riskScore: 18, riskLevel: 'low', reason: 'Low risk' });
    const done = platform.actions.get(1001)!.outcomes[0]!;
    expect(done).toMatchObject({ route: 'complete', body: { action_id: '1001', status: 'completed', result: expect.anything() } });
    expect(done.body.completed_at).toMatch(/\+00:00$/);
    await expect(c.govern({ actionType: 'db.query', parameters: { sql: 'select 2' } }, () => {
      throw new Error('db down');
    })).rejects.toThrow('db down');
    expect(platform.actions.get(1002)!.outcomes[0]).toMatchObject({ route: 'fail', body: { status: 'failed', error: 'Error: db down' } });

    let ran = false;
    const denied = await c.govern({ actionType: 'db.execute', parameters: { sql: 'drop table users' } }, () => (ran = true)).catch((e: unknown) => e);
    expect(ran).toBe(false);
    expect(denied).toBeInstanceOf(AuthorizationError);
    expect((denied as AuthorizationError).message).toContain('Destructive operation blocked by policy');
    expect((denied as AuthorizationError).policyViolations).toEqual([{ code: 'platform_policy', message: 'no destructive SQL', ruleId: '7' }]);
  });

  it('a pending call waits for the platform’s approval, runs once, and its approval is spent', async () => {
    const platform = await standIn();
    const { client: c } = client(platform);
    let runs = 0;
    const call = c.govern({ actionType: 'payments.transfer', parameters: { amount: 5000 } }, () => ++runs);
    const action = await eventually(() => platform.actionWith((d) => d.amount === 5000));
    expect(action.status).toBe('pending_approval');
    expect(runs).toBe(0);
    platform.approve(action.id, 'carol@platform');
    expect(await call).toBe(1);
    const approval = await c.checkApproval(String(action.id));
    expect(approval).toMatchObject({ status: 'approved', decidedBy: 'carol@platform', consumedAt: expect.any(String) });
  });

  it('a rejection denies with the platform’s reason; an approval word it does not know is never a yes', async () => {
    const platform = await standIn();
    const { client: c } = client(platform);
    const rejected = c.govern({ actionType: 'payments.transfer', parameters: { amount: 6000 } }, () => 'ran').catch((e: unknown) => e);
    const a = await eventually(() => platform.actionWith((d) => d.amount === 6000));
    platform.reject(a.id, 'dave@platform', 'use the EU account');
    expect(String(await rejected)).toContain('use the EU account');

    const odd = c.govern({ actionType: 'payments.transfer', parameters: { amount: 7000 } }, () => 'ran').catch((e: unknown) => e);
    const b = await eventually(() => platform.actionWith((d) => d.amount === 7000));
    platform.setApprovalStatus(b.id, 'on_hold_for_review');
    const refusal = await odd;
    expect(refusal).toBeInstanceOf(AuthorizationError);
    expect(String(refusal)).toContain('on_hold_for_review');
  });

  it('a decision word it does not know, or an answer without an id, is a denial — never pending, never allowed', async () => {
    const platform = await standIn();
    const { client: c } = client(platform);
    for (const word of ['auto_approved_maybe', 'processing_error', '']) {
      platform.nextStatusWord = word;
      const d = await c.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' } });
      expect(d.decision, word).toBe('denied');
      expect(d.policyViolations[0]!.code).toBe('unrecognised_answer');
    }
    for (const [word, decision] of [['auto_approved', 'allowed'], ['escalated', 'pending'], ['rejected', 'denied']] as const) {
      platform.nextStatusWord = word;
      expect((await c.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' } })).decision).toBe(decision);
    }
  });

  it('honours Retry-After in seconds and as an HTTP date, and never sends a submit twice after the platform took it', async () => {
    const platform = await standIn();
    const { client: c } = client(platform, { timeoutMs: 10_000 });
    platform.rateLimit(1, '1', '/api/v1/actions/submit');
    const started = Date.now();
    expect((await c.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' } })).decision).toBe('allowed');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    platform.rateLimit(1, new Date(Date.now() + 1500).toUTCString(), '/api/v1/actions/submit');
    expect((await c.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 2' } })).decision).toBe('allowed');
    expect(submits(platform)).toHaveLength(4); // two refused with 429, two taken
    expect(platform.actions.size).toBe(2);

    // A platform that fails on the submit (500) may have taken it: not sent again, and nothing runs.
    platform.rule = () => {
      throw new Error('boom');
    };
    const before = submits(platform).length;
    let ran = false;
    await expect(c.govern({ actionType: 'db.query', parameters: { sql: 'select 3' } }, () => (ran = true))).rejects.toThrow();
    expect(submits(platform).length - before).toBe(1);
    expect(ran).toBe(false);
  });

  it('the kill switch: on, nothing is submitted or runs; unreadable three times, calls fail closed; readable again, calls go on', async () => {
    const platform = await standIn();
    const { client: c } = client(platform, { killSwitchPollMs: 100 });
    expect((await c.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' } })).decision).toBe('allowed');
    platform.setKillSwitch(true, 'incident 42');
    // Until the next read the platform itself refuses the submit (402); once read, nothing is submitted.
    const stopped = await eventually(async () => {
      const submitted = submits(platform).length;
      const d = await c.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' } });
      expect(d.decision).toBe('denied');
      return submits(platform).length === submitted ? d : undefined;
    });
    expect(stopped.reason).toContain('incident 42');
    expect(stopped.policyViolations[0]!.code).toBe('agent_blocked');

    platform.setKillSwitch(false);
    platform.killSwitchBroken = true;
    // Until three reads have failed, the last answer (off) stands; then nothing runs.
    const failed = await eventually(async () => {
      let ran = false;
      const err = await c.govern({ actionType: 'db.query', parameters: { sql: 'select 1' } }, () => (ran = true)).then(() => undefined, (e: unknown) => e);
      if (err instanceof ConnectionError) expect(ran).toBe(false);
      return err instanceof ConnectionError ? err : undefined;
    });
    expect(failed.message).toContain('kill switch could not be read');
    platform.killSwitchBroken = false;
    await eventually(async () => {
      const d = await c.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 9' } }).catch(() => undefined);
      return d?.decision === 'allowed' ? true : undefined;
    });
    // A 402 from the submit itself (the platform's own kill switch check) is a denial too.
    const direct = client(platform, { killSwitchPollMs: 60_000 }).client;
    await direct.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' } });
    platform.setKillSwitch(true, 'spend limit');
    const paid = await direct.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' } });
    expect(paid.decision).toBe('denied');
    expect(paid.reason).toContain('spend limit');
  });

  it('with the platform down: fail-closed runs nothing; fail-open runs, and the record reaches the platform when it is back', async () => {
    const platform = await standIn();
    const url = platform.url;
    await platform.close();
    const closed = client({ url, apiKey: platform.apiKey }, { timeoutMs: 1000 }).client;
    let ran = 0;
    await expect(closed.govern({ actionType: 'db.query', parameters: { sql: 'select 1' } }, () => ++ran)).rejects.toBeInstanceOf(ConnectionError);
    expect(ran).toBe(0);

    const dataDir = path.join(tempDir(), '.ascend');
    const open = client({ url, apiKey: platform.apiKey }, { timeoutMs: 1000, failMode: FailMode.OPEN, dataDir }).client;
    expect(await open.govern({ actionType: 'db.query', parameters: { sql: 'select 1' } }, () => ++ran)).toBe(1);
    await open.close();

    // Back on the same port: the next client of this data dir uploads what ran meanwhile.
    const port = Number(new URL(url).port);
    const back = await platformStandInOnPort(port);
    const later = client({ url, apiKey: back.apiKey }, { timeoutMs: 5000, failMode: FailMode.OPEN, dataDir }).client;
    await later.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 2' } });
    await later.uploadSpool();
    const uploaded = [...back.actions.values()].find((a) => a.body.context?.ascend_fail_open);
    expect(uploaded?.body.context.ascend_fail_open.reason).toContain('fail-open');
    expect(uploaded?.outcomes[0]).toMatchObject({ route: 'complete' });
  });

  it('says what the platform does not have: approving from the client, webhook formats; a JSON webhook is configured', async () => {
    const platform = await standIn();
    const { client: c } = client(platform);
    const pending = await c.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 9000 } });
    await expect(c.approve(pending.approvalRequestId!, { decidedBy: 'me' })).rejects.toBeInstanceOf(UnsupportedError);
    await expect(c.reject(pending.approvalRequestId!, { decidedBy: 'me' })).rejects.toThrow(/platform's console/);
    await expect(c.configureWebhook({ url: 'https://hooks.example.com/x', format: 'slack' })).rejects.toBeInstanceOf(UnsupportedError);
    const hook = await c.configureWebhook({ url: 'https://hooks.example.com/ascend', events: ['action.denied'] });
    expect(hook).toMatchObject({ webhookId: '1', url: 'https://hooks.example.com/ascend', events: ['action.denied'], secret: 'whsec_standin' });
    expect(c.transportKind).toBe('platform');
  });

  it('the older platform: ids as `id`, approvals read through the action’s status, outcomes at its own routes', async () => {
    const platform = await standIn({ older: true });
    const { client: c } = client(platform);
    let runs = 0;
    const call = c.govern({ actionType: 'payments.transfer', parameters: { amount: 5500 } }, () => ++runs);
    const action = await eventually(() => platform.actionWith((d) => d.amount === 5500));
    platform.approve(action.id);
    expect(await call).toBe(1);
    expect(platform.requests.some((r) => r.path === `/api/v1/actions/${action.id}/status`)).toBe(true);
    expect(action.outcomes[0]).toMatchObject({ route: 'completed', body: { status: 'completed' } });
  });

  it('logActionCompleted / logActionFailed after evaluateAction: the action is read back, then its outcome sent', async () => {
    const platform = await standIn();
    const { client: c } = client(platform);
    const d = await c.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' } });
    await c.logActionCompleted({ actionId: d.actionId, result: { rows: 3 }, durationMs: 12 });
    expect(platform.requests.some((r) => r.method === 'GET' && r.path === `/api/v1/actions/${d.actionId}`)).toBe(true);
    expect(platform.actions.get(Number(d.actionId))!.outcomes[0]).toMatchObject({ route: 'complete', body: { result: { rows: 3 }, duration_ms: 12 } });
    await expect(c.logActionFailed({ actionId: '999999', error: 'x' })).rejects.toThrow(/action/);
  });

  it('ASCEND_PROTOCOL in the environment chooses the platform, with ASCEND_API_URL and ASCEND_API_KEY', async () => {
    const platform = await standIn();
    const saved = { ...process.env };
    Object.assign(process.env, { ASCEND_PROTOCOL: 'ascend-platform', ASCEND_API_URL: platform.url, ASCEND_API_KEY: platform.apiKey });
    try {
      const c = new AscendClient({ agentId: 'env-agent', dataDir: tempDir(), logLevel: 'silent' });
      closers.push(() => c.close());
      expect(c.transportKind).toBe('platform');
      expect((await c.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' } })).decision).toBe('allowed');
      process.env.ASCEND_PROTOCOL = 'soap';
      expect(() => new AscendClient({ agentId: 'env-agent', dataDir: tempDir(), logLevel: 'silent' })).toThrow(/ASCEND_PROTOCOL must be/);
    } finally {
      for (const key of ['ASCEND_PROTOCOL', 'ASCEND_API_URL', 'ASCEND_API_KEY']) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
  });

  it('a call that must see a person is not run on the platform’s allow; settings are checked when the client is made', async () => {
    const platform = await standIn();
    const { client: c } = client(platform);
    const d = await c.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 1' }, requireHumanApproval: true });
    expect(d.decision).toBe('denied');
    expect(d.policyViolations.map((v) => v.code)).toContain('approval_required');
    expect(JSON.parse(submits(platform).at(-1)!.body).context).toMatchObject({ require_human_approval: true });
    expect(() => new AscendClient({ agentId: 'x-agent', protocol: 'ascend-platform', apiUrl: 'http://platform.example.com', apiKey: 'owkai_x', logLevel: 'silent' })).toThrow(/https/);
    expect(() => new AscendClient({ agentId: 'x-agent', protocol: 'ascend-platform', apiUrl: 'https://platform.example.com', apiKey: undefined, logLevel: 'silent' })).toThrow(/API key/);
  });
});

/** A stand-in listening on a given port (the platform coming back where it was). */
async function platformStandInOnPort(port: number): Promise<PlatformStandIn> {
  const p = await platformStandIn({ port });
  closers.push(() => p.close());
  return p;
}
