/**
 * Background WAL checkpoints on a real SQLite file: the worker copies committed frames into the
 * database without the store's connection doing it, a worker that cannot start is reported, and
 * closing the store stops the worker.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { BackgroundCheckpointer } from '../../src/store/sqlite-checkpointer.js';
import { eventually, tempDir } from '../helpers.js';

/** Write a little (well under SQLite's own 1,000-page checkpoint), `settle`, and size the database file. */
async function databaseFileSizeAfterWrites(backgroundCheckpoints: boolean, settle: (file: string) => Promise<unknown>): Promise<number> {
  const file = path.join(tempDir(), 'ascend.db');
  const store = openSqliteStore(file, { backgroundCheckpoints });
  try {
    const now = new Date().toISOString();
    for (let i = 0; i < 50; i++) await store.upsertAgent({ agentId: `agent-${i}`, agentName: 'a', agentType: 't', capabilities: [], allowedResources: [], metadata: {} }, now);
    await settle(file);
    return fs.statSync(file).size; // frames reach the database file only through a checkpoint
  } finally {
    await store.close();
  }
}

describe('background checkpoints', () => {
  it('a worker copies committed WAL frames into the database file while the store keeps writing', async () => {
    // Without the worker the file stays as it is (here for a few of the worker's 200 ms rounds)...
    const withoutWorker = await databaseFileSizeAfterWrites(false, () => new Promise((r) => setTimeout(r, 700)));
    // ...with it the frames arrive, however long the worker takes to start on this machine.
    const grown = (file: string): boolean => fs.statSync(file).size > withoutWorker + 8 * 4096;
    const withWorker = await databaseFileSizeAfterWrites(true, (file) => eventually(() => grown(file), 20_000));
    expect(withWorker).toBeGreaterThan(withoutWorker + 8 * 4096);
  });

  it('reports a worker that cannot work, so the store can checkpoint itself again', async () => {
    const lost = await new Promise<string>((resolve) => {
      new BackgroundCheckpointer({ path: path.join(tempDir(), 'missing', 'no.db'), onLost: resolve });
    });
    expect(lost).toMatch(/unable to open|does not exist|directory|exited/i);
  });

  it('stopping a checkpointer whose worker is already gone returns at once', async () => {
    let checkpointer: BackgroundCheckpointer | undefined;
    let lostCount = 0;
    await new Promise<void>((resolve) => {
      checkpointer = new BackgroundCheckpointer({
        path: path.join(tempDir(), 'missing', 'no.db'),
        onLost: () => {
          lostCount++;
          resolve();
        },
      });
    });
    const started = Date.now();
    await checkpointer!.stop();
    // Not after the 2 s terminate fallback (or never): the worker's exit was already seen.
    expect(Date.now() - started).toBeLessThan(1500);
    await new Promise((r) => setTimeout(r, 100));
    expect(lostCount).toBe(1); // reported once, not once per event
  });
});
