/** The SQLite store: the shared contract in both durability modes, plus what is SQLite's own. */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConflictError, StaleDecisionError, StoreError } from '../../src/core/errors.js';
import type { FlushReport } from '../../src/store/batch.js';
import { SCHEMA_VERSION } from '../../src/store/migrations.js';
import { defaultDbPath, INDEX_AFTER_ACTIONS, openSqliteStore, type SqliteStore, type SqliteStoreOptions } from '../../src/store/sqlite.js';
import { eventually, tempDir } from '../helpers.js';
import { databaseContract, storeContract } from './contract.js';
import { expectConsistent } from './integrity.js';
import { at, eventTypes, makeAction, makeOutcome, makePending, writeSome } from './records.js';

const dirs: string[] = [];
function freshPath(): string {
  const dir = tempDir('ascend-store-');
  dirs.push(dir);
  return path.join(dir, 'ascend.db');
}
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

storeContract('sqlite (sync)', async () => openSqliteStore(freshPath()));
storeContract('sqlite (batched)', async () => openSqliteStore(freshPath(), { durability: 'batched', flushIntervalMs: 5, maxBatchSize: 8 }));
databaseContract('sqlite', () => {
  const file = freshPath();
  /** Raw SQL on the file; the tamperer drops the append-only triggers first. */
  const exec = (tamper: boolean) => async (sql: string): Promise<void> => {
    const db = raw(file);
    try {
      if (tamper) db.exec('DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete;');
      db.exec(sql.replaceAll('$S.', ''));
    } finally {
      db.close();
    }
  };
  return { open: async (options) => openStore(file, options), run: exec(false), tamper: exec(true) };
});

/** Stores opened by a test, closed after it. */
const open: SqliteStore[] = [];
function openStore(file: string, options: SqliteStoreOptions = {}): SqliteStore {
  const store = openSqliteStore(file, options);
  open.push(store);
  return store;
}
afterEach(async () => {
  for (const store of open.splice(0)) await store.close().catch(() => undefined);
});

/** A raw connection to the same file, as an attacker (or another tool) would have. */
function raw(file: string): Database.Database {
  const db = new Database(file, { timeout: 5000 });
  return db;
}

