/**
 * Databases under attack, for the adversarial tests of the audit trail: a real SQLite file and a
 * fresh schema of the real PostgreSQL, each with a store open on it and a way to run raw SQL as
 * a tamperer who dropped the append-only triggers.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Store } from '../../src/store/store.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { openSqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { openPostgresOutbox } from '../../src/store/postgres-outbox.js';
import type { WebhookOutbox } from '../../src/store/outbox.js';
import { tempDir } from '../helpers.js';
import { afterAll, afterEach } from 'vitest';
import { PG_URL, PgTestSchemas, withAdmin } from '../store/pg-helpers.js';
import { at, makeAction, makeOutcome, makePending } from '../store/records.js';

/** What the standard trail wrote. Events: 1 agent.registered; 2, 3 a decision and its outcome;
 * 4, 5 a pending decision and its approval request; 6, 7 the approval and its grant; 8–11 two
 * more decisions with outcomes (the newest events are the hot ones, which nothing else names). */
export interface Trail {
  /** Action ids of the decisions at seq 8 and 10. */
  lastActionIds: [string, string];
}

/** The standard trail's last seq. */
export const HEAD = 11;

/** Write the standard trail. */
export async function writeTrail(store: Store): Promise<Trail> {
  await store.upsertAgent(
    { agentId: 'agent-a', agentName: 'Agent A', agentType: 'support', capabilities: ['database.*'], allowedResources: ['production_db'], metadata: {} },
    at(0),
  );
  const first = makeAction({ createdAt: at(1) });
  await store.recordDecision(first);
  await store.recordOutcome(makeOutcome(first.actionId, { recordedAt: at(1) }));
  const { action, approval } = makePending({ createdAt: at(2) });
  await store.recordDecision(action, approval);
  await store.decideApproval({ approvalId: approval.approvalId, status: 'approved', decidedBy: 'carol', channel: 'cli', grantMinutes: 10, now: at(3) });
  const ids: string[] = [];
  for (let i = 0; i < 2; i++) {
    const later = makeAction({ createdAt: at(4 + i) });
    await store.recordDecision(later);
    await store.recordOutcome(makeOutcome(later.actionId, { recordedAt: at(4 + i) }));
    ids.push(later.actionId);
  }
  return { lastActionIds: [ids[0]!, ids[1]!] };
}

/** One database under attack: its store, and raw SQL run with the triggers dropped. */
export interface Target {
  store: Store;
  /** Run `sql` (`$S.` stands for the schema prefix) as the tamperer, triggers dropped. */
  tamper(sql: string): Promise<void>;
  /** Run `sql` as someone with the database but the triggers in place. */
  write(sql: string): Promise<void>;
  /** Write webhooks and deliveries of the same database. */
  outbox(): WebhookOutbox;
  /** `--db` for the `ascend` command on this database. */
  db: string;
}

/** A kind of database to attack. */
export interface Backend {
  name: 'sqlite' | 'postgres';
  /**
   * A fresh database with a store open on it. `settled`: the writer has closed cleanly before
   * the attack (SQLite writes its action index then) and the store is reopened.
   */
  open(settled: boolean, write: (store: Store) => Promise<unknown>): Promise<Target>;
}

/** Undo what a test set up (run by the test file's afterEach, newest first). */
export type Cleanups = Array<() => Promise<void> | void>;

/** The two backends; what they open is undone through `cleanups`, schemas dropped by `schemas`. */
export function tamperBackends(cleanups: Cleanups, schemas: PgTestSchemas): [Backend, Backend] {
  const sqlite: Backend = {
    name: 'sqlite',
    async open(settled, write) {
      const dir = tempDir('ascend-tamper-');
      cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
      const file = path.join(dir, 'ascend.db');
      let store: Store = openSqliteStore(file);
      await write(store);
      if (settled) {
        await store.close();
        store = openSqliteStore(file);
      }
      const opened = store;
      cleanups.push(() => opened.close());
      return {
        store,
        db: `sqlite:${file}`,
        async tamper(sql) {
          const db = new Database(file);
          try {
            db.exec('DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete;');
            db.exec(sql.replaceAll('$S.', ''));
          } finally {
            db.close();
          }
        },
        async write(sql) {
          const db = new Database(file);
          try {
            db.exec(sql.replaceAll('$S.', ''));
          } finally {
            db.close();
          }
        },
        outbox() {
          const outbox = openSqliteOutbox(file);
          cleanups.push(() => outbox.close());
          return outbox;
        },
      };
    },
  };
  const postgres: Backend = {
    name: 'postgres',
    async open(_settled, write) {
      const schema = schemas.name();
      const store = await schemas.open({ schema });
      await write(store);
      return {
        store,
        db: `${PG_URL}?schema=${schema}`,
        async tamper(sql) {
          await withAdminSql(schema, sql);
        },
        async write(sql) {
          await withAdmin(async (client) => {
            await client.query(sql.replaceAll('$S.', `"${schema}".`));
          });
        },
        outbox() {
          const outbox = openPostgresOutbox(PG_URL, { schema });
          cleanups.push(() => outbox.close());
          return outbox;
        },
      };
    },
  };
  return [sqlite, postgres];
}

async function withAdminSql(schema: string, sql: string): Promise<void> {
  await withAdmin(async (client) => {
    await client.query(`ALTER TABLE "${schema}".audit_events DISABLE TRIGGER USER`);
    await client.query(sql.replaceAll('$S.', `"${schema}".`));
  });
}

/**
 * For a test file: the two backends, with hooks that undo what each test set up (`cleanups`,
 * newest first) and drop the file's PostgreSQL schemas at the end.
 */
export function useTamperBackends(): { backends: [Backend, Backend]; cleanups: Cleanups; schemas: PgTestSchemas } {
  const cleanups: Cleanups = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const schemas = new PgTestSchemas();
  afterAll(async () => {
    await schemas.dropAll();
  });
  return { backends: tamperBackends(cleanups, schemas), cleanups, schemas };
}
