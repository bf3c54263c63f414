/**
 * An embedded client picks up an edited policy file within a second, without a restart: later
 * decisions name the new version, and the switch is a `policy.changed` audit event. An edit that
 * does not load changes nothing (it never allows what the policy in force denies) and is logged
 * with its file:line; fixing it switches.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient, openSqliteStore } from '../../src/index.js';
import { captureLogs, eventually, TEST_POLICY, tempDir, writePolicy } from '../helpers.js';

const sha256 = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const read = { actionType: 'db.query', parameters: { sql: 'SELECT 1' } };
/** TEST_POLICY with reads no longer allowed. */
const NO_READS = TEST_POLICY.replace('effect: allow\n  - id: no-drops', 'effect: deny\n  - id: no-drops');

const clients: AscendClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

function setup(opts: { watchPolicy?: boolean; policyText?: string | null } = {}) {
  const dir = tempDir();
  const dataDir = path.join(dir, '.ascend');
  const file = path.join(dir, 'ascend.policy.yaml');
  if (opts.policyText !== null) writePolicy(dir, opts.policyText ?? TEST_POLICY);
  const logs = captureLogs();
  const client = new AscendClient({
    agentId: 'reloading',
    policy: opts.policyText === null ? undefined : file,
    dataDir,
    logDestination: logs.destination,
    ...(opts.watchPolicy === undefined ? {} : { watchPolicy: opts.watchPolicy }),
  });
  clients.push(client);
  return { client, dataDir, file, logs, dir };
}

describe('live policy reload (embedded)', () => {
  it('an edited file is in force for later calls, and the switch is recorded', async () => {
    expect(NO_READS).not.toBe(TEST_POLICY);
    const { client, dataDir, file } = setup();
    expect((await client.evaluateAction(read)).decision).toBe('allowed');
    fs.writeFileSync(file, NO_READS);
    const denied = await eventually(async () => {
      const d = await client.evaluateAction(read);
      return d.decision === 'denied' ? d : undefined;
    });
    expect(denied.policyVersion).toBe(sha256(NO_READS));
    expect(client.policyVersion).toBe(sha256(NO_READS));
    const store = openSqliteStore(path.join(dataDir, 'ascend.db'));
    try {
      const changes = await eventually(async () => {
        const events = await store.readAudit({ types: ['policy.changed'] });
        return events.length > 0 ? events : undefined;
      });
      expect(changes).toHaveLength(1);
      expect(changes[0]!.data).toEqual({ from: sha256(TEST_POLICY), to: sha256(NO_READS), cause: 'file', source: file });
      expect(changes[0]!.actor).toBe(`reloading (pid ${process.pid})`);
      expect((await store.verifyAudit()).ok).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('an edit that does not load keeps the policy in force and logs file:line; the fix switches', async () => {
    const { client, file, logs } = setup();
    const before = await client.evaluateAction(read);
    fs.writeFileSync(file, TEST_POLICY.replace('effect: allow', 'efect: allow'));
    await eventually(() => logs.text().includes('The changed policy did not load'));
    expect(logs.text()).toMatch(new RegExp(`${file.replace(/[/.]/g, '\\$&')}:\\d+:\\d+.*unknown key \\\\"efect\\\\"`));
    const during = await client.evaluateAction(read);
    expect(during.decision).toBe('allowed');
    expect(during.policyVersion).toBe(before.policyVersion);
    fs.writeFileSync(file, NO_READS);
    await eventually(async () => (await client.evaluateAction(read)).decision === 'denied');
  });

  it('a file that fails to load at start denies everything until it is fixed', async () => {
    const { client, file } = setup({ policyText: 'version: 1\nrules: [' });
    expect((await client.evaluateAction(read)).decision).toBe('denied');
    fs.writeFileSync(file, TEST_POLICY);
    const d = await eventually(async () => {
      const r = await client.evaluateAction(read);
      return r.decision === 'allowed' ? r : undefined;
    });
    expect(d.policyVersion).toBe(sha256(TEST_POLICY));
  });

  it('watchPolicy: false reads the file once', async () => {
    const { client, file, logs } = setup({ watchPolicy: false });
    // A watching client of the same file sees the edit: so would this one, if it watched.
    const watcher = new AscendClient({ agentId: 'watcher', policy: file, dataDir: path.join(tempDir(), '.ascend'), logDestination: captureLogs().destination });
    clients.push(watcher);
    expect((await watcher.evaluateAction(read)).decision).toBe('allowed');
    fs.writeFileSync(file, NO_READS);
    await eventually(async () => (await watcher.evaluateAction(read)).decision === 'denied');
    expect((await client.evaluateAction(read)).decision).toBe('allowed');
    expect(logs.text()).not.toContain('policy changed');
  });
});