describe('SQLite store: opening', () => {
  it('creates the parent directory and uses WAL + synchronous=NORMAL + foreign keys', async () => {
    const dir = tempDir('ascend-store-');
    dirs.push(dir);
    const file = defaultDbPath(path.join(dir, 'nested', '.ascend'));
    expect(file).toBe(path.join(dir, 'nested', '.ascend', 'ascend.db'));
    const store = openStore(file);
    expect(store.kind).toBe('sqlite');
    expect(store.durability).toBe('sync');
    const db = raw(file);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.prepare('SELECT MAX(version) FROM schema_migrations').pluck().get()).toBe(SCHEMA_VERSION);
    db.close();
    // Settings of the store's own connection, read through its pragma.
    const inner = (store as unknown as { db: Database.Database }).db;
    expect(inner.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    expect(inner.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(inner.pragma('busy_timeout', { simple: true })).toBe(5000);
  });

  it('keeps data across close and reopen, and does not re-run migrations', async () => {
    const file = freshPath();
    const first = openSqliteStore(file);
    const [id] = await writeSome(first, 1);
    await first.close();
    const second = openStore(file);
    expect(await second.getAction(id as string)).toBeDefined();
    const db = raw(file);
    expect(db.prepare('SELECT COUNT(*) FROM schema_migrations').pluck().get()).toBe(SCHEMA_VERSION);
    db.close();
    expect((await second.verifyAudit()).ok).toBe(true);
  });

  it('throws StoreError naming the file when it is not a database', () => {
    const file = freshPath();
    fs.writeFileSync(file, 'this is not a database, just some text that is long enough to have a header '.repeat(20));
    let caught: unknown;
    try {
      openSqliteStore(file);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(StoreError);
    const err = caught as StoreError;
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/not a SQLite database|SQLITE_NOTADB/);
    expect((err.cause as { code?: string }).code).toBe('SQLITE_NOTADB');
  });

  it('throws StoreError when the path cannot be opened', () => {
    const dir = tempDir('ascend-store-');
    dirs.push(dir);
    expect(() => openSqliteStore(dir)).toThrow(StoreError); // a directory, not a file
  });

  it('reports a corrupted file as StoreError (SQLITE_CORRUPT), naming the file', async () => {
    const file = freshPath();
    const writer = openSqliteStore(file);
    await writeSome(writer, 200);
    await writer.close(); // checkpoints the WAL into the file
    const bytes = fs.readFileSync(file);
    const pageSize = bytes.readUInt16BE(16);
    // Scribble over every page but the first (schema): b-tree pages no longer parse.
    for (let offset = pageSize; offset < bytes.length; offset += pageSize) bytes.fill(0xa5, offset, offset + 64);
    fs.writeFileSync(file, bytes);
    const err = await (async () => {
      const store = openStore(file);
      return store.verifyAudit();
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).message).toContain(file);
    expect((err as StoreError).message).toMatch(/corrupt/);
  });

  it('refuses a file written by a newer schema', () => {
    const file = freshPath();
    openSqliteStore(file).close();
    const db = raw(file);
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', '')").run(SCHEMA_VERSION + 1);
    db.close();
    expect(() => openSqliteStore(file)).toThrow(/newer than this ascend-sdk supports/);
  });

  it('rejects nonsense options', () => {
    expect(() => openSqliteStore(freshPath(), { maxBatchSize: 0 })).toThrow(/maxBatchSize/);
    expect(() => openSqliteStore(freshPath(), { pollIntervalMs: -1 })).toThrow(/pollIntervalMs/);
  });
});

describe('SQLite store: several connections on one file', () => {
  it('keeps one valid chain when two stores write alternately', async () => {
    const file = freshPath();
    const a = openStore(file);
    const b = openStore(file);
    for (let i = 0; i < 20; i++) {
      const store = i % 2 === 0 ? a : b;
      const action = makeAction({ createdAt: at(i), agentId: i % 2 === 0 ? 'agent-a' : 'agent-b' });
      await store.recordDecision(action);
      await (i % 3 === 0 ? b : a).recordOutcome(makeOutcome(action.actionId, { recordedAt: at(i) }));
    }
    const events = await a.readAudit();
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(await a.verifyAudit()).toMatchObject({ ok: true, checked: 40, headSeq: 40 });
    expect(await b.verifyAudit()).toMatchObject({ ok: true, checked: 40 });
  });

  it('keeps one chain when a batched store and a sync store interleave', async () => {
    const file = freshPath();
    const batched = openStore(file, { durability: 'batched', maxBatchSize: 4 });
    const sync = openStore(file);
    for (let i = 0; i < 30; i++) {
      const target = i % 5 === 0 ? sync : batched;
      const action = makeAction({ createdAt: at(i) });
      await target.recordDecision(action);
      await target.recordOutcome(makeOutcome(action.actionId, { recordedAt: at(i) }));
    }
    await batched.flush();
    expect(await sync.verifyAudit()).toMatchObject({ ok: true, checked: 60 });
  });

  it("sees another process's kill switch on the very next getAgent (the agent cache is checked)", async () => {
    const file = freshPath();
    const agentStore = openStore(file);
    const cli = openStore(file);
    await agentStore.upsertAgent({ agentId: 'bot', agentName: 'Bot', agentType: 't', capabilities: ['a.*'], allowedResources: [], metadata: { k: { n: 1 } } }, at(0));
    const first = await agentStore.getAgent('bot');
    expect(first?.blocked).toBe(false);
    // A caller changing what it got back does not change what the next caller gets.
    first?.capabilities.push('evil.*');
    (first?.metadata.k as { n: number }).n = 2;
    expect(await agentStore.getAgent('bot')).toMatchObject({ capabilities: ['a.*'], metadata: { k: { n: 1 } } });
    await cli.setAgentBlocked('bot', true, 'stop now', 'ops', at(1));
    expect(await agentStore.getAgent('bot')).toMatchObject({ blocked: true, blockedReason: 'stop now' });
    await agentStore.setAgentBlocked('bot', false, 'ok', 'ops', at(2));
    expect((await agentStore.getAgent('bot'))?.blocked).toBe(false);
    expect((await cli.getAgent('bot'))?.blocked).toBe(false);
  });

  it('polls for foreign writes only while someone watches', async () => {
    const store = openStore(freshPath());
    const timer = (): unknown => (store as unknown as { notifier: { timer: unknown } }).notifier.timer;
    expect(timer()).toBeUndefined();
    const stopA = store.watch(() => undefined);
    const stopB = store.watch(() => undefined);
    expect(timer()).toBeDefined();
    stopA();
    expect(timer()).toBeDefined();
    stopB();
    expect(timer()).toBeUndefined();
  });

  it("notices another connection's writes without writing itself (it polls while watched)", async () => {
    const file = freshPath();
    const watcher = openStore(file, { pollIntervalMs: 25 });
    const writer = openStore(file);
    let calls = 0;
    watcher.watch(() => calls++);
    await new Promise((r) => setTimeout(r, 30));
    expect(calls).toBe(0);
    await writer.setAgentBlocked('agent-a', true, 'stop', 'ops', at(0));
    await eventually(() => calls > 0, 10_000, 2);
    expect((await watcher.getAgent('agent-a'))?.blocked).toBe(true);
  });

  it('fails with StoreError (busy) when another connection holds the write lock too long', async () => {
    const file = freshPath();
    const store = openStore(file, { busyTimeoutMs: 50 });
    const db = raw(file);
    db.exec('BEGIN IMMEDIATE');
    try {
      const err = await store.upsertAgent({ agentId: 'x', agentName: 'x', agentType: 'x', capabilities: [], allowedResources: [], metadata: {} }, at(0)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).message).toMatch(/locked.*busyTimeoutMs \(50 ms\)/);
      expect((err as StoreError).message).toContain(file);
    } finally {
      db.exec('ROLLBACK');
      db.close();
    }
    // And it works again once the lock is gone.
    await store.setAgentBlocked('x', true, 'r', 'ops', at(1));
    expect((await store.verifyAudit()).ok).toBe(true);
  });
});

