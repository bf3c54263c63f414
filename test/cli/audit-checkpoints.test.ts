/**
 * `ascend keys checkpoint-key`, `ascend audit checkpoint` and `ascend audit verify` as real
 * processes, on a SQLite data dir and on PostgreSQL (`--db`), and `ascend serve
 * --checkpoint-every` on two replicas of one PostgreSQL database, whose checkpoints reach a
 * webhook and can be checked from anywhere with `audit verify --api-url --against`.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { defaultDbPath, openSqliteStore } from '../../src/store/sqlite.js';
import { eventually, runCli, tempDir } from '../helpers.js';
import { at, makeAction, makeOutcome } from '../store/records.js';
import { PG_URL, PgTestSchemas, withAdmin } from '../store/pg-helpers.js';
import { api, disposeServer, type ServerProcess, startServerProcess, seedKeys, webhookReceiver } from '../server/helpers.js';
import type { Store } from '../../src/store/store.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
const schemas = new PgTestSchemas();
afterAll(async () => {
  await schemas.dropAll();
});

function scratch(): string {
  const dir = tempDir('ascend-checkpoint-cli-');
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function calls(store: Store, n: number, minute: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const action = makeAction({ createdAt: at(minute + i) });
    await store.recordDecision(action);
    await store.recordOutcome(makeOutcome(action.actionId, { recordedAt: at(minute + i) }));
  }
}

describe('ascend audit checkpoint and verify, as processes', () => {
  it('on a SQLite data dir: make a key, checkpoint, verify from it, and catch a cut tail with the copy and the public key', async () => {
    const dir = scratch();
    const dataDir = path.join(dir, '.ascend');
    fs.mkdirSync(dataDir);
    const store = openSqliteStore(defaultDbPath(dataDir));
    await calls(store, 5, 0); // seq 1–10
    await store.close();
    const cli = (...args: string[]) => runCli([...args, '--data-dir', dataDir], { cwd: dir });

    const made = await cli('keys', 'checkpoint-key', 'create', '--json');
    expect(made.code, made.stderr).toBe(0);
    const key = JSON.parse(made.stdout) as { keyId: string; publicKey: string; file: string };
    expect(key.file).toBe(path.join(dataDir, 'checkpoint-key.pem'));
    expect(fs.statSync(key.file).mode & 0o777).toBe(0o600);
    const again = await cli('keys', 'checkpoint-key', 'create');
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('already exists: a checkpoint key is never overwritten');

    const taken = await cli('audit', 'checkpoint', '--out', 'cp.json');
    expect(taken.code, taken.stderr).toBe(0);
    expect(taken.stdout).toMatch(new RegExp(`^checkpoint of seq 11 [0-9a-f]{12} signed with ${key.keyId}, written to cp.json\\n$`));
    const written = JSON.parse(fs.readFileSync(path.join(dir, 'cp.json'), 'utf8')) as { seq: number; publicKey: string };
    expect(written).toMatchObject({ v: 1, seq: 11, keyId: key.keyId, publicKey: key.publicKey });

    const reopened = openSqliteStore(defaultDbPath(dataDir));
    await calls(reopened, 2, 10); // seq 13–16
    await reopened.close();
    const verified = await cli('audit', 'verify');
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^ok: 5 events \(from the checkpoint at seq 11, .*, key ck_[0-9a-f]{16}; --full checks every event\), head 16 /);
    const full = JSON.parse((await cli('audit', 'verify', '--full', '--json')).stdout) as { ok: boolean; checked: number; fromSeq: number };
    expect(full).toMatchObject({ ok: true, checked: 16, fromSeq: 0 });

    // The tamperer cuts everything from seq 8 on, key registration and checkpoint included.
    const db = new Database(defaultDbPath(dataDir));
    db.exec("DROP TRIGGER audit_events_no_delete; DELETE FROM audit_events WHERE seq >= 8; UPDATE store_meta SET value = 7 WHERE key = 'indexed_through'; UPDATE action_index SET outcome_seq = NULL WHERE outcome_seq >= 8; DELETE FROM action_index WHERE decision_seq >= 8;");
    db.close();
    // Here the key file vouches for the copy.
    const cut = await cli('audit', 'verify', '--against', 'cp.json');
    expect(cut.code, cut.stderr).toBe(1);
    expect(cut.stdout).toContain('BROKEN at seq 8: truncated: the chain ends at seq 7 but cp.json names seq 11');
    // A verifier elsewhere holds the public key only: without it the copy is not trusted.
    fs.renameSync(key.file, path.join(dir, 'kept-elsewhere.pem'));
    const untrusted = await cli('audit', 'verify', '--against', 'cp.json');
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr).toContain('cp.json cannot be trusted: it is signed by key');
    const withPublicKey = await cli('audit', 'verify', '--against', 'cp.json', '--public-key', key.publicKey);
    expect(withPublicKey.code).toBe(1);
    expect(withPublicKey.stdout).toContain('BROKEN at seq 8: truncated: the chain ends at seq 7 but cp.json names seq 11');

    const notJson = path.join(dir, 'not.json');
    fs.writeFileSync(notJson, 'hello');
    const bad = await cli('audit', 'verify', '--against', 'not.json');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--against not.json: not JSON');
  });

  it('on PostgreSQL with --db: a chain re-hashed from an early event is forked from the checkpoint', async () => {
    const dir = scratch();
    const schema = schemas.name();
    const db = `${PG_URL}?schema=${schema}`;
    const store = await schemas.open({ schema });
    await calls(store, 3, 0); // seq 1–6
    const cli = (...args: string[]) => runCli([...args, '--db', db], { cwd: dir, env: { ...process.env, ASCEND_CHECKPOINT_KEY: path.join(dir, 'k.pem') } });
    expect((await cli('keys', 'checkpoint-key', 'create')).code).toBe(0);
    const taken = await cli('audit', 'checkpoint', '--out', 'cp.json', '--json');
    expect(taken.code, taken.stderr).toBe(0);
    expect(JSON.parse(taken.stdout)).toMatchObject({ seq: 7 });
    expect((await cli('audit', 'verify')).stdout).toMatch(/^ok: 1 event \(from the checkpoint at seq 7,/);

    // Rewrite event 2's data and every hash after it; drop the stored checkpoint's event too.
    await withAdmin(async (client) => {
      await client.query(`ALTER TABLE "${schema}".audit_events DISABLE TRIGGER USER`);
      const { rows } = await client.query<{ seq: number; hash: string }>(`SELECT seq, hash FROM "${schema}".audit_events ORDER BY seq`);
      expect(rows.map((r) => Number(r.seq))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      await client.query(`DELETE FROM "${schema}".audit_events WHERE seq = 8`);
    });
    const { auditEventBody, auditHash } = await import('../../src/store/audit-chain.js');
    const { canonicalJson } = await import('../../src/core/canonical.js');
    const events = await store.readAudit();
    let prev = events[0]!.hash;
    await withAdmin(async (client) => {
      for (const event of events.slice(1)) {
        const data = event.seq === 2 ? { ...event.data, resource: 'innocent_table' } : event.data;
        const dataJson = canonicalJson(data);
        const hash = auditHash(prev, auditEventBody(event.seq, event, dataJson, prev));
        await client.query(`UPDATE "${schema}".audit_events SET data = $1, prev_hash = $2, hash = $3 WHERE seq = $4`, [dataJson, prev, hash, event.seq]);
        prev = hash;
      }
    });
    const forked = await cli('audit', 'verify', '--against', 'cp.json', '--json');
    expect(forked.code).toBe(1);
    const doc = JSON.parse(forked.stdout) as { ok: boolean; firstBad: { seq: number; reason: string }; against: unknown[] };
    expect(doc.firstBad).toEqual({ seq: 7, reason: expect.stringMatching(/^forked: event 7 has hash [0-9a-f]{64} but cp\.json names /) });
    expect(doc.against).toEqual([{ source: 'cp.json', seq: 7, ok: false }]);
  });
});

describe('ascend serve --checkpoint-every', () => {
  let first: ServerProcess | undefined;
  let second: ServerProcess | undefined;
  afterEach(async () => {
    await disposeServer(second);
    await disposeServer(first);
  });

  it('replicas share one schedule; a checkpoint reaches a webhook and checks out through the API', async () => {
    const dir = scratch();
    const schema = schemas.name();
    const db = `${PG_URL}?schema=${schema}`;
    const keyFile = path.join(dir, 'checkpoint-key.pem');
    const keys = await seedKeys(db);
    expect((await runCli(['keys', 'checkpoint-key', 'create', '--db', db, '--key', keyFile], { cwd: dir })).code).toBe(0);
    const serveArgs = ['--checkpoint-every', '1h', '--checkpoint-key', keyFile, '--allow-private-webhooks'];
    first = await startServerProcess({ db, keys, args: serveArgs });
    const reader = await schemas.open({ schema });
    const checkpoints = () => reader.readAudit({ types: ['audit.checkpoint'] });
    await eventually(async () => (await checkpoints()).length === 1, 15_000);
    second = await startServerProcess({ db, keys, args: serveArgs });
    await eventually(() => /next audit checkpoint check scheduled/.test(second!.logs()), 15_000);
    expect(await checkpoints()).toHaveLength(1); // the second found it fresh

    const sink = await webhookReceiver();
    cleanups.push(() => sink.close());
    const hook = await api(first, 'POST', '/v1/webhooks', keys.admin, { url: sink.url, events: ['audit.checkpoint'] });
    expect(hook.status).toBe(200);
    const taken = await runCli(['audit', 'checkpoint', '--db', db, '--key', keyFile], { cwd: dir });
    expect(taken.code, taken.stderr).toBe(0);
    await eventually(() => sink.bodies.length === 1, 15_000);
    const delivered = JSON.parse(sink.bodies[0]!) as { event: string; checkpoint: { seq: number } };
    expect(delivered).toMatchObject({ event: 'audit.checkpoint', checkpoint: { v: 1 } });
    fs.writeFileSync(path.join(dir, 'from-webhook.json'), JSON.stringify(delivered.checkpoint));

    const remote = await runCli(['audit', 'verify', '--against', 'from-webhook.json', '--api-url', second.url], {
      cwd: dir,
      env: { ...process.env, ASCEND_API_KEY: keys.admin.apiKey, ASCEND_DB: '' },
    });
    expect(remote.code, remote.stderr).toBe(0);
    expect(remote.stdout).toContain(`ok: matches from-webhook.json (seq ${delivered.checkpoint.seq})`);
    const status = await api(second, 'GET', '/v1/audit/verify', keys.admin);
    expect(status.body).toMatchObject({ ok: true, startedFrom: { seq: delivered.checkpoint.seq, source: 'the chain' } });

    // Each replica on PostgreSQL reports how long its writes held the chain lock.
    const metrics = await fetch(`${first.url}/metrics`, { headers: { authorization: `Bearer ${keys.admin.apiKey}` } });
    const text = await metrics.text();
    const counter = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(counter('ascend_chain_commits_total')).toBeGreaterThan(0);
    expect(counter('ascend_chain_events_total')).toBeGreaterThanOrEqual(counter('ascend_chain_commits_total'));
    expect(counter('ascend_chain_lock_hold_seconds_total')).toBeGreaterThan(0);
  });
});
