/**
 * The audit trail loses nothing unnoticed. A tamperer with access to the database drops the
 * append-only triggers and deletes events: the newest ones (what is left is still a valid hash
 * chain), all of them, one in the middle, or the newest ones together with the rows and counters
 * that recorded them. `verifyAudit` and `ascend audit verify` (exit 1) report each case, on a real
 * SQLite file and on the real PostgreSQL (a fresh schema per test).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { defaultDbPath } from '../../src/store/sqlite.js';
import { captureLogs, runCli, tempDir, TEST_POLICY, writePolicy } from '../helpers.js';
import { at } from '../store/records.js';
import { PG_URL, withAdmin } from '../store/pg-helpers.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from '../server/helpers.js';
import { type Backend, HEAD, type Target, type Trail, useTamperBackends, writeTrail } from './tamper-targets.js';

const {
  backends: [sqlite, postgres],
  cleanups,
  schemas,
} = useTamperBackends();

/** Write the standard trail; check it verifies before the attack. */
async function attacked(backend: Backend, settled = true): Promise<Target & Trail> {
  let trail: Trail | undefined;
  const target = await backend.open(settled, async (store) => {
    trail = await writeTrail(store);
  });
  expect(await target.store.verifyAudit()).toMatchObject({ ok: true, checked: HEAD, headSeq: HEAD });
  return { ...target, ...(trail as Trail) };
}

/** Per-backend SQL. */
function pick(backend: Backend, sql: { sqlite: string; postgres: string }): string {
  return sql[backend.name];
}

