/**
 * Every decision names the policy that made it: `policyVersion` (sha256 of the policy file's
 * content) and its `name` / `revision` labels — in the decision, the audit event, the server's
 * answer and `/readyz`; `client.policyVersion` tells what a client uses now.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AscendClient, openSqliteStore } from '../../src/index.js';
import { captureLogs, TEST_POLICY, tempDir, writePolicy } from '../helpers.js';
import { disposeServer, startServerProcess, type ServerProcess } from '../server/helpers.js';

const LABELLED = TEST_POLICY.replace('version: 1\n', 'version: 1\nname: payments-and-data\nrevision: 14\n');
const sha256 = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const read = { actionType: 'db.query', parameters: { sql: 'SELECT 1' } };

const clients: AscendClient[] = [];
const servers: ServerProcess[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  for (const s of servers) await disposeServer(s);
});

function embedded(policyText: string): { client: AscendClient; dataDir: string } {
  const dir = tempDir();
  const dataDir = path.join(dir, '.ascend');
  const client = new AscendClient({ agentId: 'versioned', policy: writePolicy(dir, policyText), dataDir, logDestination: captureLogs().destination });
  clients.push(client);
  return { client, dataDir };
}

describe('policy versions', () => {
  it('embedded: the decision and its audit event name the policy; client.policyVersion says which is in force', async () => {
    const { client, dataDir } = embedded(LABELLED);
    expect(client.policyVersion).toBe(sha256(LABELLED));
    const allowed = await client.evaluateAction(read);
    const denied = await client.evaluateAction({ actionType: 'db.query', parameters: { sql: 'DROP TABLE x' } });
    for (const d of [allowed, denied]) expect(d).toMatchObject({ policyVersion: sha256(LABELLED), policyName: 'payments-and-data', policyRevision: '14' });
    await client.flush();
    const store = openSqliteStore(path.join(dataDir, 'ascend.db'));
    try {
      const events = await store.readAudit({ types: ['action.evaluated'] });
      expect(events.map((e) => (e.data as { policyVersion?: string }).policyVersion)).toEqual([sha256(LABELLED), sha256(LABELLED)]);
      expect((await store.getAction(allowed.actionId))?.policyRevision).toBe('14');
    } finally {
      await store.close();
    }
  });

  it('a change of one byte is another version; a policy without labels has none', async () => {
    const { client } = embedded(`${TEST_POLICY}# a comment\n`);
    const d = await client.evaluateAction(read);
    expect(d.policyVersion).toBe(sha256(`${TEST_POLICY}# a comment\n`));
    expect(d.policyVersion).not.toBe(sha256(TEST_POLICY));
    expect(d.policyName).toBeUndefined();
    expect(d.policyRevision).toBeUndefined();
  });

  it('a policy that fails to load decides nothing, so nothing names it', async () => {
    const { client } = embedded('version: 1\nrules:\n  - id: x\n    efect: allow\n');
    expect(client.policyVersion).toBeUndefined();
    const d = await client.evaluateAction(read);
    expect(d.decision).toBe('denied');
    expect(d.policyVersion).toBeUndefined();
  });

  it("a server's answers, /readyz and a remote client name the server's policy", async () => {
    const server = await startServerProcess({ policy: LABELLED });
    servers.push(server);
    const policyText = fs.readFileSync(path.join(server.dir, 'ascend.policy.yaml'), 'utf8');
    const ready = (await (await fetch(`${server.url}/readyz`)).json()) as { policyVersion: string };
    expect(ready.policyVersion).toBe(sha256(policyText));
    const client = new AscendClient({ agentId: 'remote-versioned', apiUrl: server.url, apiKey: server.keys.agent.apiKey, dataDir: tempDir(), logDestination: captureLogs().destination });
    clients.push(client);
    expect(client.policyVersion).toBeUndefined();
    const d = await client.evaluateAction(read);
    expect(d).toMatchObject({ policyVersion: sha256(policyText), policyName: 'payments-and-data', policyRevision: '14' });
    expect(client.policyVersion).toBe(sha256(policyText));
  });
});
