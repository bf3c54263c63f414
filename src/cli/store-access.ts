/**
 * Opening the store named by `--data-dir` (or `$ASCEND_DATA_DIR`, or `.ascend`), and always
 * closing it again.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { StoreError } from '../core/errors.js';
import type { Store } from '../store/store.js';
import { openDatabase, parseDatabaseTarget } from '../server/database.js';
import { defaultDbPath, openSqliteStore } from '../store/sqlite.js';
import type { CliIo } from './io.js';
import type { CommandContext, OptionSpec } from './command.js';
import { UsageError } from './errors.js';
import { RemoteStore } from './remote-store.js';
import { HttpTransport } from '../transport/http.js';

/** The data directory used when neither `--data-dir` nor `$ASCEND_DATA_DIR` is set. */
export const DEFAULT_DATA_DIR = '.ascend';

/** Absolute data directory: `--data-dir`, else `$ASCEND_DATA_DIR`, else `.ascend`, against cwd. */
export function resolveDataDir(io: CliIo, dataDirOption: string | undefined): string {
  const fromEnv = io.env.ASCEND_DATA_DIR;
  const chosen = dataDirOption ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_DATA_DIR);
  return resolve(io.cwd, chosen);
}

/**
 * Open the store in `dataDir`. The directory must exist — a mistyped `--data-dir` should fail
 * loudly rather than show an empty, freshly created database.
 */
export function openStoreIn(dataDir: string): Store {
  if (!existsSync(dataDir) || !statSync(dataDir).isDirectory()) {
    throw new StoreError(`no Ascend data directory at ${dataDir} (run \`ascend init\`, or pass --data-dir / set ASCEND_DATA_DIR)`);
  }
  return openSqliteStore(defaultDbPath(dataDir));
}

/** Where and how to reach the server `--api-url` or `$ASCEND_API_URL` names, if one does. */
function serverSettings(ctx: CommandContext): { apiUrl: string; apiKey: string; signingSecret?: string; timeoutMs: number } | undefined {
  const apiUrl = ctx.string('api-url') ?? (ctx.io.env.ASCEND_API_URL || undefined);
  if (apiUrl === undefined) return undefined;
  const apiKey = ctx.io.env.ASCEND_API_KEY;
  if (!apiKey) throw new UsageError('a server needs an API key: set ASCEND_API_KEY (make one with `ascend keys create --role approver`)', ctx.commandPath);
  const signingSecret = ctx.io.env.ASCEND_SIGNING_SECRET;
  return { apiUrl, apiKey, timeoutMs: 10_000, ...(signingSecret ? { signingSecret } : {}) };
}

/**
 * The server the command talks to, when `--api-url` or `$ASCEND_API_URL` names one (with
 * `$ASCEND_API_KEY`, and `$ASCEND_SIGNING_SECRET` when the key signs).
 */
function remoteFor(ctx: CommandContext): RemoteStore | undefined {
  const settings = serverSettings(ctx);
  return settings === undefined ? undefined : new RemoteStore(settings);
}

/** Run `work` against the server the command names; a usage error when it names none. */
export async function withServer<T>(ctx: CommandContext, what: string, work: (server: HttpTransport) => Promise<T>): Promise<T> {
  const settings = serverSettings(ctx);
  if (settings === undefined) throw new UsageError(`${what} lives on a server: pass --api-url (or set ASCEND_API_URL) and an admin key in ASCEND_API_KEY`, ctx.commandPath);
  const server = new HttpTransport({ ...settings, maxRetries: 2 });
  try {
    return await work(server);
  } finally {
    await server.close();
  }
}

/** Run `work` with the command's store open (the local database, or a server); closed however `work` ends. */
export async function withStore<T>(ctx: CommandContext, work: (store: Store) => Promise<T>): Promise<T> {
  const store = remoteFor(ctx) ?? openStoreIn(ctx.dataDir);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** `--db`: the server's database, for the commands that work on it directly. */
export const DATABASE_OPTION: OptionSpec = {
  type: 'string',
  valueName: 'DB',
  description: "the server's database: sqlite:PATH or postgres://… (default: $ASCEND_DB, else the data dir's ascend.db)",
};

/** Run `work` on the server's database: `--db`, else `$ASCEND_DB`, else the data dir's ascend.db. */
export async function withServerDatabase<T>(ctx: CommandContext, work: (store: Store) => Promise<T>): Promise<T> {
  const db = ctx.string('db') ?? (ctx.io.env.ASCEND_DB || undefined);
  const store = await openDatabase(parseDatabaseTarget(db ?? `sqlite:${defaultDbPath(ctx.dataDir)}`, ctx.io.cwd));
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/**
 * Run `work` on the database `--db` or `$ASCEND_DB` names when one does (a server's, PostgreSQL
 * included), else as {@link withStore} does.
 */
export function withNamedDatabaseOrStore<T>(ctx: CommandContext, work: (store: Store) => Promise<T>): Promise<T> {
  const named = ctx.string('db') ?? (ctx.io.env.ASCEND_DB || undefined);
  return named !== undefined && remoteFor(ctx) === undefined ? withServerDatabase(ctx, work) : withStore(ctx, work);
}
