/**
 * One policy for a cluster: `ascend policy push` stores a policy in the database and every
 * replica on it switches within a second (LISTEN/NOTIFY on PostgreSQL), ahead of its file; a
 * replica only moves forward. A push that does not load changes nothing and names the line.
 * `ascend policy pull` writes the policy in force; `ascend policy history` lists the switches.
 * Needs the PostgreSQL of this machine (CI has it): it fails, never skips, without it.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, runCli, TEST_POLICY, tempDir } from '../helpers.js';
import { PG_URL } from '../store/pg-helpers.js';
import { api, disposeServer, seedKeys, startServerProcess, type ServerProcess, type TestKeys } from './helpers.js';

const schema = `ascend_push_${randomBytes(4).toString('hex')}`;
const db = `${PG_URL}?schema=${schema}`;
const sha256 = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const NO_READS = TEST_POLICY.replace('effect: allow\n  - id: no-drops', 'effect: deny\n  - id: no-drops');
const read = { agentId: 'reader', actionType: 'db.query', resource: 'prod', parameters: { sql: 'SELECT 1' }, digest: 'd'.repeat(64) };

let a: ServerProcess;
let b: ServerProcess;
let keys: TestKeys;
let cliDir: string;
beforeAll(async () => {
  keys = await seedKeys(db);
  [a, b] = await Promise.all([startServerProcess({ db, keys }), startServerProcess({ db, keys })]);
  cliDir = tempDir();
}, 60_000);
afterAll(async () => {
  await disposeServer(a);
  await disposeServer(b);
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
});

const statusOf = async (server: ServerProcess) => (await api(server, 'GET', '/v1/policy', keys.agent)).body as { policyVersion: string; pushed: { id: number } | null };
const cli = (args: string[], key: string) => runCli(args, { cwd: cliDir, env: { ...process.env, ASCEND_API_KEY: key, ASCEND_API_URL: '', ASCEND_DB: '' } });

describe('ascend policy push / pull / history on a cluster', () => {
  it('a push through one replica is in force on both within a second; decisions name it', async () => {
    fs.writeFileSync(path.join(cliDir, 'next.yaml'), NO_READS);
    const pushed = await cli(['policy', 'push', 'next.yaml', '--api-url', a.url], keys.admin.apiKey);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stdout).toMatch(new RegExp(`^pushed ${sha256(NO_READS)} as #1`));
    for (const server of [a, b]) await eventually(async () => (await statusOf(server)).policyVersion === sha256(NO_READS));
    expect((await statusOf(b)).pushed).toEqual({ id: 1 });
    const d = await api(b, 'POST', '/v1/actions/evaluate', keys.agent, read);
    expect(d.body).toMatchObject({ decision: 'denied', policyVersion: sha256(NO_READS) });

    const pulled = await cli(['policy', 'pull', '--api-url', b.url, '--out', 'pulled.yaml'], keys.approver.apiKey);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(fs.readFileSync(path.join(cliDir, 'pulled.yaml'), 'utf8')).toBe(NO_READS);

    const history = await cli(['policy', 'history', '--api-url', b.url, '--json'], keys.approver.apiKey);
    const [latest] = JSON.parse(history.stdout) as Array<{ cause: string; to: string; actor: string; source: string }>;
    expect(latest).toMatchObject({ cause: 'push', to: sha256(NO_READS), source: 'next.yaml', actor: expect.stringContaining(keys.admin.record.name) });
  });

  it('a push that does not load is refused with the line, and nothing changes', async () => {
    const before = (await statusOf(a)).policyVersion;
    fs.writeFileSync(path.join(cliDir, 'broken.yaml'), 'version: 1\nrules:\n  - id: x\n    efect: allow\n');
    const refused = await cli(['policy', 'push', 'broken.yaml', '--api-url', a.url], keys.admin.apiKey);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/broken\.yaml:4:5 \(rule "x"\): unknown key "efect"/);
    // The server checks too: a raw request gets a 400 naming the field and the line.
    const raw = await api(a, 'POST', '/v1/policy', keys.admin, { text: 'version: 1\nrules:\n  - id: x\n    efect: allow\n', source: 'raw.yaml' });
    expect(raw.status).toBe(400);
    expect(JSON.stringify(raw.body)).toMatch(/body\.text.*raw\.yaml:4:5/);
    expect((await statusOf(a)).policyVersion).toBe(before);
    expect((await statusOf(b)).policyVersion).toBe(before);
  });

  it('only an admin key may push', async () => {
    const refused = await api(a, 'POST', '/v1/policy', keys.approver, { text: TEST_POLICY });
    expect(refused.status).toBe(403);
  });

  it('replicas only move forward, and a pushed policy rules over their files', async () => {
    const seen: number[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const s = await statusOf(b);
        if (s.pushed) seen.push(s.pushed.id);
      }
    })();
    for (let i = 0; i < 3; i++) {
      const r = await api(a, 'POST', '/v1/policy', keys.admin, { text: `${TEST_POLICY}# push ${i}\n`, source: `push-${i}.yaml` });
      expect(r.status).toBe(200);
    }
    const last = (await statusOf(a)).pushed!.id;
    await eventually(async () => (await statusOf(b)).pushed?.id === last);
    watching = false;
    await watcher;
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]!);

    // B's own file changes, and B is told to read it: the pushed policy stays in force.
    fs.writeFileSync(path.join(b.dir, 'ascend.policy.yaml'), NO_READS.replace('Dropping', 'Dropping (file)'));
    b.child.kill('SIGHUP');
    await eventually(() => b.logs().includes('SIGHUP'));
    expect((await statusOf(b)).pushed?.id).toBe(last);
    expect((await statusOf(b)).policyVersion).toBe(sha256(`${TEST_POLICY}# push 2\n`));
  });

  it('a push straight into the database (--db) reaches the running servers', async () => {
    fs.writeFileSync(path.join(cliDir, 'direct.yaml'), NO_READS);
    const pushed = await runCli(['policy', 'push', 'direct.yaml', '--db', db, '--by', 'ops-pipeline'], { cwd: cliDir, env: { ...process.env, ASCEND_API_URL: '' } });
    expect(pushed.code, pushed.stderr).toBe(0);
    for (const server of [a, b]) await eventually(async () => (await statusOf(server)).policyVersion === sha256(NO_READS));
    const local = await runCli(['policy', 'history', '--db', db, '--json'], { cwd: cliDir, env: { ...process.env, ASCEND_API_URL: '' } });
    expect((JSON.parse(local.stdout) as Array<{ actor: string }>)[0]!.actor).toBe('ops-pipeline');
  });

  it('ascend policy replay reads a PostgreSQL database (--db)', async () => {
    fs.writeFileSync(path.join(cliDir, 'allow-all.yaml'), 'version: 1\ndefault: allow\nrules: []\n');
    const r = await runCli(['policy', 'replay', 'allow-all.yaml', '--db', db, '--json', '--agent', 'reader'], { cwd: cliDir, env: { ...process.env, ASCEND_API_URL: '' } });
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { replayed: number; changed: number; transitions: Record<string, number> };
    // The read the pushed policy denied in the first test.
    expect(result).toMatchObject({ replayed: 1, changed: 1, transitions: { 'denied->allowed': 1 } });
  });

  it('a replica whose policy file does not load starts on the pushed policy', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'broken.yaml'), 'version: 1\nrules: [\n');
    const c = await startServerProcess({ db, keys, args: ['--policy', path.join(dir, 'broken.yaml')] });
    try {
      const latest = (await statusOf(a)).policyVersion;
      expect((await statusOf(c)).policyVersion).toBe(latest);
      expect(c.logs()).toContain('the policy file does not load; the policy pushed to the database is in force');
    } finally {
      await disposeServer(c);
    }
  });
});
