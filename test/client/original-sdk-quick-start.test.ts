/**
 * The original Python SDK's quick start, translated line by line, under the starter policy that
 * `ascend init` writes: what a user coming from that SDK tries first. Capabilities are the
 * original SDK's names (`data_access`, `file_operations`), which the starter policy defines.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient, type DecisionResult } from '../../src/index.js';
import { captureLogs, eventually, runCli, tempDir } from '../helpers.js';

const clients: AscendClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});

/** `ascend init` in a fresh project, then a client there, as the original example builds it. */
async function project(): Promise<{ dir: string; dataDir: string; client: AscendClient; logs: ReturnType<typeof captureLogs> }> {
  const dir = tempDir('ascend-quickstart-');
  const init = await runCli(['init'], { cwd: dir });
  expect(init.code, init.stderr).toBe(0);
  const logs = captureLogs();
  const client = new AscendClient({
    agentId: 'agent-001',
    agentName: 'My AI Agent',
    policy: path.join(dir, 'ascend.policy.yaml'),
    dataDir: path.join(dir, '.ascend'),
    logDestination: logs.destination,
  });
  clients.push(client);
  return { dir, dataDir: path.join(dir, '.ascend'), client, logs };
}

describe("the original SDK's quick start under the starter policy", () => {
  it('registers with data_access and file_operations: the query runs, DROP TABLE is refused with a higher risk', async () => {
    const { client, logs } = await project();
    const agent = await client.register({
      agentType: 'automation',
      capabilities: ['data_access', 'file_operations'],
      allowedResources: ['production_db', '/var/log/*'],
    });
    expect(agent.warnings ?? []).toEqual([]); // both names are the starter policy's

    const query = await client.evaluateAction({
      actionType: 'database.query',
      resource: 'production_db',
      parameters: { query: 'SELECT * FROM customers LIMIT 10' },
    });
    expect(query.decision).toBe('allowed');
    await client.logActionCompleted({ actionId: query.actionId, result: { rows: 10 }, durationMs: 12 });

    const drop = await client.evaluateAction({ actionType: 'database.query', resource: 'production_db', parameters: { query: 'DROP TABLE customers' } });
    expect(drop.decision).toBe('denied');
    expect(drop.riskScore).toBeGreaterThan(query.riskScore);
    expect(drop.matchedRules).toEqual(['deny-destructive-sql']);

    // A file under /var/log is within file_operations and the allowed resources.
    const log = await client.evaluateAction({ actionType: 'file.read', resource: '/var/log/app.log' });
    expect(log.decision).toBe('allowed');
    expect(logs.text()).not.toContain('restricts nothing');
  });

  it('the 50,000 USD transfer: refused literally (payment_gateway is not an allowed resource), pending once it is, approved from a second process', async () => {
    const { client, dataDir } = await project();
    await client.register({ agentType: 'automation', capabilities: ['data_access', 'file_operations'], allowedResources: ['production_db', '/var/log/*'] });
    const literal = await client.evaluateAction({ actionType: 'financial.transfer', resource: 'payment_gateway', parameters: { amount: 50_000, currency: 'USD' } });
    expect(literal.decision).toBe('denied');
    expect(literal.policyViolations.map((v) => v.code)).toEqual(['resource_not_allowed']);
    expect(literal.matchedRules).toEqual([]); // the registration refused it, not a rule

    await client.register({
      agentType: 'automation',
      capabilities: ['data_access', 'file_operations'],
      allowedResources: ['production_db', '/var/log/*', 'payment_gateway'],
    });
    const waiting: Promise<DecisionResult> = client.evaluateAction({
      actionType: 'financial.transfer',
      resource: 'payment_gateway',
      parameters: { amount: 50_000, currency: 'USD' },
      waitForApproval: true,
      approvalTimeoutMs: 120_000,
    });
    const pending = await eventually(async () => {
      const list = await runCli(['approvals', 'list', '--json', '--data-dir', dataDir]);
      return (JSON.parse(list.stdout) as Array<{ approvalId: string; riskScore: number; requiredApprovers: string[] }>)[0];
    }, 30_000, 50);
    expect(pending.requiredApprovers).toEqual(['finance-team']);
    const approve = await runCli(['approvals', 'approve', pending.approvalId, '--by', 'cfo', '--comment', 'invoice checked', '--data-dir', dataDir]);
    expect(approve.code, approve.stderr).toBe(0);

    const decided = await waiting;
    expect(decided.decision).toBe('allowed');
    expect(decided.approvedBy).toMatchObject({ decidedBy: 'cfo', channel: 'cli' });
  });

  it('a capability name the policy does not define restricts nothing, and says so once', async () => {
    const { client, logs } = await project();
    const agent = await client.register({ agentType: 'automation', capabilities: ['reporting'] });
    expect(agent.warnings).toHaveLength(1);
    expect(agent.warnings![0]).toContain('"reporting"');
    await client.register({ agentType: 'automation', capabilities: ['reporting'] });
    expect(logs.text().split('restricts nothing').length - 1).toBe(1); // logged once per client
    const query = await client.evaluateAction({ actionType: 'database.query', resource: 'production_db', parameters: { query: 'SELECT 1' } });
    expect(query.decision).toBe('allowed');
  });

  it('names gate what they cover: data_access does not let an agent write to the database', async () => {
    const { client } = await project();
    await client.register({ agentType: 'automation', capabilities: ['data_access'] });
    const write = await client.evaluateAction({ actionType: 'database.execute', resource: 'production_db', parameters: { query: 'UPDATE t SET x = 1 WHERE id = 2' } });
    expect(write.decision).toBe('denied');
    expect(write.policyViolations[0]).toMatchObject({ code: 'capability_missing' });
    expect(write.reason).toContain('"data_write"');
  });

  it('a call that names no resource says so, for an agent limited to some resources', async () => {
    const { client } = await project();
    await client.register({ agentType: 'automation', capabilities: ['messaging'], allowedResources: ['smtp'] });
    const d = await client.evaluateAction({ actionType: 'email.send', parameters: { to: 'a@example.com' } });
    expect(d.decision).toBe('denied');
    expect(d.reason).toContain('This call names no resource');
    expect(d.reason).not.toContain('Resource ""');
  });
});
