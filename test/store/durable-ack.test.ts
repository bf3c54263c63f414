/**
 * `whenDurable()`: what a server waits for before it answers. In batched mode it resolves at the
 * group commit that carries the writes made before it (never before), shared by every write
 * queued in the same turn; in sync mode at once.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';
import { tempDir } from '../helpers.js';
import { makeAction } from './records.js';

const stores: SqliteStore[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function open(file: string, durability: 'sync' | 'batched'): SqliteStore {
  const store = openSqliteStore(file, { durability, flushIntervalMs: 60_000 });
  stores.push(store);
  return store;
}

describe('whenDurable', () => {
  it('batched: resolves only once the queued decisions are committed, one commit for a burst', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const file = path.join(dir, 'a.db');
    const commits: number[] = [];
    const writer = openSqliteStore(file, { durability: 'batched', flushIntervalMs: 60_000, onFlush: (r) => commits.push(r.actionIds.length) });
    stores.push(writer);
    const reader = open(file, 'sync');
    const actions = Array.from({ length: 20 }, () => makeAction());
    for (const a of actions) await writer.recordDecision(a);
    // Queued: another connection cannot see them yet, and the interval (60 s) is far away.
    expect(await reader.getAction(actions[0]!.actionId)).toBeUndefined();
    await Promise.all(actions.map(() => writer.whenDurable()));
    expect(commits).toEqual([20]);
    for (const a of actions) expect(await reader.getAction(a.actionId)).toMatchObject({ actionId: a.actionId });
    expect((await reader.verifyAudit()).ok).toBe(true);
  });

  it('sync and empty queues resolve at once', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const sync = open(path.join(dir, 's.db'), 'sync');
    const a = makeAction();
    await sync.recordDecision(a);
    await sync.whenDurable();
    const batched = open(path.join(dir, 'b.db'), 'batched');
    await batched.whenDurable();
    expect(await sync.getAction(a.actionId)).toBeDefined();
  });
});