describe.each([sqlite, postgres])('the audit trail loses nothing unnoticed ($name)', (backend) => {
  it('deleting the newest events is reported as truncation, naming where the chain now ends', async () => {
    const target = await attacked(backend);
    await target.tamper('DELETE FROM $S.audit_events WHERE seq > 7');
    const result = await target.store.verifyAudit();
    expect(result).toMatchObject({ ok: false, checked: 7, headSeq: 7 });
    expect(result.firstBad?.seq).toBe(8);
    expect(result.firstBad?.reason).toMatch(/^truncated: the chain ends at seq 7 but /);
  });

  it('deleting every event is reported: the tables still say there were events', async () => {
    const target = await attacked(backend);
    await target.tamper('DELETE FROM $S.audit_events');
    const result = await target.store.verifyAudit();
    expect(result).toMatchObject({ ok: false, checked: 0, headSeq: 0 });
    expect(result.firstBad?.seq).toBe(1);
    expect(result.firstBad?.reason).toMatch(/^truncated: the chain is empty but /);
  });

  it('deleting one event in the middle is a seq gap at the row after it', async () => {
    const target = await attacked(backend);
    await target.tamper('DELETE FROM $S.audit_events WHERE seq = 5');
    expect((await target.store.verifyAudit()).firstBad).toEqual({ seq: 6, reason: expect.stringMatching(/seq gap: expected 5, found 6/) });
  });

  it('deleting the newest events and the rows of their actions still leaves the approval they decided', async () => {
    const target = await attacked(backend);
    const ids = target.lastActionIds.map((id) => `'${id}'`).join(', ');
    await target.tamper(
      'DELETE FROM $S.audit_events WHERE seq > 5;' +
        pick(backend, {
          sqlite: "UPDATE store_meta SET value = 5 WHERE key = 'indexed_through'; DELETE FROM action_index WHERE decision_seq > 5;",
          postgres: `DELETE FROM $S.outcomes WHERE action_id IN (${ids}); DELETE FROM $S.actions WHERE action_id IN (${ids});`,
        }),
    );
    const result = await target.store.verifyAudit();
    expect(result).toMatchObject({ ok: false, checked: 5, headSeq: 5 });
    expect(result.firstBad?.seq).toBe(6);
    expect(result.firstBad?.reason).toMatch(/^truncated: the chain ends at seq 5 but approvals holds 1 approved row and the chain only 0 approval\.approved events/);
  });

  it("an agent's version names the event of its latest registration change, so deleting that event is reported", async () => {
    const target = await backend.open(true, async (store) => {
      await writeTrail(store);
      await store.setAgentBlocked('agent-b', true, 'incident', 'ops', at(9)); // seq 12
    });
    await target.tamper(
      'DELETE FROM $S.audit_events WHERE seq = 12;' +
        pick(backend, { sqlite: "UPDATE store_meta SET value = 11 WHERE key = 'indexed_through';", postgres: '' }),
    );
    const result = await target.store.verifyAudit();
    expect(result).toMatchObject({ ok: false, checked: HEAD, headSeq: HEAD });
    expect(result.firstBad).toEqual({
      seq: 12,
      reason: 'truncated: the chain ends at seq 11 but agents.version (agent "agent-b") refers to seq 12 (event 12 is missing, and any after it)',
    });
  });

  it('deleting the row that records an outcome is reported (the chain has an event the tables lost)', async () => {
    const target = await attacked(backend);
    await target.tamper(
      pick(backend, {
        sqlite: 'DELETE FROM action_index WHERE decision_seq = 8',
        postgres: `DELETE FROM $S.outcomes WHERE action_id = '${target.lastActionIds[0]}'`,
      }),
    );
    const result = await target.store.verifyAudit();
    expect(result.ok).toBe(false);
    expect(result.firstBad?.reason).toMatch(
      backend.name === 'sqlite'
        ? /^action_index does not match the chain through seq 11: it holds 3 decisions and 2 outcomes where the chain has 4 and 3/
        : /^the chain has 3 action\.completed \/ action\.failed events \(the latest at seq 11\) but outcomes holds only 2 rows: rows were deleted/,
    );
  });

  it("webhooks' cursors and deliveries name the events they were made from, even before the action index is written", async () => {
    // The writer stays open: on SQLite its newest decisions are not in action_index yet.
    const target = await backend.open(false, async () => undefined);
    const outbox = target.outbox();
    await outbox.createWebhook({ webhookId: 'wh-1', org: 'default', url: 'https://example.test/hook', events: ['action.evaluated'], secret: 's', createdAt: at(0), createdBy: 'test' });
    const trail = await writeTrail(target.store);
    expect(await outbox.enqueueDeliveries((event) => [{ event: 'action.evaluated', payload: String(event.seq) }], at(10), 100)).toBe(HEAD);
    expect(await target.store.verifyAudit()).toMatchObject({ ok: true, checked: HEAD });

    const last = `'${trail.lastActionIds[1]}'`;
    await target.tamper(
      'DELETE FROM $S.audit_events WHERE seq > 9;' +
        pick(backend, { sqlite: '', postgres: `DELETE FROM $S.outcomes WHERE action_id = ${last}; DELETE FROM $S.actions WHERE action_id = ${last};` }),
    );
    expect((await target.store.verifyAudit()).firstBad).toEqual({
      seq: 10,
      reason: 'truncated: the chain ends at seq 9 but webhooks.cursor_seq refers to seq 11 (events 10–11 are missing, and any after them)',
    });
    await target.tamper('UPDATE $S.webhooks SET cursor_seq = 9');
    expect((await target.store.verifyAudit()).firstBad).toEqual({
      seq: 10,
      reason: 'truncated: the chain ends at seq 9 but webhook_deliveries.audit_seq refers to seq 11 (events 10–11 are missing, and any after them)',
    });
  });
});

describe('the audit trail loses nothing unnoticed (SQLite action index)', () => {
  it('action_index entries that point past the end of the chain are reported, even with store_meta rewound to match', async () => {
    const target = await attacked(sqlite);
    await target.tamper("DELETE FROM audit_events WHERE seq > 9; UPDATE store_meta SET value = 9 WHERE key = 'indexed_through';");
    expect((await target.store.verifyAudit()).firstBad).toEqual({
      seq: 10,
      reason: 'truncated: the chain ends at seq 9 but action_index refers to seq 11 (events 10–11 are missing, and any after them)',
    });
  });

  it("rewinding store_meta's indexed_through alone is reported", async () => {
    const target = await attacked(sqlite);
    await target.tamper("UPDATE store_meta SET value = 7 WHERE key = 'indexed_through'");
    expect((await target.store.verifyAudit()).firstBad).toEqual({
      seq: 11,
      reason: "action_index refers to seq 11, past store_meta's indexed_through (seq 7): store_meta was rewound",
    });
  });
});

