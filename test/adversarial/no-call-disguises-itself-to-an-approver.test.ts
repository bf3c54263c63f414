/**
 * Promise: what a person approves is what they were shown. A line break or a terminal escape code
 * in an agent id, an action type or a resource could make `ascend approvals list` (or the
 * terminal approver, or a log line) show another call than the one waiting — "db.select" over a
 * "db.drop". Such names are refused where they enter, embedded and over HTTP, naming the field;
 * arguments may hold anything, and are shown escaped.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AscendClient, ValidationError } from '../../src/index.js';
import { callDigest } from '../../src/core/call-digest.js';
import { defaultDbPath, openSqliteStore } from '../../src/store/sqlite.js';
import { captureLogs, runCli, tempDir, TEST_POLICY, writePolicy } from '../helpers.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from '../server/helpers.js';

const DISGUISES = ['db.drop\u001b[2K\rdb.select', 'db.drop\nshown: db.select', 'db.drop\u009b2K', 'db.drop\u007f'];

let server: ServerProcess | undefined;
const dirs: string[] = [];
afterAll(async () => {
  await disposeServer(server);
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function scratch(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir;
}

describe('names with control characters', () => {
  it('are refused by the embedded client, naming the field; nothing is recorded', async () => {
    const dir = scratch();
    const client = new AscendClient({ agentId: 'agent-1', dataDir: path.join(dir, '.ascend'), policy: writePolicy(dir, TEST_POLICY), logDestination: captureLogs().destination });
    try {
      for (const actionType of DISGUISES) {
        const err = await client.evaluateAction({ actionType, parameters: {} }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ValidationError);
        expect((err as ValidationError).issues.map((i) => i.path)).toEqual(['actionType']);
        expect((err as ValidationError).message).toContain('control characters');
      }
      const resource = await client.evaluateAction({ actionType: 'db.query', resource: 'prod\r\nstaging', parameters: { sql: 'select 1' } }).catch((e: unknown) => e);
      expect((resource as ValidationError).issues.map((i) => i.path)).toEqual(['resource']);
      let ran = false;
      await expect(client.govern({ actionType: DISGUISES[0]!, parameters: {} }, () => (ran = true))).rejects.toThrow(ValidationError);
      expect(ran).toBe(false);
      expect(() => new AscendClient({ agentId: 'agent\u001b[31m-1', dataDir: path.join(dir, '.ascend') })).toThrow(/agentId/);
    } finally {
      await client.close();
    }
    const store = openSqliteStore(defaultDbPath(path.join(dir, '.ascend')));
    try {
      expect((await store.readAudit({ limit: 100 })).filter((e) => e.type === 'action.evaluated')).toHaveLength(0);
    } finally {
      await store.close();
    }
  });

  it('are refused by the server with 400 naming the field', async () => {
    server = await startServerProcess();
    for (const [field, body] of [
      ['body.actionType', { agentId: 'agent-1', actionType: DISGUISES[0]!, resource: 'prod', parameters: {} }],
      ['body.resource', { agentId: 'agent-1', actionType: 'db.query', resource: 'prod\u001b]8;;https://evil.example\u0007', parameters: {} }],
      ['body.agentId', { agentId: 'agent-1\r\n', actionType: 'db.query', resource: 'prod', parameters: {} }],
    ] as const) {
      const digest = callDigest({ agentId: body.agentId, actionType: body.actionType, resource: body.resource, parameters: {} });
      const answer = await api(server, 'POST', '/v1/actions/evaluate', server.keys.agent, { ...body, digest });
      expect(answer.status).toBe(400);
      expect(answer.body.error.details.issues.map((i: { path: string }) => i.path)).toContain(field);
    }
  }, 30_000);

  it('arguments may hold escape codes; `ascend approvals list` and `show` print none of them', async () => {
    const dir = scratch();
    const dataDir = path.join(dir, '.ascend');
    const client = new AscendClient({ agentId: 'agent-1', dataDir, policy: writePolicy(dir, TEST_POLICY), logDestination: captureLogs().destination });
    let approvalId: string | undefined;
    try {
      const pending = await client.evaluateAction({ actionType: 'payments.transfer', resource: 'acct-1', parameters: { amount: 5000, memo: '\u001b[2K\r\u001b[32mAPPROVED BY FINANCE\u001b[0m' } });
      approvalId = pending.approvalRequestId;
      expect(pending.decision).toBe('pending');
    } finally {
      await client.close();
    }
    const env = { ...process.env, NO_COLOR: '1' };
    const list = await runCli(['approvals', 'list', '--data-dir', dataDir], { env });
    const show = await runCli(['approvals', 'show', approvalId!, '--data-dir', dataDir], { env });
    for (const run of [list, show]) {
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).not.toMatch(/[\u001b\u009b\r]/);
    }
    expect(show.stdout).toContain('\\u001b[32mAPPROVED BY FINANCE');
  }, 30_000);
});
