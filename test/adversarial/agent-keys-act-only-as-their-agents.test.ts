/**
 * Agent keys act only as their agents. `ascend keys create --role agent --agent ID` (repeated, or
 * a comma list; globs such as `billing-worker-*`) binds a key to agent ids, and the server refuses
 * (403, naming the agent id and the key's agents) every use of the key as another agent: register,
 * evaluate, outcomes, reads of actions, approvals and agents, waits, expiry, spending, fail-open
 * uploads. A blocked agent's process cannot carry on under another id. Keys without a binding
 * (every key made before) act as any agent of their organisation, as before. Real `ascend serve`
 * over SQLite and PostgreSQL, keys made with the real CLI, the remote client.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { callDigest } from '../../src/core/call-digest.js';
import { AuthorizationError } from '../../src/core/errors.js';
import { openDatabase, parseDatabaseTarget } from '../../src/server/database.js';
import { generateApiKey } from '../../src/server/api-keys.js';
import { captureLogs, runCli, tempDir } from '../helpers.js';
import { at, makeAction } from '../store/records.js';
import { PG_URL, withAdmin } from '../store/pg-helpers.js';
import { api, disposeServer, seedKeys, startServerProcess, type ServerProcess } from '../server/helpers.js';

/** `ascend keys create --json` with these arguments against `db`; the key string and record. */
async function createKey(db: string, args: string[]): Promise<{ apiKey: string; keyId: string; agentIds?: string[] }> {
  const made = await runCli(['keys', 'create', '--role', 'agent', '--json', '--db', db, ...args], { cwd: tempDir() });
  expect(made.code, made.stderr).toBe(0);
  return JSON.parse(made.stdout) as { apiKey: string; keyId: string; agentIds?: string[] };
}

function evaluateBody(agentId: string, actionType: string, parameters: Record<string, unknown>) {
  return { agentId, actionType, resource: '', parameters, digest: callDigest({ agentId, actionType, resource: '', parameters }) };
}

function registerBody(agentId: string) {
  return { agentId, agentName: agentId };
}

/** The refusal a bound key gets for `agentId`. */
function expectRefused(answer: { status: number; body: any }, agentId: string): void {
  expect(answer.status).toBe(403);
  expect(answer.body.error.code).toBe('authorization_error');
  expect(answer.body.error.message).toContain(`not as "${agentId}"`);
  expect(answer.body.error.message).toContain('"billing-bot"');
  expect(answer.body.error.message).toContain('"billing-worker-*"');
}

