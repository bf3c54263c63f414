/**
 * What a SQLite store is opened with: its options, their defaults, where its file lives, and when
 * its action index catches up. Kept apart from the code that opens the file, so the package's
 * public types never name the driver's (a user need not install its type declarations).
 */
import nodePath from 'node:path';
import type { StoreError } from '../core/errors.js';
import type { FlushReport } from './batch.js';
import type { DurabilityOptions } from './store.js';

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions extends Partial<DurabilityOptions> {
  /** How often other processes' commits are polled for while someone watches. Default 25. */
  pollIntervalMs?: number;
  /** How long a write waits for another process's lock before failing. Default 5000. */
  busyTimeoutMs?: number;
  /**
   * `batched` mode: called synchronously right after each commit that made queued writes
   * durable, with exactly which ones. This is the acknowledgement for queued writes (their
   * promises resolve when queued). Also `await store.flush()`: everything queued before it is
   * durable when it resolves.
   */
  onFlush?: (report: FlushReport) => void;
  /**
   * `batched` mode: called when a flush nobody awaits (timer, size limit, another write's drain)
   * fails or has to drop writes that can never commit (e.g. an outcome recorded twice).
   * Default: a process warning.
   */
  onFlushError?: (error: StoreError) => void;
  /**
   * Checkpoint the WAL from a worker thread instead of inside commits (a server under load: see
   * `sqlite-checkpointer.ts`). Default false.
   */
  backgroundCheckpoints?: boolean;
}

/** Defaults of {@link openSqliteStore}. */
export const SQLITE_DEFAULTS = {
  durability: 'sync',
  flushIntervalMs: 5,
  maxBatchSize: 256,
  pollIntervalMs: 25,
  busyTimeoutMs: 5000,
} as const;

/** The file `ascend.db` inside `dataDir`. */
export function defaultDbPath(dataDir: string): string {
  return nodePath.join(dataDir, 'ascend.db');
}

/**
 * Unindexed actions a connection lets build up in its tail before it writes them to
 * `action_index` (in the transaction that crosses the mark: one bulk write instead of an index
 * page per commit).
 */
export const INDEX_AFTER_ACTIONS = 512;
