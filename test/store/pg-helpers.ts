/**
 * PostgreSQL test helpers: the test database, one fresh schema per store under test (dropped at
 * the end), and an admin connection. The tests never skip: without a reachable server they fail
 * and say how to point them at one.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openPostgresStore, type PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres.js';

/** The test database (`ASCEND_TEST_PG_URL`, else the local trust-auth server). */
export const PG_URL = process.env.ASCEND_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function unreachable(err: unknown): Error {
  const why = err instanceof Error ? err.message || String(err) : String(err);
  return new Error(
    `PostgreSQL for the store tests is not reachable at ${PG_URL} (${why}). ` +
      'Start it, or set ASCEND_TEST_PG_URL=postgres://user@host:port/db.',
    { cause: err },
  );
}

/** A connected admin client (the caller ends it). Fails with a clear message when the server is down. */
export async function adminClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw unreachable(err);
  }
  return client;
}

/** Run `fn` on a short-lived admin connection. */
export async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await adminClient();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Fresh schemas for one test file, and the stores opened on them. */
export class PgTestSchemas {
  private readonly schemas: string[] = [];
  private readonly stores: PostgresStore[] = [];

  /** A new, unused schema name (not created: the store creates it). */
  name(): string {
    const schema = `ascend_test_${randomBytes(6).toString('hex')}`;
    this.schemas.push(schema);
    return schema;
  }

  /** Open a store on `schema` (default: a fresh one); closed by {@link closeStores}. */
  async open(options: PostgresStoreOptions = {}, schema = options.schema ?? this.name()): Promise<PostgresStore> {
    let store: PostgresStore;
    try {
      store = await openPostgresStore(PG_URL, { ...options, schema });
    } catch (err) {
      throw /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|authentication|does not exist/i.test(String(err)) ? unreachable(err) : err;
    }
    this.stores.push(store);
    return store;
  }

  /** Close every store opened so far (errors ignored: a test may have closed it already). */
  async closeStores(): Promise<void> {
    for (const store of this.stores.splice(0)) await store.close().catch(() => undefined);
  }

  /** Close the stores and drop every schema named so far. */
  async dropAll(): Promise<void> {
    await this.closeStores();
    const schemas = this.schemas.splice(0);
    if (schemas.length === 0) return;
    await withAdmin(async (client) => {
      for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    });
  }
}