describe('SQLite store: one row per hot commit, and the action index', () => {
  const indexRows = (file: string): number => {
    const db = raw(file);
    try {
      return db.prepare('SELECT COUNT(*) FROM action_index').pluck().get() as number;
    } finally {
      db.close();
    }
  };

  it('writes decisions and outcomes as audit rows only; the index catches up in bulk', async () => {
    const file = freshPath();
    const store = openStore(file);
    const other = openStore(file);
    const first = await writeSome(store, 10);
    expect(indexRows(file)).toBe(0);
    // Not in the index yet, and still found by another connection (it reads the unindexed tail).
    expect((await other.getAction(first[3] as string))?.actionId).toBe(first[3]);
    expect((await other.getOutcome(first[3] as string))?.status).toBe('completed');
    const more = await writeSome(store, INDEX_AFTER_ACTIONS);
    const indexed = indexRows(file);
    expect(indexed).toBeGreaterThan(0);
    expect(indexed).toBeLessThan(10 + INDEX_AFTER_ACTIONS);
    for (const id of [first[0], more[0], more[more.length - 1]] as string[]) {
      expect((await other.getAction(id))?.actionId).toBe(id);
      expect(eventTypes(await other.readAudit({ actionId: id }))).toEqual(['action.evaluated', 'action.completed']);
      await expect(other.recordOutcome(makeOutcome(id))).rejects.toBeInstanceOf(ConflictError);
    }
    await other.close(); // it only read: it writes nothing, not even the index
    expect(indexRows(file)).toBe(indexed);
    await store.close();
    expect(indexRows(file)).toBe(10 + INDEX_AFTER_ACTIONS);
    await expectConsistent(file);
  });

  it('a connection that only reads keeps its memory bounded while others write and index', async () => {
    const file = freshPath();
    const writer = openStore(file);
    const reader = openStore(file);
    const tailSize = (): number => (reader as unknown as { view: { tail: Map<string, unknown> } }).view.tail.size;
    let last = '';
    for (let round = 0; round < 10; round++) {
      const ids = await writeSome(writer, 300);
      last = ids[ids.length - 1] as string;
      expect((await reader.getOutcome(last))?.actionId).toBe(last);
    }
    expect(tailSize()).toBeLessThan(2048 + 300);
    expect((await reader.getAction(last))?.actionId).toBe(last);
    await expectConsistent(file);
  });

  it('finds what a connection wrote and never indexed (it was killed)', async () => {
    const file = freshPath();
    const writer = openSqliteStore(file); // never closed: its tail is never indexed
    const ids = await writeSome(writer, 3);
    const pending = makePending();
    await writer.recordDecision(pending.action, pending.approval);
    const reader = openStore(file);
    expect((await reader.getAction(ids[1] as string))?.actionId).toBe(ids[1]);
    expect(eventTypes(await reader.readAudit({ actionId: pending.action.actionId }))).toEqual(['action.evaluated', 'approval.requested']);
    await reader.recordOutcome(makeOutcome(pending.action.actionId));
    await expect(writer.recordOutcome(makeOutcome(pending.action.actionId))).rejects.toBeInstanceOf(ConflictError);
    await expect(reader.recordDecision(pending.action)).rejects.toBeInstanceOf(ConflictError);
    expect(indexRows(file)).toBe(0);
  });

  it("refuses a decision made on a registration another process has since changed", async () => {
    const file = freshPath();
    const agentSide = openStore(file);
    const cli = openStore(file);
    const registered = await agentSide.upsertAgent(
      { agentId: 'bot', agentName: 'Bot', agentType: 't', capabilities: [], allowedResources: [], metadata: {} },
      at(0),
    );
    expect(await agentSide.agentForDecision('bot')).toMatchObject({ blocked: false, version: registered.version });
    await cli.setAgentBlocked('bot', true, 'stop now', 'ops', at(1));
    const action = makeAction({ agentId: 'bot' });
    await expect(agentSide.recordDecision(action, undefined, { agentVersion: registered.version })).rejects.toBeInstanceOf(StaleDecisionError);
    expect(await cli.getAction(action.actionId)).toBeUndefined();
    // The refused transaction taught the cache: the next decision is made on the block.
    expect(await agentSide.agentForDecision('bot')).toMatchObject({ blocked: true, blockedReason: 'stop now' });
  });

  it('batched: a decision reads a registration at most flushIntervalMs old', async () => {
    const file = freshPath();
    const agentSide = openStore(file, { durability: 'batched', flushIntervalMs: 20 });
    const cli = openStore(file);
    await cli.upsertAgent({ agentId: 'bot', agentName: 'Bot', agentType: 't', capabilities: [], allowedResources: [], metadata: {} }, at(0));
    expect((await agentSide.agentForDecision('bot'))?.blocked).toBe(false);
    await cli.setAgentBlocked('bot', true, 'stop', 'ops', at(1));
    await new Promise((r) => setTimeout(r, 25));
    expect((await agentSide.agentForDecision('bot'))?.blocked).toBe(true);
  });
});

