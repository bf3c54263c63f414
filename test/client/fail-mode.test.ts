import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient, StoreError, openSqliteStore, defaultDbPath } from '../../src/index.js';
import { tempDir, TEST_POLICY, writePolicy } from '../helpers.js';

// A store that cannot open: the database path is a directory.
function brokenSetup() {
  const dir = tempDir();
  const policy = writePolicy(dir, TEST_POLICY);
  const dataDir = path.join(dir, '.ascend');
  fs.mkdirSync(defaultDbPath(dataDir), { recursive: true });
  return { dir, policy, dataDir, repair: () => fs.rmSync(defaultDbPath(dataDir), { recursive: true, force: true }) };
}

const clients: AscendClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
function client(opts: ConstructorParameters<typeof AscendClient>[0]) {
  const c = new AscendClient({ logLevel: 'silent', ...opts });
  clients.push(c);
  return c;
}

describe('fail mode with a broken local store', () => {
  it('CLOSED: the call throws and the tool never runs', async () => {
    const { policy, dataDir } = brokenSetup();
    const c = client({ agentId: 'a', policy, dataDir, failMode: 'closed' });
    let runs = 0;
    for (let i = 0; i < 5; i++) {
      await expect(c.govern({ actionType: 'db.query', parameters: { sql: 'select 1' } }, () => runs++)).rejects.toBeInstanceOf(StoreError);
    }
    expect(runs).toBe(0);
  });

  it('OPEN: allowed with fail_open_mode, spooled durably, uploaded to the audit when the store is back', async () => {
    const { policy, dataDir, repair } = brokenSetup();
    const c = client({ agentId: 'a', policy, dataDir, failMode: 'open' });
    let runs = 0;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      await c.govern({ actionType: 'db.query', parameters: { sql: `select ${i}` } }, (d) => {
        expect(d.conditions).toEqual(['fail_open_mode']);
        ids.push(d.actionId);
        runs++;
      });
    }
    expect(runs).toBe(3);
    const spool = fs.readFileSync(path.join(dataDir, 'spool', 'failopen.jsonl'), 'utf8').trim().split('\n');
    expect(spool).toHaveLength(6); // 3 decisions + 3 outcomes, written before/after each run
    await c.close();

    repair();
    const healthy = client({ agentId: 'a', policy, dataDir, failMode: 'open' });
    await healthy.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 9' } });
    await healthy.uploadSpool();
    await healthy.close();
    const store = openSqliteStore(defaultDbPath(dataDir));
    for (const id of ids) {
      expect((await store.getAction(id))?.conditions).toEqual(['fail_open_mode']);
      expect((await store.getOutcome(id))?.status).toBe('completed');
    }
    expect((await store.verifyAudit()).ok).toBe(true);
    await store.close();
    expect(fs.existsSync(path.join(dataDir, 'spool', 'failopen.jsonl'))).toBe(false);
  });

  it('OPEN never turns what the engine denied into an allow', async () => {
    const { policy, dataDir } = brokenSetup();
    const broken = client({ agentId: 'a', policy, dataDir, failMode: 'open' });
    let ran = false;
    await expect(broken.govern({ actionType: 'db.execute', parameters: { sql: 'DROP TABLE users' } }, () => (ran = true))).rejects.toThrow(
      /denied/,
    );
    expect(ran).toBe(false);
  });

  it('an outcome that cannot be stored is spooled, not silently dropped', async () => {
    const dir = tempDir();
    const policy = writePolicy(dir, TEST_POLICY);
    const dataDir = path.join(dir, '.ascend');
    const c = client({ agentId: 'a', policy, dataDir, failMode: 'closed' });
    await c.govern({ actionType: 'db.query', parameters: { sql: 'select 1' } }, async () => {
      // The store fails while the tool runs (closed behind the client's back).
      const transport = (c as unknown as { transport: { getStore(): { close(): Promise<void> } } }).transport;
      await transport.getStore().close();
      return 'done';
    }).catch(() => undefined);
    const spool = path.join(dataDir, 'spool', 'failopen.jsonl');
    expect(fs.existsSync(spool)).toBe(true);
    expect(fs.readFileSync(spool, 'utf8')).toContain('"kind":"outcome"');
  });
});
