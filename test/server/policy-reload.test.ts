/**
 * `ascend serve` picks up an edited policy file within a second, and at once on SIGHUP, without a
 * restart; an edit that does not load keeps the policy in force and shows in `GET /v1/policy`
 * and `/metrics`. Every switch is a `policy.changed` audit event naming the server process.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, TEST_POLICY } from '../helpers.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from './helpers.js';

const sha256 = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const NO_READS = TEST_POLICY.replace('effect: allow\n  - id: no-drops', 'effect: deny\n  - id: no-drops');
const evaluateRead = { agentId: 'reader', actionType: 'db.query', resource: 'prod', parameters: { sql: 'SELECT 1' }, digest: 'd'.repeat(64) };

let server: ServerProcess;
let file: string;
beforeAll(async () => {
  server = await startServerProcess();
  file = path.join(server.dir, 'ascend.policy.yaml');
}, 60_000);
afterAll(async () => {
  await disposeServer(server);
});

const policyStatus = async () => (await api(server, 'GET', '/v1/policy', server.keys.approver)).body as { policyVersion: string; lastLoadError: { message: string } | null; loadErrors: number };
const metrics = async () => (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.keys.admin.apiKey}` } })).text();

describe('ascend serve: live policy', () => {
  it('an edited file is in force within a second; the switch is audited with the process that made it', async () => {
    const start = fs.readFileSync(file, 'utf8');
    expect((await policyStatus()).policyVersion).toBe(sha256(start));
    expect((await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, evaluateRead)).body.decision).toBe('allowed');
    fs.writeFileSync(file, NO_READS);
    await eventually(async () => (await policyStatus()).policyVersion === sha256(NO_READS));
    const d = await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, evaluateRead);
    expect(d.body).toMatchObject({ decision: 'denied', policyVersion: sha256(NO_READS) });
    expect(await metrics()).toContain(`ascend_policy_info{version="${sha256(NO_READS)}",name="",revision=""} 1`);
    const history = await api(server, 'GET', '/v1/policy/history', server.keys.agent);
    expect(history.body.changes).toHaveLength(1);
    expect(history.body.changes[0]).toMatchObject({
      actor: expect.stringMatching(/^ascend serve \(pid \d+ on .+\)$/),
      from: sha256(start),
      to: sha256(NO_READS),
      cause: 'file',
      source: file,
    });
  });

  it('an edit that does not load keeps the policy in force, and says so in /v1/policy and /metrics', async () => {
    const inForce = (await policyStatus()).policyVersion;
    fs.writeFileSync(file, 'version: 1\nrules:\n  - id: x\n    efect: allow\n');
    const status = await eventually(async () => {
      const s = await policyStatus();
      return s.lastLoadError !== null ? s : undefined;
    });
    expect(status.policyVersion).toBe(inForce);
    expect(status.lastLoadError!.message).toMatch(/ascend\.policy\.yaml:4:5 \(rule "x"\): unknown key "efect"/);
    expect(await metrics()).toMatch(/^ascend_policy_load_error 1$/m);
    expect((await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, evaluateRead)).body).toMatchObject({ decision: 'denied', policyVersion: inForce });
    fs.writeFileSync(file, TEST_POLICY);
    await eventually(async () => (await policyStatus()).policyVersion === sha256(TEST_POLICY));
    expect(await metrics()).toMatch(/^ascend_policy_load_error 0$/m);
    expect((await policyStatus()).loadErrors).toBeGreaterThanOrEqual(1);
  });

  it('SIGHUP reads the file at once, even a change its status does not show', async () => {
    const before = fs.statSync(file);
    // Same length, same times: the poll sees no change; only the signal reads it.
    const edited = TEST_POLICY.replace('Dropping tables is never allowed', 'Dropping tables is NEVER allowed');
    expect(edited.length).toBe(TEST_POLICY.length);
    fs.writeFileSync(file, edited);
    fs.utimesSync(file, before.atime, before.mtime);
    server.child.kill('SIGHUP');
    await eventually(async () => (await policyStatus()).policyVersion === sha256(edited));
    const history = await api(server, 'GET', '/v1/policy/history', server.keys.approver);
    expect(history.body.changes[0]).toMatchObject({ to: sha256(edited), cause: 'signal' });
    expect(server.child.exitCode).toBeNull(); // still serving
  });
});