describe('agent keys act only as their agents (SQLite)', () => {
  let server: ServerProcess;
  let db: string;
  let bound: string;
  beforeAll(async () => {
    server = await startServerProcess();
    db = `sqlite:${server.dbPath}`;
    bound = (await createKey(db, ['--name', 'billing', '--agent', 'billing-bot', '--agent', 'billing-worker-*'])).apiKey;
  }, 60_000);
  afterAll(async () => {
    await disposeServer(server);
  });

  it('`keys create --agent` takes repeats and comma lists, `keys list` shows the binding, bad bindings are usage errors', async () => {
    const listed = await createKey(db, ['--name', 'ops', '--agent', 'ops-a,ops-b', '--agent', 'ops-c']);
    expect(listed.agentIds).toEqual(['ops-a', 'ops-b', 'ops-c']);
    const table = await runCli(['keys', 'list', '--db', db], { cwd: tempDir() });
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/AGENTS/);
    expect(table.stdout).toMatch(/billing-bot,billing-worker-\*/);
    expect(table.stdout).toMatch(/ops-a,ops-b,ops-c/);
    // A key made without --agent (the test server's own) acts as any agent.
    expect(table.stdout.split('\n').find((l) => l.includes(server.keys.agent.record.keyId))).toMatch(/\bany\b/);
    const json = JSON.parse((await runCli(['keys', 'list', '--json', '--db', db], { cwd: tempDir() })).stdout) as Array<{ keyId: string; agentIds?: string[] }>;
    expect(json.find((k) => k.keyId === listed.keyId)?.agentIds).toEqual(['ops-a', 'ops-b', 'ops-c']);
    expect(json.find((k) => k.keyId === server.keys.agent.record.keyId)?.agentIds).toBeUndefined();

    for (const [args, says] of [
      [['--role', 'approver', '--agent', 'x'], /only with --role agent|acts for people/],
      [['--role', 'agent', '--agent', 'bill[ing]'], /not supported/],
      [['--role', 'agent', '--agent', 'other::bot'], /never contain "::"/],
      [['--role', 'agent', '--agent', 'a,,b'], /empty agent id/],
    ] as const) {
      const r = await runCli(['keys', 'create', ...args, '--db', db], { cwd: tempDir() });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(says);
    }
  }, 120_000);

  it('register and evaluate as another agent are refused with 403 naming the agent and the key’s agents', async () => {
    expect((await api(server, 'POST', '/v1/agents', bound, registerBody('billing-bot'))).status).toBe(200);
    expect((await api(server, 'POST', '/v1/agents', bound, registerBody('billing-worker-7'))).status).toBe(200);
    expectRefused(await api(server, 'POST', '/v1/agents', bound, registerBody('payroll')), 'payroll');
    expect((await api(server, 'POST', '/v1/actions/evaluate', bound, evaluateBody('billing-worker-7', 'db.query', { sql: 'select 1' }))).body.decision).toBe('allowed');
    expectRefused(await api(server, 'POST', '/v1/actions/evaluate', bound, evaluateBody('payroll', 'db.query', { sql: 'select 1' })), 'payroll');
    // With an Idempotency-Key too: refused before anything is looked up.
    expectRefused(
      await api(server, 'POST', '/v1/actions/evaluate', bound, evaluateBody('payroll', 'db.query', { sql: 'select 1' }), { 'idempotency-key': `bound-${randomBytes(8).toString('hex')}` }),
      'payroll',
    );
  });

  it("a blocked agent's process cannot switch to another agent id with its key", async () => {
    const client = (agentId: string) =>
      new AscendClient({ agentId, apiUrl: server.url, apiKey: bound, dataDir: tempDir(), logDestination: captureLogs().destination });
    const blocked = client('billing-bot');
    const escaped = client('payroll-bot');
    try {
      expect((await api(server, 'POST', '/v1/agents/billing-bot/block', server.keys.admin, { reason: 'runaway' })).status).toBe(200);
      let ran = 0;
      await expect(blocked.govern({ actionType: 'db.query', parameters: { sql: 'select 1' } }, () => ran++)).rejects.toThrow(/runaway/);
      const refused = escaped.govern({ actionType: 'db.query', parameters: { sql: 'select 1' } }, () => ran++);
      await expect(refused).rejects.toBeInstanceOf(AuthorizationError);
      await expect(refused).rejects.toThrow(/not as "payroll-bot"/);
      expect(ran).toBe(0);
    } finally {
      await api(server, 'POST', '/v1/agents/billing-bot/unblock', server.keys.admin, {});
      await blocked.close();
      await escaped.close();
    }
  });

  it("reads, outcomes, waits, expiry, spending and uploads of another agent's records are refused; lists show the key's agents only", async () => {
    const unbound = server.keys.agent;
    // Another agent's records, made with a key that may act as anyone.
    const allowed = await api(server, 'POST', '/v1/actions/evaluate', unbound, evaluateBody('payroll', 'db.query', { sql: 'select 1' }));
    const pending = await api(server, 'POST', '/v1/actions/evaluate', unbound, evaluateBody('payroll', 'payments.transfer', { amount: 5000 }));
    const approvalId = pending.body.approvalRequestId as string;
    const mine = await api(server, 'POST', '/v1/actions/evaluate', bound, evaluateBody('billing-bot', 'payments.transfer', { amount: 5001 }));
    expect(mine.body.decision).toBe('pending');

    expectRefused(await api(server, 'GET', `/v1/actions/${allowed.body.actionId}`, bound), 'payroll');
    expectRefused(await api(server, 'POST', `/v1/actions/${allowed.body.actionId}/complete`, bound, { durationMs: 1 }), 'payroll');
    expectRefused(await api(server, 'POST', `/v1/actions/${allowed.body.actionId}/fail`, bound, { error: 'x', durationMs: 1 }), 'payroll');
    expectRefused(await api(server, 'GET', `/v1/approvals/${approvalId}`, bound), 'payroll');
    expectRefused(await api(server, 'GET', `/v1/approvals/${approvalId}/wait?timeoutMs=0`, bound), 'payroll');
    expectRefused(await api(server, 'POST', `/v1/approvals/${approvalId}/expire`, bound, {}), 'payroll');
    expectRefused(await api(server, 'POST', `/v1/approvals/${approvalId}/consume`, bound, { digest: 'a'.repeat(64) }), 'payroll');
    expectRefused(await api(server, 'GET', '/v1/approvals?agentId=payroll', bound), 'payroll');
    expectRefused(await api(server, 'GET', '/v1/agents/payroll', bound), 'payroll');
    expectRefused(await api(server, 'GET', '/v1/grants?agentId=payroll', bound), 'payroll');
    const forged = makeAction({ actionId: randomUUID(), agentId: 'payroll', conditions: ['fail_open_mode'], createdAt: at(0) });
    expectRefused(await api(server, 'POST', '/v1/actions/upload', bound, { kind: 'decision', action: forged }), 'payroll');
    expectRefused(
      await api(server, 'POST', '/v1/actions/upload', bound, { kind: 'outcome', outcome: { actionId: allowed.body.actionId, status: 'completed', durationMs: 1, recordedAt: new Date().toISOString() } }),
      'payroll',
    );
    // Nothing was changed by the refused calls.
    expect((await api(server, 'GET', `/v1/approvals/${approvalId}`, unbound)).body.status).toBe('pending');
    expect((await api(server, 'GET', `/v1/actions/${allowed.body.actionId}`, unbound)).body.outcome).toBeUndefined();

    const approvals = (await api(server, 'GET', '/v1/approvals?status=pending', bound)).body.approvals as Array<{ agentId: string }>;
    expect(approvals.length).toBeGreaterThan(0);
    expect(approvals.every((a) => a.agentId === 'billing-bot' || a.agentId.startsWith('billing-worker-'))).toBe(true);
    const agents = (await api(server, 'GET', '/v1/agents', bound)).body.agents as Array<{ agentId: string }>;
    expect(agents.map((a) => a.agentId).sort()).toEqual(['billing-bot', 'billing-worker-7']);
    // Its own records stay readable, and the key that may act as anyone still does.
    expect((await api(server, 'GET', `/v1/actions/${mine.body.actionId}`, bound)).status).toBe(200);
    expect((await api(server, 'GET', `/v1/approvals/${mine.body.approvalRequestId}`, bound)).status).toBe(200);
    expect((await api(server, 'GET', `/v1/approvals/${approvalId}`, unbound)).status).toBe(200);
    expect((await api(server, 'POST', `/v1/actions/${allowed.body.actionId}/complete`, unbound, { durationMs: 1 })).status).toBe(200);
  });
});

