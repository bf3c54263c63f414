/**
 * The `ascend` CLI against a real server (`--api-url`, key in ASCEND_API_KEY): an approver lists
 * and approves from the terminal and the waiting agent runs; roles still apply.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { captureLogs, eventually, runCli, tempDir } from '../helpers.js';
import { disposeServer, startServerProcess, type ServerProcess } from './helpers.js';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServerProcess();
});
afterAll(async () => {
  await disposeServer(server);
});

function cli(args: string[], apiKey: string) {
  return runCli([...args, '--api-url', server.url], { cwd: tempDir(), env: { ...process.env, ASCEND_API_KEY: apiKey, ASCEND_API_URL: '' } });
}

describe('ascend CLI against a server', () => {
  it('approvals list and approve from a terminal; the agent waiting on the server runs', async () => {
    const agent = new AscendClient({ agentId: 'remote-cli-agent', apiUrl: server.url, apiKey: server.keys.agent.apiKey, dataDir: path.join(tempDir(), '.ascend'), logDestination: captureLogs().destination });
    let ran = false;
    const governed = agent.govern({ actionType: 'payments.transfer', parameters: { amount: 4242 } }, () => {
      ran = true;
    });
    const listed = await eventually(async () => {
      const r = await cli(['approvals', 'list', '--json'], server.keys.approver.apiKey);
      const found = (JSON.parse(r.stdout) as Array<{ approvalId: string; parameters: { amount: number } }>).find((a) => a.parameters.amount === 4242);
      return found;
    });
    const approved = await cli(['approvals', 'approve', listed.approvalId, '--by', 'carol', '--comment', 'fine'], server.keys.approver.apiKey);
    expect(approved.code, approved.stderr).toBe(0);
    await governed;
    expect(ran).toBe(true);
    const shown = await cli(['approvals', 'show', listed.approvalId, '--json'], server.keys.approver.apiKey);
    // The server records what it can check (a key: api); the CLI's word is the claimed channel.
    expect(JSON.parse(shown.stdout)).toMatchObject({ status: 'approved', channel: 'api', decidedBy: 'carol (key alice)' });
    await agent.close();
  });

  it('an agent key cannot approve from the CLI either; admin verifies the audit', async () => {
    const refused = await cli(['approvals', 'list'], server.keys.agent.apiKey);
    expect(refused.code).toBe(0); // agents may read their organisation's approvals
    const verify = await cli(['audit', 'verify', '--json'], server.keys.admin.apiKey);
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout).ok).toBe(true);
    const tail = await cli(['audit', 'tail', '-n', '3', '--json'], server.keys.admin.apiKey);
    expect(tail.code, tail.stderr).toBe(0);
    const denied = await cli(['audit', 'verify'], server.keys.approver.apiKey);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/may not verify the audit trail/);
    const noKey = await runCli(['approvals', 'list', '--api-url', server.url], { cwd: tempDir(), env: { ...process.env, ASCEND_API_KEY: '' } });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('ASCEND_API_KEY');
  });
});
