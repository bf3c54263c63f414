/**
 * Promise: with `batched` durability, a full disk never lets tools run on records that are not
 * written, and never loses an acknowledged record. Once a group commit fails, no further tool
 * runs (CLOSED; OPEN: only what its spool could take) until a commit succeeds; queued records are
 * kept and retried; `flush()` says what is still unwritten; nothing is dropped at close.
 *
 * On a real full filesystem: a small tmpfs this test mounts (it runs as root in CI).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient, defaultDbPath, FailMode, openSqliteStore, StoreError, UnwrittenRecordsError } from '../../src/index.js';

import { captureLogs, eventually, tempDir, writePolicy } from '../helpers.js';
import { fill, mountSmallDisk, unmountDisk } from './full-disk.js';

const POLICY = `
version: 1
default: deny
rules:
  - id: probes
    actions: ["probe.*"]
    effect: allow
`;

const mounts: string[] = [];
const clients: AscendClient[] = [];
afterEach(async () => {
  for (const mount of mounts) for (const f of fs.readdirSync(mount)) if (f.startsWith('filler')) fs.rmSync(path.join(mount, f), { force: true });
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  for (const mount of mounts.splice(0)) unmountDisk(mount);
});

/** A fresh tmpfs, unmounted after the test. */
function smallDisk(sizeBytes: number): string {
  const dir = mountSmallDisk(sizeBytes);
  mounts.push(dir);
  return dir;
}

function freeSpace(dir: string): void {
  for (const f of fs.readdirSync(dir)) if (f.startsWith('filler')) fs.rmSync(path.join(dir, f));
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Governed calls until `stopAfterFailures` calls in a row failed; which ran, which failed. */
async function callUntilRefused(client: AscendClient, maxCalls: number, stopAfterFailures: number) {
  const ran: string[] = [];
  let failures = 0;
  let ranAfterFirstFailure = 0;
  let firstError: unknown;
  for (let i = 0; i < maxCalls && failures < stopAfterFailures; i++) {
    await turn(); // an agent does I/O between calls: group-commit timers get their turn
    try {
      await client.govern({ actionType: 'probe.write', parameters: { i, pad: 'x'.repeat(400) } }, (decision) => {
        ran.push(decision.actionId);
        if (failures > 0) ranAfterFirstFailure++;
      });
    } catch (err) {
      firstError ??= err;
      failures++;
    }
  }
  return { ran, failures, ranAfterFirstFailure, firstError };
}

async function auditActionIds(dataDir: string): Promise<{ ids: Set<string>; ok: boolean }> {
  const store = openSqliteStore(defaultDbPath(dataDir));
  try {
    const events = await store.readAudit();
    const verification = await store.verifyAudit();
    return { ids: new Set(events.filter((e) => e.type === 'action.evaluated').map((e) => e.actionId!)), ok: verification.ok };
  } finally {
    await store.close();
  }
}

/** A `batched` client whose data directory is on a fresh 4 MiB tmpfs. */
function clientOnSmallDisk(agentId: string, failMode: FailMode): { disk: string; dataDir: string; client: AscendClient } {
  const disk = smallDisk(4 * 1024 * 1024);
  const dataDir = path.join(disk, '.ascend');
  const client = new AscendClient({
    agentId,
    policy: writePolicy(tempDir(), POLICY),
    dataDir,
    audit: { durability: 'batched', flushIntervalMs: 5 },
    failMode,
    logDestination: captureLogs().destination,
  });
  clients.push(client);
  return { disk, dataDir, client };
}

describe('a full disk under batched durability', () => {
  it('CLOSED: after the first failed group commit no tool runs; every acknowledged record is written once there is room', async () => {
    const { disk, dataDir, client } = clientOnSmallDisk('disk-agent', FailMode.CLOSED);
    const warm = await callUntilRefused(client, 20, 1);
    expect(warm.failures).toBe(0);
    await client.flush();

    fill(disk);
    const attack = await callUntilRefused(client, 5000, 30);
    expect(attack.failures).toBe(30); // the disk did fill up
    expect(attack.firstError).toBeInstanceOf(StoreError);
    expect(attack.ranAfterFirstFailure).toBe(0); // nothing ran once commits failed

    // flush() says what is not written yet (the batch whose commit failed), and keeps it.
    const flushError = await client.flush().catch((e: unknown) => e);
    expect(flushError).toBeInstanceOf(UnwrittenRecordsError);
    const unwritten = (flushError as UnwrittenRecordsError).unwritten;
    expect(unwritten.decisions).toBeGreaterThan(0);
    for (const id of unwritten.actionIds) expect(attack.ran).toContain(id);
    // close() does not drop them either: it refuses while they are unwritten, and can be retried.
    await expect(client.close()).rejects.toBeInstanceOf(UnwrittenRecordsError);
    await expect(client.govern({ actionType: 'probe.write' }, () => 'after close')).rejects.toBeInstanceOf(StoreError);

    freeSpace(disk);
    await eventually(async () => (await client.flush().then(() => true, () => false)), 20_000, 50);
    await client.close();

    const audit = await auditActionIds(dataDir);
    expect(audit.ok).toBe(true);
    for (const id of [...warm.ran, ...attack.ran]) expect(audit.ids.has(id), `decision of ${id} that ran`).toBe(true);
  });

  it('OPEN: a failed commit sends calls to the fail-open spool; when the spool cannot be written nothing runs; all is uploaded later', async () => {
    const { disk, dataDir, client } = clientOnSmallDisk('disk-agent-open', FailMode.OPEN);
    await callUntilRefused(client, 10, 1);
    await client.flush();

    fill(disk);
    const attack = await callUntilRefused(client, 5000, 30);
    expect(attack.failures).toBe(30);
    expect(String((attack.firstError as Error).message)).toMatch(/spool|disk is full|SQLITE_FULL|ENOSPC/);

    freeSpace(disk);
    await eventually(async () => (await client.flush().then(() => true, () => false)), 20_000, 50);
    await client.uploadSpool();
    await client.close();
    const audit = await auditActionIds(dataDir);
    expect(audit.ok).toBe(true);
    for (const id of attack.ran) expect(audit.ids.has(id), `decision of ${id} that ran`).toBe(true);
  });
});