describe('agent keys act only as their agents (PostgreSQL)', () => {
  const schema = `ascend_bound_${randomBytes(4).toString('hex')}`;
  const db = `${PG_URL}?schema=${schema}`;
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess({ db, keys: await seedKeys(db) });
  }, 60_000);
  afterAll(async () => {
    await disposeServer(server);
    await withAdmin((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
  });

  it('the binding is stored, listed and enforced', async () => {
    const made = await createKey(db, ['--name', 'billing', '--agent', 'billing-bot,billing-worker-*']);
    const listed = await runCli(['keys', 'list', '--db', db], { cwd: tempDir() });
    expect(listed.stdout).toMatch(/billing-bot,billing-worker-\*/);
    expect((await api(server, 'POST', '/v1/actions/evaluate', made.apiKey, evaluateBody('billing-worker-1', 'db.query', { sql: 'select 1' }))).body.decision).toBe('allowed');
    expectRefused(await api(server, 'POST', '/v1/actions/evaluate', made.apiKey, evaluateBody('payroll', 'db.query', { sql: 'select 1' })), 'payroll');
    expect((await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, evaluateBody('payroll', 'db.query', { sql: 'select 1' }))).body.decision).toBe('allowed');
  }, 60_000);
});

describe('keys made before bindings existed', () => {
  it('keep working unrestricted once the database is migrated (SQLite and PostgreSQL)', async () => {
    const dir = tempDir();
    const schema = `ascend_prebind_${randomBytes(4).toString('hex')}`;
    const targets = [`sqlite:${dir}/ascend.db`, `${PG_URL}?schema=${schema}`];
    try {
      for (const target of targets) {
        const key = generateApiKey({ name: 'old-bot', role: 'agent', org: 'default', createdBy: 'test' });
        let store = await openDatabase(parseDatabaseTarget(target, dir));
        await store.createApiKey(key.record);
        await store.close();
        // Take the database back to before the binding's migration.
        if (target.startsWith('sqlite:')) {
          const file = new Database(`${dir}/ascend.db`);
          file.exec('ALTER TABLE webhooks DROP COLUMN format; ALTER TABLE webhooks DROP COLUMN slack_interactive; ALTER TABLE approvals DROP COLUMN edits; ALTER TABLE api_keys DROP COLUMN agent_ids; DROP TABLE request_nonces; DROP TABLE budget_spends; DROP TABLE policies; DROP INDEX audit_chain_notes; DROP TABLE audit_base; DROP INDEX action_index_by_decision; DROP INDEX action_index_by_outcome; DELETE FROM schema_migrations WHERE version >= 5');
          file.close();
        } else {
          await withAdmin((c) => c.query(`ALTER TABLE "${schema}".api_keys DROP COLUMN agent_ids; DROP TABLE "${schema}".budget_spends; DROP TABLE "${schema}".policies; DROP INDEX "${schema}".audit_chain_notes; DROP TRIGGER audit_events_no_delete ON "${schema}".audit_events; DROP TABLE "${schema}".audit_base; DROP FUNCTION "${schema}".audit_events_keep_unarchived(); ALTER TABLE "${schema}".actions DROP CONSTRAINT actions_record_kept, DROP COLUMN seq; ALTER TABLE "${schema}".outcomes DROP CONSTRAINT outcomes_record_kept, DROP COLUMN seq; ALTER TABLE "${schema}".webhooks DROP COLUMN format, DROP COLUMN slack_interactive; ALTER TABLE "${schema}".approvals DROP COLUMN edits; DELETE FROM "${schema}".schema_migrations WHERE version >= 5`));
        }
        store = await openDatabase(parseDatabaseTarget(target, dir));
        try {
          const found = await store.getApiKey(key.record.keyId);
          expect(found).toMatchObject({ keyId: key.record.keyId, role: 'agent' });
          expect(found?.agentIds).toBeUndefined();
        } finally {
          await store.close();
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      await withAdmin((c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
    }
  });
});
