/**
 * A budget's use is visible where operators look: `ascend agents list` (on a data directory with
 * its policy, and against a server), the server's agent answers, and `/metrics` — with how much
 * is used, the limit, the window and when the next unit frees up.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { captureLogs, runCli, tempDir, writePolicy } from '../helpers.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from './helpers.js';

const POLICY = `
version: 1
default: deny
rules:
  - id: mail-budget
    actions: ["email.send"]
    agents: ["mail*"]
    limit: { count: 5, per: 1h }
    effect: deny
  - id: fleet-mail
    actions: ["email.send"]
    limit: { count: 100, per: 1d, scope: global }
    effect: deny
  - id: mail
    actions: ["email.send"]
    effect: allow
`;

let server: ServerProcess;
const clients: AscendClient[] = [];
beforeAll(async () => {
  server = await startServerProcess({ policy: POLICY });
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await disposeServer(server);
});

async function sendMails(client: AscendClient, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await client.evaluateAction({ actionType: 'email.send', resource: 'smtp', parameters: { to: 'a@example.com' } });
}

describe('budget use, visible', () => {
  it('ascend agents list on a data directory shows used / count per window, from the policy file', async () => {
    const dir = tempDir();
    const dataDir = path.join(dir, '.ascend');
    const policy = writePolicy(dir, POLICY);
    const client = new AscendClient({ agentId: 'mailer', policy, dataDir, logDestination: captureLogs().destination });
    clients.push(client);
    await client.register({ agentType: 'mail' });
    const before = Date.now();
    await sendMails(client, 3);

    const json = await runCli(['agents', 'list', '--json', '--data-dir', dataDir, '--policy', policy]);
    expect(json.code, json.stderr).toBe(0);
    const [agent] = JSON.parse(json.stdout) as Array<{ budgets: Array<{ ruleId: string; used: number; count: number; per: string; scope: string; resetsAt: string }> }>;
    expect(agent!.budgets.map(({ resetsAt: _, ...b }) => b)).toEqual([
      { ruleId: 'mail-budget', scope: 'agent', count: 5, per: '1h', used: 3 },
      { ruleId: 'fleet-mail', scope: 'global', count: 100, per: '1d', used: 3 },
    ]);
    // The oldest of the three leaves the hour's window an hour after it was made.
    const resetsAt = Date.parse(agent!.budgets[0]!.resetsAt);
    expect(resetsAt).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(resetsAt).toBeLessThanOrEqual(Date.now() + 3_600_000);

    // The policy is found in the working directory, as `ascend serve` finds it.
    const table = await runCli(['agents', 'list', '--data-dir', dataDir], { cwd: dir });
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain('mail-budget 3/5 per 1h');
    expect(table.stdout).toContain('fleet-mail 3/100 per 1d (global)');
  });

  it("the server's agent answers, the CLI against it, and /metrics show each budget", async () => {
    const client = new AscendClient({ agentId: 'mailbot', apiUrl: server.url, apiKey: server.keys.agent.apiKey, dataDir: tempDir(), logDestination: captureLogs().destination });
    clients.push(client);
    await client.register({ agentType: 'mail' });
    await sendMails(client, 6);
    const other = new AscendClient({ agentId: 'reporter', apiUrl: server.url, apiKey: server.keys.agent.apiKey, dataDir: tempDir(), logDestination: captureLogs().destination });
    clients.push(other);
    await other.register({ agentType: 'reports' });
    await sendMails(other, 2);

    const one = await api(server, 'GET', '/v1/agents/mailbot', server.keys.approver);
    expect(one.status).toBe(200);
    expect(one.body.budgets).toMatchObject([
      { ruleId: 'mail-budget', used: 5, count: 5, per: '1h' }, // the sixth was denied: not counted
      { ruleId: 'fleet-mail', used: 7, count: 100, per: '1d', scope: 'global' },
    ]);
    const list = await api(server, 'GET', '/v1/agents', server.keys.approver);
    const reporter = (list.body.agents as Array<{ agentId: string; budgets: Array<{ ruleId: string }> }>).find((a) => a.agentId === 'reporter');
    // Its id does not match "mail*": only the global budget applies to it.
    expect(reporter!.budgets.map((b) => b.ruleId)).toEqual(['fleet-mail']);

    const remote = await runCli(['agents', 'list', '--api-url', server.url], { cwd: tempDir(), env: { ...process.env, ASCEND_API_KEY: server.keys.approver.apiKey, ASCEND_API_URL: '' } });
    expect(remote.code, remote.stderr).toBe(0);
    expect(remote.stdout).toContain('mail-budget 5/5 per 1h');

    const metrics = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.keys.admin.apiKey}` } });
    const text = await metrics.text();
    expect(text).toContain('ascend_budget_used{org="default",agent="mailbot",rule="mail-budget"} 5');
    expect(text).toContain('ascend_budget_limit{org="default",agent="mailbot",rule="mail-budget"} 5');
    expect(text).toContain('ascend_budget_window_seconds{org="default",agent="mailbot",rule="mail-budget"} 3600');
    expect(text).toContain('ascend_budget_used{org="default",agent="reporter",rule="fleet-mail"} 7');
    expect(text).toMatch(/ascend_budget_resets_at_seconds\{org="default",agent="mailbot",rule="mail-budget"\} \d+/);
  });

  it('budgets are per organisation: the same agent id, and a global budget, count apart in another', async () => {
    const made = await runCli(['keys', 'create', '--role', 'agent', '--org', 'other', '--name', 'other-bot', '--json', '--db', `sqlite:${server.dbPath}`], { cwd: tempDir() });
    expect(made.code, made.stderr).toBe(0);
    const otherKey = (JSON.parse(made.stdout) as { apiKey: string }).apiKey;
    const before = (await api(server, 'GET', '/v1/agents/mailbot', server.keys.approver)).body.budgets as Array<{ ruleId: string; used: number }>;
    const twin = new AscendClient({ agentId: 'mailbot', apiUrl: server.url, apiKey: otherKey, dataDir: tempDir(), logDestination: captureLogs().destination });
    clients.push(twin);
    await twin.register({ agentType: 'mail' });
    await sendMails(twin, 2);
    const theirs = await api(server, 'GET', '/v1/agents/mailbot', otherKey);
    expect(theirs.body.budgets).toMatchObject([
      { ruleId: 'mail-budget', used: 2 },
      { ruleId: 'fleet-mail', used: 2, scope: 'global' },
    ]);
    // The default organisation's budgets did not move.
    expect((await api(server, 'GET', '/v1/agents/mailbot', server.keys.approver)).body.budgets).toMatchObject(before);
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.keys.admin.apiKey}` } })).text();
    expect(metrics).toContain('ascend_budget_used{org="other",agent="mailbot",rule="mail-budget"} 2');
  });
});
