/** The PostgreSQL store: the shared contract in both durability modes, plus what is PostgreSQL's own. */
import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConflictError, NotFoundError, StaleDecisionError, StoreError, ValidationError } from '../../src/core/errors.js';
import { PG_SCHEMA_VERSION } from '../../src/store/postgres-migrations.js';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';
import type { ApiKeyRecord, AuditEvent } from '../../src/core/types.js';
import { eventually, sleep, tempDir } from '../helpers.js';
import { databaseContract, storeContract } from './contract.js';
import { adminClient, PG_URL, PgTestSchemas, withAdmin } from './pg-helpers.js';
import { at, makeAction, makeOutcome, makePending, writeSome } from './records.js';

// The stores draw grant ids from randomUUID: the trail comparison below names the next one, so
// both stores write the same grant (every other call is the real one).
vi.mock('node:crypto', async (importOriginal) => {
  const crypto = await importOriginal<typeof import('node:crypto')>();
  return { ...crypto, randomUUID: vi.fn(crypto.randomUUID) };
});

const schemas = new PgTestSchemas();

beforeAll(async () => {
  // Fails (never skips) with a message naming ASCEND_TEST_PG_URL when the server is down.
  await (await adminClient()).end();
});
afterAll(async () => {
  await schemas.dropAll();
});

storeContract('postgres (sync)', () => schemas.open());
storeContract('postgres (batched)', () => schemas.open({ durability: 'batched', flushIntervalMs: 5, maxBatchSize: 8 }));
databaseContract('postgres', () => {
  const schema = schemas.name();
  /** Raw SQL on the schema as its owner; the tamperer disables the append-only triggers first. */
  const exec = (tamper: boolean) => (sql: string): Promise<void> =>
    withAdmin(async (c) => {
      if (tamper) await c.query(`ALTER TABLE "${schema}".audit_events DISABLE TRIGGER USER`);
      await c.query(sql.replaceAll('$S.', `"${schema}".`));
    });
  return { open: (options) => schemas.open({ ...options, schema }), run: exec(false), tamper: exec(true) };
});

/** Stores opened by a test, closed after it (schemas dropped at the end of the file). */
afterEach(async () => {
  await schemas.closeStores();
});

/** The chain-lock key of a schema, computed independently of the store (sha256 → signed 64-bit). */
function lockKeyOf(schema: string): string {
  const digest = createHash('sha256').update(`ascend-sdk/audit-chain/${schema}`).digest('hex');
  return BigInt.asIntN(64, BigInt(`0x${digest.slice(0, 16)}`)).toString();
}

async function scalar<T>(sql: string, params: unknown[] = []): Promise<T> {
  return withAdmin(async (client) => (await client.query(sql, params)).rows[0]?.v as T);
}