describe('ascend audit verify reports a truncated trail and exits 1', () => {
  it('on a SQLite data dir written by a real client', async () => {
    const dir = tempDir('ascend-tamper-cli-');
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const dataDir = path.join(dir, '.ascend');
    const client = new AscendClient({ agentId: 'agent-1', policy: writePolicy(dir, TEST_POLICY), dataDir, logDestination: captureLogs().destination });
    for (let i = 0; i < 3; i++) {
      await client.govern({ actionType: 'db.query', resource: 'prod', parameters: { sql: `SELECT ${i}` } }, () => i);
    }
    await client.close();

    const before = await runCli(['audit', 'verify', '--data-dir', dataDir]);
    expect(before.code, before.stderr).toBe(0);
    const head = Number(/^ok: (\d+) events/.exec(before.stdout)?.[1]);
    expect(head).toBeGreaterThanOrEqual(6);

    const db = new Database(defaultDbPath(dataDir));
    db.exec('DROP TRIGGER audit_events_no_delete');
    db.prepare('DELETE FROM audit_events WHERE seq > ?').run(head - 2);
    db.close();

    const after = await runCli(['audit', 'verify', '--data-dir', dataDir]);
    expect(after.code).toBe(1);
    expect(after.stdout).toMatch(new RegExp(`^BROKEN at seq ${head - 1}: truncated: the chain ends at seq ${head - 2} but .+\\n$`));
    const json = await runCli(['audit', 'verify', '--json', '--data-dir', dataDir]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, headSeq: head - 2, firstBad: { seq: head - 1, reason: expect.stringMatching(/^truncated: /) } });
  });

  it('on PostgreSQL, through `ascend serve` (/v1/audit/verify and /v1/audit/status agree)', async () => {
    const schema = schemas.name();
    let server: ServerProcess | undefined;
    cleanups.push(() => disposeServer(server));
    server = await startServerProcess({ db: `${PG_URL}?schema=${schema}` });
    const dir = tempDir('ascend-tamper-cli-');
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const client = new AscendClient({ agentId: 'agent-1', apiUrl: server.url, apiKey: server.keys.agent.apiKey, dataDir: path.join(dir, '.ascend'), logDestination: captureLogs().destination });
    for (let i = 0; i < 3; i++) {
      await client.govern({ actionType: 'db.query', resource: 'prod', parameters: { sql: `SELECT ${i}` } }, () => i);
    }
    await client.close();
    const env = { ...process.env, ASCEND_API_KEY: server.keys.admin.apiKey, ASCEND_API_URL: '' };
    const cli = (args: string[]) => runCli([...args, '--api-url', (server as ServerProcess).url], { cwd: dir, env });

    const before = await cli(['audit', 'verify']);
    expect(before.code, before.stderr).toBe(0);
    const head = Number(/^ok: (\d+) events/.exec(before.stdout)?.[1]);
    expect(head).toBeGreaterThanOrEqual(6);

    await withAdmin(async (admin) => {
      await admin.query(`ALTER TABLE "${schema}".audit_events DISABLE TRIGGER USER`);
      await admin.query(`DELETE FROM "${schema}".audit_events WHERE seq > $1`, [head - 2]);
    });

    const after = await cli(['audit', 'verify']);
    expect(after.code).toBe(1);
    expect(after.stdout).toMatch(new RegExp(`^BROKEN at seq ${head - 1}: truncated: the chain ends at seq ${head - 2} but .+\\n$`));
    const status = await api(server, 'GET', '/v1/audit/status', server.keys.approver);
    expect(status).toMatchObject({ status: 200, body: { ok: false } });
  });
});
