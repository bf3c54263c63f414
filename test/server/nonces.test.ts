/**
 * Nonce stores. In memory: never forgets a live nonce (full of them, it refuses instead). On
 * SQLite: a nonce outlives the connection that remembered it, every connection and process on the
 * file refuses its replay (exactly one of several racing processes takes it), expired nonces are
 * purged, and a signed-out dashboard session stays signed out after a reopen.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/core/errors.js';
import { ApiKeyAuthenticator } from '../../src/server/api-keys.js';
import { RequestAuthenticator } from '../../src/server/auth.js';
import { SESSION_COOKIE, SessionCodec } from '../../src/server/dashboard/sessions.js';
import { MemoryNonceStore, SqliteNonceStore } from '../../src/server/nonces.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { ROOT, eventually, runNode, tempDir } from '../helpers.js';

const dirs: string[] = [];
function freshPath(): string {
  const dir = tempDir('ascend-nonces-');
  dirs.push(dir);
  return path.join(dir, 'ascend.db');
}
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe('MemoryNonceStore', () => {
  it('refuses a replay, forgets only expired nonces, and refuses new ones when full of live ones', async () => {
    const nonces = new MemoryNonceStore();
    const live = Date.now() + 60_000;
    expect(await nonces.remember('k:1', live)).toBe(true);
    expect(await nonces.remember('k:1', live)).toBe(false);
    for (let i = 2; i <= 500_000; i++) await nonces.remember(`k:${i}`, i % 2 === 0 ? Date.now() - 1 : live);
    // Half had expired: they make room, the live ones stay.
    expect(await nonces.remember('k:new', live)).toBe(true);
    expect(await nonces.remember('k:1', live)).toBe(false);
    const full = new MemoryNonceStore();
    for (let i = 0; i < 500_000; i++) await full.remember(`n:${i}`, live);
    await expect(full.remember('n:one-more', live)).rejects.toBeInstanceOf(StoreError);
    expect(await full.remember('n:0', live)).toBe(false); // still remembered
  });
});

describe('SqliteNonceStore', () => {
  it('keeps a nonce across a reopen and shares it with every connection on the file', async () => {
    const file = freshPath();
    const live = Date.now() + 60_000;
    const first = new SqliteNonceStore(file);
    const second = new SqliteNonceStore(file);
    try {
      expect(await first.remember('k:a', live)).toBe(true);
      expect(await first.remember('k:a', live)).toBe(false);
      expect(await second.remember('k:a', live)).toBe(false);
      expect(await second.remember('k:b', live)).toBe(true);
      expect(await first.isRemembered('k:b')).toBe(true);
      expect(await first.isRemembered('k:never')).toBe(false);
    } finally {
      await first.close();
      await second.close();
    }
    const reopened = new SqliteNonceStore(file);
    try {
      expect(await reopened.remember('k:a', live)).toBe(false);
      expect(await reopened.remember('k:b', live)).toBe(false);
      expect(await reopened.isRemembered('k:a')).toBe(true);
    } finally {
      await reopened.close();
    }
  });

  it('lives in the store\'s file: opened after the store, or before it', async () => {
    const afterStore = freshPath();
    const store = openSqliteStore(afterStore);
    const nonces = new SqliteNonceStore(afterStore);
    expect(await nonces.remember('k:1', Date.now() + 60_000)).toBe(true);
    await nonces.close();
    await store.close();

    const beforeStore = freshPath();
    const first = new SqliteNonceStore(beforeStore);
    expect(await first.remember('k:1', Date.now() + 60_000)).toBe(true);
    await first.close();
    const later = openSqliteStore(beforeStore);
    expect((await later.verifyAudit()).ok).toBe(true);
    await later.close();
  });

  it('purges expired nonces and does not count them as remembered', async () => {
    const file = freshPath();
    const nonces = new SqliteNonceStore(file);
    const past = Date.now() - 1;
    for (let i = 0; i < 50; i++) await nonces.remember(`old:${i}`, past);
    expect(await nonces.isRemembered('old:7')).toBe(false);
    await nonces.close();
    // A fresh connection purges on its first insert (then every 1000 inserts or every minute).
    const reopened = new SqliteNonceStore(file);
    expect(await reopened.remember('new:1', Date.now() + 60_000)).toBe(true);
    await reopened.close();
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare('SELECT nonce FROM request_nonces ORDER BY nonce').pluck().all()).toEqual(['new:1']);
    } finally {
      db.close();
    }
  });

  it('lets exactly one of several processes take each nonce', async () => {
    const file = freshPath();
    const dir = path.dirname(file);
    new SqliteNonceStore(file).close(); // make the table before the race
    const script = path.join(dir, 'racer.mts'); // an ES module: top-level await
    fs.writeFileSync(
      script,
      `import fs from 'node:fs';
import { SqliteNonceStore } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'src/server/nonces.ts')).href)};
const [file, name, count, go] = process.argv.slice(2);
const nonces = new SqliteNonceStore(file, { busyTimeoutMs: 60_000 });
fs.writeFileSync(go + '.' + name, '');
while (!fs.existsSync(go)) await new Promise((r) => setTimeout(r, 5));
const won = [];
for (let i = 0; i < Number(count); i++) if (await nonces.remember('race:' + i, Date.now() + 60_000)) won.push(i);
await nonces.close();
process.stdout.write(JSON.stringify(won));
`,
    );
    const count = 2000;
    const go = path.join(dir, 'go');
    const ended: string[] = [];
    const racers = ['a', 'b', 'c'].map((name) => runNode(script, [file, name, String(count), go]).then((r) => (ended.push(r.stderr), r)));
    await eventually(() => {
      if (ended.length > 0) throw new Error(`a racer ended before the start: ${ended.join('\n')}`);
      return ['a', 'b', 'c'].every((name) => fs.existsSync(`${go}.${name}`));
    }, 60_000);
    fs.writeFileSync(go, '');
    const results = await Promise.all(racers);
    const won = results.map((r) => {
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as number[];
    });
    const all = won.flat().sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: count }, (_, i) => i)); // each taken once, none lost
  }, 120_000);

  it('keeps a signed-out dashboard session signed out after the store is reopened', async () => {
    const file = freshPath();
    const sessions = new SessionCodec({ secret: 's'.repeat(32) });
    const authenticatorOn = (nonces: SqliteNonceStore) =>
      new RequestAuthenticator(new ApiKeyAuthenticator({ getApiKey: async () => undefined }, 0), { requireSigning: false, sessions, nonces, localSessions: true });
    const { value, session } = sessions.issue({ name: 'dana', role: 'admin', org: 'default' });
    const request = (auth: RequestAuthenticator) =>
      auth.authenticate({ method: 'GET', url: '/v1/approvals', headers: { cookie: `${SESSION_COOKIE}=${value}`, host: '127.0.0.1:8080' }, rawBody: undefined });

    const before = new SqliteNonceStore(file);
    const auth = authenticatorOn(before);
    await expect(request(auth)).resolves.toBeDefined();
    await auth.endSession(session);
    await expect(request(auth)).rejects.toThrow(/signed out/);
    await before.close();

    const after = new SqliteNonceStore(file);
    try {
      await expect(request(authenticatorOn(after))).rejects.toThrow(/signed out/);
    } finally {
      await after.close();
    }
  });

  it('reports a file it cannot open as a StoreError naming the file', () => {
    const dir = tempDir('ascend-nonces-');
    dirs.push(dir);
    expect(() => new SqliteNonceStore(dir)).toThrow(StoreError);
    expect(() => new SqliteNonceStore(dir)).toThrow(dir);
  });
});
