/**
 * `ascend serve` stops cleanly on SIGTERM, on either database: it drains, closes, says "stopped"
 * and exits 0. On PostgreSQL it used to exit 13 ("unsettled top-level await"): the LISTEN
 * connection's socket was unref'd, so the process ran out of work before closing it completed.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PG_URL } from '../store/pg-helpers.js';
import { disposeServer, seedKeys, startServerProcess, type ServerProcess } from './helpers.js';

const schema = `ascend_shutdown_${randomBytes(4).toString('hex')}`;
const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const s of servers) await disposeServer(s);
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

describe('SIGTERM', () => {
  it.each([
    ['PostgreSQL', () => `${PG_URL}?schema=${schema}`],
    ['SQLite', () => undefined],
  ])('on %s: drains, says "stopped" and exits 0', async (_name, db) => {
    const target = db();
    const server = await startServerProcess(target ? { db: target, keys: await seedKeys(target) } : {});
    servers.push(server);
    expect(await server.stop()).toBe(0);
    expect(server.logs()).toContain('"msg":"stopped"');
    expect(server.logs()).not.toContain('unsettled top-level await');
  });
});