describe('SQLite store: batched durability', () => {
  function batchedStore(file: string, options: SqliteStoreOptions = {}): { store: SqliteStore; reports: FlushReport[] } {
    const reports: FlushReport[] = [];
    const store = openStore(file, { durability: 'batched', flushIntervalMs: 10_000, maxBatchSize: 100, onFlush: (r) => reports.push(r), ...options });
    return { store, reports };
  }

  it('flushes on the next turn of the event loop once maxBatchSize are queued, not inside the call', async () => {
    const file = freshPath();
    const { store, reports } = batchedStore(file, { maxBatchSize: 4 });
    const ids = await writeSome(store, 3); // 6 writes, all awaited without yielding to the event loop
    expect(reports).toHaveLength(0);
    await new Promise((r) => setImmediate(r));
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ actionIds: ids, outcomeActionIds: ids, firstSeq: 1, lastSeq: 6 });
    await store.close();
    expect(reports).toHaveLength(1);
  });

  it('commits denials and blocks at once', async () => {
    const file = freshPath();
    const { store } = batchedStore(file);
    const other = openStore(file);
    const denied = makeAction({ decision: 'denied' });
    await store.recordDecision(denied);
    expect(await other.getAction(denied.actionId)).toBeDefined();
    await store.setAgentBlocked('agent-a', true, 'stop', 'ops', at(0));
    expect((await other.getAgent('agent-a'))?.blocked).toBe(true);
  });

  it('records an outcome for an action decided earlier (already in the file)', async () => {
    const file = freshPath();
    const sync = openStore(file);
    const action = makeAction();
    await sync.recordDecision(action);
    const { store } = batchedStore(file);
    await store.recordOutcome(makeOutcome(action.actionId));
    await expect(store.recordOutcome(makeOutcome(action.actionId))).rejects.toBeInstanceOf(ConflictError);
    await store.flush();
    await sync.recordDecision(makeAction({ actionId: 'later' }));
    await expect(store.recordOutcome(makeOutcome(action.actionId))).rejects.toBeInstanceOf(ConflictError);
    expect((await sync.verifyAudit()).ok).toBe(true);
  });
});