describe('PostgreSQL store: opening', () => {
  it('creates the schema and its tables, and keeps data across close and reopen without re-running migrations', async () => {
    const schema = schemas.name();
    const first = await schemas.open({ schema });
    expect(first.kind).toBe('postgres');
    expect(first.schema).toBe(schema);
    const ids = await writeSome(first, 3);
    await first.close();
    const second = await schemas.open({ schema });
    expect(await second.getAction(ids[2] as string)).toMatchObject({ actionId: ids[2] });
    expect((await second.verifyAudit()).ok).toBe(true);
    expect(await scalar(`SELECT count(*)::int AS v FROM "${schema}".schema_migrations`)).toBe(PG_SCHEMA_VERSION);
  });

  it('lets replicas that start together on a new schema migrate it once', async () => {
    const schema = schemas.name();
    const stores = await Promise.all([1, 2, 3, 4].map(() => schemas.open({ schema })));
    expect(await scalar(`SELECT count(*)::int AS v FROM "${schema}".schema_migrations`)).toBe(PG_SCHEMA_VERSION);
    await Promise.all(stores.map((store, i) => writeSome(store, 5, `agent-${i}`)));
    expect(await stores[0]?.verifyAudit()).toMatchObject({ ok: true, checked: 40 });
  });

  it('refuses a schema written by a newer ascend-sdk', async () => {
    const schema = schemas.name();
    await (await schemas.open({ schema })).close();
    await withAdmin((c) => c.query(`INSERT INTO "${schema}".schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')`));
    await expect(schemas.open({ schema })).rejects.toThrow(/schema version 99 is newer/);
    await expect(schemas.open({ schema })).rejects.toBeInstanceOf(StoreError);
  });

  it('fails with StoreError naming host and database, not the password, when the server cannot be reached', async () => {
    const err = await openPostgresStore('postgres://ascend:s3cret@127.0.0.1:1/nowhere', { schema: schemas.name(), connectTimeoutMs: 2000 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).message).toMatch(/127\.0\.0\.1:1\/nowhere.*ECONNREFUSED/);
    expect((err as StoreError).message).not.toContain('s3cret');
  });

  it('rejects nonsense options with ValidationError', async () => {
    await expect(openPostgresStore(PG_URL, { schema: 'Robert"); DROP' })).rejects.toBeInstanceOf(ValidationError);
    await expect(openPostgresStore(PG_URL, { schema: schemas.name(), poolSize: 0 })).rejects.toBeInstanceOf(ValidationError);
    await expect(openPostgresStore(PG_URL, { schema: schemas.name(), flushIntervalMs: -1 })).rejects.toBeInstanceOf(ValidationError);
    await expect(openPostgresStore(PG_URL, { schema: schemas.name(), durability: 'eventually' as 'sync' })).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('PostgreSQL store: the same audit trail as the SQLite store', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The same calls, with the same ids and times, against any store. */
  async function script(store: Store): Promise<void> {
    const agent = await store.upsertAgent(
      { agentId: 'agent-a', agentName: 'Agent "A"', agentType: 'support', capabilities: ['db.*'], allowedResources: ['prod'], metadata: { ü: [1, null, { b: 2, a: 1 }] } },
      at(0),
    );
    await store.setAgentBlocked('agent-a', true, 'runaway', 'ops', at(1));
    await store.setAgentBlocked('ghost', true, 'unknown agent', 'ops', at(1));
    await store.setAgentBlocked('agent-a', false, 'fixed', 'ops', at(2));
    const allowed = makeAction({ actionId: 'act-1', createdAt: at(3), context: { note: 'line\nbreak \u2028' } });
    await store.recordDecision(allowed, undefined, { agentVersion: (await store.getAgent('agent-a'))?.version ?? agent.version });
    await store.recordOutcome(makeOutcome('act-1', { recordedAt: at(4) }));
    const denied = makeAction({ actionId: 'act-2', decision: 'denied', createdAt: at(5), policyViolations: [{ code: 'rule_denied', message: 'no', ruleId: 'r1' }] });
    await store.recordDecision(denied);
    const failed = makeAction({ actionId: 'act-3', createdAt: at(6) });
    await store.recordDecision(failed);
    await store.recordOutcome(makeOutcome('act-3', { status: 'failed', result: undefined, error: 'boom', durationMs: 9, recordedAt: at(7) }));
    const first = makePending({ actionId: 'act-4', approvalId: 'apr-1', createdAt: at(8) });
    first.approval.approvalId = 'apr-1';
    first.action.approvalId = 'apr-1';
    await store.recordDecision(first.action, first.approval);
    await store.decideApproval({ approvalId: 'apr-1', status: 'approved', decidedBy: 'alice', channel: 'cli', comment: 'ok', now: at(9) });
    const spender = makeAction({ actionId: 'act-5', actionType: first.action.actionType, parameters: first.action.parameters, approvalId: 'apr-1', createdAt: at(10) });
    await store.recordDecision(spender, undefined, { spendsApproval: 'apr-1' });
    const second = makePending({ actionId: 'act-6', createdAt: at(11) }, 60);
    second.approval.approvalId = 'apr-2';
    second.action.approvalId = 'apr-2';
    await store.recordDecision(second.action, second.approval);
    await expect(store.decideApproval({ approvalId: 'apr-2', status: 'approved', decidedBy: 'bob', channel: 'api', now: at(80) })).rejects.toBeInstanceOf(ConflictError);
    const third = makePending({ actionId: 'act-7', createdAt: at(12) });
    third.approval.approvalId = 'apr-3';
    third.action.approvalId = 'apr-3';
    await store.recordDecision(third.action, third.approval);
    await store.expireApproval('apr-3', at(13));
    await store.createApiKey({ keyId: 'k1', name: 'ops key', role: 'admin', org: 'acme', secretHash: 'h', signingSecret: 's', requireSigning: true, createdAt: at(14), createdBy: 'root' });
    await store.revokeApiKey('k1', 'root', at(15));
    const v1 = `sha256:${'1'.repeat(64)}`;
    const v2 = `sha256:${'2'.repeat(64)}`;
    await store.recordPolicyChange({ from: v1, to: v2, name: 'payments', revision: '7', cause: 'file', source: '/etc/ascend/policy.yaml', actor: 'ascend serve (pid 1 on a)', at: at(16) });
    await store.pushPolicy(
      { policyVersion: v1, text: 'version: 1\n', pushedBy: 'ops key (key k1)', pushedAt: at(17) },
      { from: v2, to: v1, cause: 'push', source: 'next.yaml', actor: 'ops key (key k1)', at: at(17) },
    );
    const budget = { key: 'r:mail\u001fa:agent-a', windowMs: 3_600_000, count: 5, mustFit: true };
    await store.recordDecision(makeAction({ actionId: 'act-8', createdAt: at(18) }), undefined, { budgets: [budget] });
    const rejected = makePending({ actionId: 'act-9', createdAt: at(19) });
    rejected.approval.approvalId = 'apr-4';
    rejected.action.approvalId = 'apr-4';
    await store.recordDecision(rejected.action, rejected.approval);
    await store.decideApproval({ approvalId: 'apr-4', status: 'rejected', decidedBy: 'carol', channel: 'dashboard', comment: 'not today', now: at(20) });
    const granted = makePending({ actionId: 'act-10', createdAt: at(21) });
    granted.approval.approvalId = 'apr-5';
    granted.action.approvalId = 'apr-5';
    await store.recordDecision(granted.action, granted.approval);
    vi.mocked(randomUUID).mockReturnValueOnce('00000000-0000-4000-8000-000000000001');
    const decided = await store.decideApproval({ approvalId: 'apr-5', status: 'approved', decidedBy: 'dave', channel: 'slack', grantMinutes: 30, now: at(22) });
    expect(decided.grantId).toBe('00000000-0000-4000-8000-000000000001');
    expect(await store.consumeApproval('apr-5', granted.approval.digest, at(23))).toBe(true);
    await store.revokeGrant(decided.grantId as string, 'ops', at(24));
  }

  it('writes byte-identical events (same data, same hashes) for the same calls', async () => {
    const dir = tempDir('ascend-pg-');
    dirs.push(dir);
    const sqlite = openSqliteStore(path.join(dir, 'ascend.db'));
    const postgres = await schemas.open();
    try {
      await script(sqlite);
      await script(postgres);
      const expected = await sqlite.readAudit();
      const actual = await postgres.readAudit();
      expect(actual.length).toBe(expected.length);
      expect(actual).toEqual(expected);
      // Every kind of event the script writes is in the comparison.
      expect(new Set(expected.map((e) => e.type))).toEqual(
        new Set([
          'agent.registered', 'agent.blocked', 'agent.unblocked', 'action.evaluated', 'action.completed', 'action.failed',
          'approval.requested', 'approval.approved', 'approval.rejected', 'approval.consumed', 'approval.expired',
          'grant.created', 'grant.revoked', 'key.created', 'key.revoked', 'policy.changed',
        ]),
      );
      expect(await postgres.verifyAudit()).toEqual(await sqlite.verifyAudit());
      expect(await postgres.listApiKeys()).toEqual(await sqlite.listApiKeys());
      expect(await postgres.listApprovals()).toEqual(await sqlite.listApprovals());
      expect(await postgres.listAgents()).toEqual(await sqlite.listAgents());
      expect(await postgres.listGrants()).toEqual(await sqlite.listGrants());
      for (const id of ['act-1', 'act-2', 'act-3', 'act-5']) {
        expect(await postgres.getAction(id)).toEqual(await sqlite.getAction(id));
        expect(await postgres.getOutcome(id)).toEqual(await sqlite.getOutcome(id));
      }
    } finally {
      await sqlite.close();
    }
  });

  it('writes the same grant events, up to the random grant id', async () => {
    const dir = tempDir('ascend-pg-');
    dirs.push(dir);
    const sqlite = openSqliteStore(path.join(dir, 'ascend.db'));
    const postgres = await schemas.open();
    const grantFlow = async (store: Store): Promise<AuditEvent[]> => {
      const { action, approval } = makePending({ actionId: 'g-act', createdAt: at(0) });
      approval.approvalId = 'g-apr';
      action.approvalId = 'g-apr';
      await store.recordDecision(action, approval);
      const decided = await store.decideApproval({ approvalId: 'g-apr', status: 'approved', decidedBy: 'a', channel: 'dashboard', grantMinutes: 30, now: at(1) });
      await store.revokeGrant(decided.grantId as string, 'ops', at(2));
      const text = JSON.stringify((await store.readAudit()).map(({ hash: _h, prevHash: _p, ...rest }) => rest));
      return JSON.parse(text.replaceAll(decided.grantId as string, 'GRANT')) as AuditEvent[];
    };
    try {
      expect(await grantFlow(postgres)).toEqual(await grantFlow(sqlite));
    } finally {
      await sqlite.close();
    }
  });
});

describe('PostgreSQL store: a decision and an outcome are kept once', () => {
  it.each(['sync', 'batched'] as const)('%s: the rows name their events, whose data is the record; the record is read back whole', async (durability) => {
    const schema = schemas.name();
    const store = await schemas.open({ schema, durability, flushIntervalMs: 5 });
    const action = makeAction();
    await store.recordDecision(action);
    await store.recordOutcome(makeOutcome(action.actionId));
    await store.flush();
    const other = await schemas.open({ schema });
    expect(await other.getAction(action.actionId)).toEqual(action);
    expect(await other.getOutcome(action.actionId)).toMatchObject({ actionId: action.actionId, status: 'completed' });
    const rows = await withAdmin(async (client) =>
      (
        await client.query(
          `SELECT 'action' AS t, x.record, x.seq, e.type FROM "${schema}".actions x JOIN "${schema}".audit_events e ON e.seq = x.seq
           UNION ALL SELECT 'outcome', x.record, x.seq, e.type FROM "${schema}".outcomes x JOIN "${schema}".audit_events e ON e.seq = x.seq ORDER BY seq`,
        )
      ).rows,
    );
    expect(rows).toEqual([
      { t: 'action', record: null, seq: '1', type: 'action.evaluated' },
      { t: 'outcome', record: null, seq: '2', type: 'action.completed' },
    ]);
  });

  it('rows written before the change (record in the row, no seq) still read', async () => {
    const schema = schemas.name();
    const store = await schemas.open({ schema });
    const action = makeAction();
    await store.recordDecision(action);
    await store.recordOutcome(makeOutcome(action.actionId));
    // As an older release wrote them: the record in the row, no event named.
    await withAdmin((client) =>
      client.query(`UPDATE "${schema}".actions x SET record = e.data, seq = NULL FROM "${schema}".audit_events e WHERE e.seq = x.seq;
                    UPDATE "${schema}".outcomes x SET record = e.data, seq = NULL FROM "${schema}".audit_events e WHERE e.seq = x.seq;`),
    );
    expect(await store.getAction(action.actionId)).toEqual(action);
    expect(await store.getOutcome(action.actionId)).toMatchObject({ status: 'completed' });
    // A row with neither is refused by the database.
    await expect(withAdmin((client) => client.query(`UPDATE "${schema}".actions SET record = NULL`))).rejects.toThrow(/actions_record_kept/);
  });
});

describe('PostgreSQL store: API keys', () => {
  const key = (keyId: string, createdAt: string): ApiKeyRecord => ({
    keyId,
    name: `key ${keyId}`,
    role: 'approver',
    org: 'acme',
    secretHash: 'a'.repeat(64),
    requireSigning: false,
    createdAt,
    createdBy: 'root',
  });

  it('creates, lists newest first, revokes once; Conflict and NotFound as the SQLite store', async () => {
    const store = await schemas.open();
    await store.createApiKey(key('k1', at(0)));
    await store.createApiKey({ ...key('k2', at(1)), signingSecret: 'sig', requireSigning: true });
    await expect(store.createApiKey(key('k1', at(2)))).rejects.toThrow('API key "k1" already exists');
    await expect(store.createApiKey(key('k1', at(2)))).rejects.toBeInstanceOf(ConflictError);
    expect((await store.listApiKeys()).map((k) => k.keyId)).toEqual(['k2', 'k1']);
    expect(await store.getApiKey('k2')).toEqual({ ...key('k2', at(1)), signingSecret: 'sig', requireSigning: true });
    expect(await store.getApiKey('nope')).toBeUndefined();
    expect(await store.revokeApiKey('k1', 'ops', at(3))).toMatchObject({ keyId: 'k1', revokedAt: at(3), revokedBy: 'ops' });
    await expect(store.revokeApiKey('k1', 'ops', at(4))).rejects.toBeInstanceOf(ConflictError);
    await expect(store.revokeApiKey('nope', 'ops', at(4))).rejects.toBeInstanceOf(NotFoundError);
    const events = await store.readAudit({ types: ['key.created', 'key.revoked'] });
    expect(events.map((e) => e.type)).toEqual(['key.created', 'key.created', 'key.revoked']);
    expect(JSON.stringify(events)).not.toContain('sig"');
    expect(await store.verifyAudit()).toMatchObject({ ok: true, checked: 3 });
  });
});

describe('PostgreSQL store: audit tampering', () => {
  it('refuses TRUNCATE on audit_events through its trigger (UPDATE and DELETE: the contract)', async () => {
    const store = await schemas.open();
    await writeSome(store, 2);
    await withAdmin(async (c) => {
      await expect(c.query(`TRUNCATE "${store.schema}".audit_events`)).rejects.toThrow(/append-only/);
    });
    expect(await store.verifyAudit()).toMatchObject({ ok: true, checked: 4 });
  });
});

describe('PostgreSQL store: several replicas on one database', () => {
  it('keeps one gapless, valid chain under 2 × 200 concurrent decisions from two stores', async () => {
    const schema = schemas.name();
    const a = await schemas.open({ schema });
    const b = await schemas.open({ schema });
    const decide = (store: PostgresStore, agentId: string) =>
      Promise.all(Array.from({ length: 200 }, (_, i) => store.recordDecision(makeAction({ agentId, createdAt: at(i) }))));
    await Promise.all([decide(a, 'agent-a'), decide(b, 'agent-b')]);
    const verification = await a.verifyAudit();
    expect(verification).toMatchObject({ ok: true, checked: 400, headSeq: 400 });
    expect(await b.verifyAudit()).toEqual(verification);
    const seqs = (await b.readAudit()).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    // The two writers really interleaved (the lock serialised them, it did not run them one after the other).
    const agents = (await a.readAudit()).map((e) => e.agentId);
    const switches = agents.filter((id, i) => i > 0 && id !== agents[i - 1]).length;
    expect(switches).toBeGreaterThan(1);
  });

  it('keeps one chain when sync and batched replicas write decisions and outcomes at once', async () => {
    const schema = schemas.name();
    const sync = await schemas.open({ schema });
    const batched = await schemas.open({ schema, durability: 'batched', flushIntervalMs: 2, maxBatchSize: 16 });
    await Promise.all([writeSome(sync, 30, 'agent-s'), writeSome(batched, 30, 'agent-b')]);
    await batched.flush();
    expect(await sync.verifyAudit()).toMatchObject({ ok: true, checked: 120 });
  });

  it('lets exactly one of two replicas decide an approval, and one of many consume it', async () => {
    const schema = schemas.name();
    const a = await schemas.open({ schema });
    const b = await schemas.open({ schema });
    const { action, approval } = makePending();
    await a.recordDecision(action, approval);
    const decided = await Promise.allSettled([
      a.decideApproval({ approvalId: approval.approvalId, status: 'approved', decidedBy: 'alice', channel: 'cli', now: at(1) }),
      b.decideApproval({ approvalId: approval.approvalId, status: 'rejected', decidedBy: 'bob', channel: 'api', now: at(1) }),
    ]);
    expect(decided.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(decided.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason).toBeInstanceOf(ConflictError);
    if ((await a.getApproval(approval.approvalId))?.status !== 'approved') return;
    const consumed = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).consumeApproval(approval.approvalId, approval.digest, at(2))),
    );
    expect(consumed.filter(Boolean)).toHaveLength(1);
  });

  it("refuses a decision made on a registration another replica has since changed", async () => {
    const schema = schemas.name();
    const a = await schemas.open({ schema });
    const b = await schemas.open({ schema });
    await a.upsertAgent({ agentId: 'agent-a', agentName: 'A', agentType: 't', capabilities: [], allowedResources: [], metadata: {} }, at(0));
    const seen = await a.agentForDecision('agent-a');
    await b.setAgentBlocked('agent-a', true, 'kill switch', 'ops', at(1));
    const action = makeAction({ decision: 'denied' });
    await expect(a.recordDecision(action, undefined, { agentVersion: seen?.version })).rejects.toBeInstanceOf(StaleDecisionError);
    expect(await b.getAction(action.actionId)).toBeUndefined();
    expect((await a.agentForDecision('agent-a'))?.blocked).toBe(true);
  });

  it('a duplicate action id from another replica is a ConflictError, and records nothing', async () => {
    const schema = schemas.name();
    const a = await schemas.open({ schema });
    const b = await schemas.open({ schema });
    const action = makeAction();
    await a.recordDecision(action);
    await expect(b.recordDecision({ ...action, decision: 'denied' })).rejects.toThrow(ConflictError);
    await expect(b.recordDecision(action, undefined, { agentVersion: 0 })).rejects.toThrow(`Action "${action.actionId}" is already recorded`);
    expect(await b.verifyAudit()).toMatchObject({ ok: true, checked: 1 });
  });

  it('fails with StoreError (lock timeout) while another writer holds the chain lock too long, then recovers', async () => {
    const store = await schemas.open({ lockTimeoutMs: 150 });
    await writeSome(store, 1);
    const holder = await adminClient();
    try {
      await holder.query(`BEGIN; SELECT pg_advisory_xact_lock(${lockKeyOf(store.schema)})`);
      const err = await store.recordDecision(makeAction({ decision: 'denied' })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect((err as Error).message).toMatch(/lockTimeoutMs \(150 ms\).*55P03/);
      await holder.query('ROLLBACK');
    } finally {
      await holder.end();
    }
    await writeSome(store, 1);
    expect(await store.verifyAudit()).toMatchObject({ ok: true, checked: 4 });
  });
});

describe('PostgreSQL store: connection failures', () => {
  /** Terminate this store's sessions (only its own: other test files may be using the server). */
  const terminate = (store: PostgresStore, where = 'true'): Promise<unknown> =>
    withAdmin((c) =>
      c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND ${where}`, [`ascend-sdk ${store.schema}`]),
    );

  it('drops idle connections the server lost and carries on with fresh ones', async () => {
    const store = await schemas.open();
    await writeSome(store, 2);
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      await terminate(store);
      await eventually(() => warnings.some((w) => /idle connection lost/.test(w)), 10_000, 2);
    } finally {
      process.off('warning', onWarning);
    }
    await writeSome(store, 2);
    expect(await store.verifyAudit()).toMatchObject({ ok: true, checked: 8 });
  });

  it('turns a connection lost mid-write into StoreError, recording nothing; the next write works', async () => {
    const store = await schemas.open({ lockTimeoutMs: 0 });
    await writeSome(store, 1);
    const holder = await adminClient();
    try {
      await holder.query(`BEGIN; SELECT pg_advisory_xact_lock(${lockKeyOf(store.schema)})`);
      const action = makeAction({ decision: 'denied' });
      const write = store.recordDecision(action).then(() => 'committed', (e: unknown) => e);
      const waiting = `SELECT count(*)::int AS v FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`;
      while ((await scalar<number>(waiting, [`ascend-sdk ${store.schema}`])) === 0) await sleep(5);
      await terminate(store, "wait_event_type = 'Lock'");
      const err = await write;
      expect(err).toBeInstanceOf(StoreError);
      expect((err as Error).message).toMatch(/^PostgreSQL store .* recordDecision failed: .*terminat/);
      await holder.query('ROLLBACK');
      expect(await store.getAction(action.actionId)).toBeUndefined();
    } finally {
      await holder.end();
    }
    await writeSome(store, 1);
    expect(await store.verifyAudit()).toMatchObject({ ok: true, checked: 4 });
  });
});

describe('PostgreSQL store: watching (LISTEN/NOTIFY)', () => {
  it("hears another replica's approval decision, and an unsubscribed listener hears nothing more", async () => {
    const schema = schemas.name();
    const a = await schemas.open({ schema });
    const b = await schemas.open({ schema });
    const { action, approval } = makePending();
    await b.recordDecision(action, approval);
    let calls = 0;
    const stop = a.watch(() => calls++);
    await a.listening();
    calls = 0;
    await b.decideApproval({ approvalId: approval.approvalId, status: 'approved', decidedBy: 'alice', channel: 'dashboard', now: at(1) });
    // Only LISTEN/NOTIFY tells `a` of b's commit (the store does not poll); how fast is a
    // benchmark budget (`npm run bench:server`, cluster wake-up).
    await eventually(() => calls > 0, 10_000, 2);
    expect((await a.getApproval(approval.approvalId))?.status).toBe('approved');
    // A second listener shows when the next notification has arrived.
    let witnessed = 0;
    const stopWitness = a.watch(() => witnessed++);
    stop();
    const after = calls;
    const witnessedBefore = witnessed;
    await b.setAgentBlocked('agent-a', true, 'x', 'ops', at(2));
    await eventually(() => witnessed > witnessedBefore, 10_000, 2);
    expect(calls).toBe(after);
    stopWitness();
  });

  it('is not told of a rolled-back write', async () => {
    const schema = schemas.name();
    const a = await schemas.open({ schema });
    const b = await schemas.open({ schema });
    await b.recordDecision(makeAction({ actionId: 'dup' }));
    let calls = 0;
    a.watch(() => calls++);
    await a.listening();
    calls = 0;
    await expect(b.recordDecision(makeAction({ actionId: 'dup', decision: 'denied' }))).rejects.toBeInstanceOf(ConflictError);
    await sleep(100);
    expect(calls).toBe(0);
  });

  it('re-opens a lost LISTEN connection, then says state may have changed', async () => {
    const schema = schemas.name();
    const a = await schemas.open({ schema });
    const b = await schemas.open({ schema });
    let calls = 0;
    a.watch(() => calls++);
    await a.listening();
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      await withAdmin((c) =>
        c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, [`ascend-sdk ${schema}`]),
      );
      calls = 0;
      await eventually(() => calls > 0, 10_000, 2); // the reconnect's "you may have missed something"
      calls = 0;
      await b.setAgentBlocked('agent-a', true, 'after the reconnect', 'ops', at(1));
      await eventually(() => calls > 0, 10_000, 2); // only the re-made LISTEN can tell `a`
      expect(warnings.join('\n')).toMatch(/listening for changes failed/);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('closes its LISTEN connection with the store', async () => {
    const store = await schemas.open();
    store.watch(() => undefined);
    await store.listening();
    const listeners = async (): Promise<number> =>
      scalar<number>(`SELECT count(*)::int AS v FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, [`ascend-sdk ${store.schema}`]);
    expect(await listeners()).toBe(1);
    await store.close();
    await eventually(async () => (await listeners()) === 0, 10_000);
    expect(() => store.watch(() => undefined)).toThrow(StoreError);
  });
});
