/**
 * MCP: a real McpServer and Client over the SDK's in-memory transport, tools governed by an
 * embedded client: allowed calls run, a denial is `isError: true` with the reason and its side
 * effect never happens, a pending call is put to the client's user by elicitation (recorded as
 * `mcp-elicitation`) or waits for an Ascend approval when the client cannot be asked.
 */
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AscendClient, defaultDbPath, openSqliteStore } from '../../src/index.js';
import { governMcpServer, highRiskAction, mcpGovernance, MCPGovernanceMiddleware, type CallToolResultLike } from '../../integrations/mcp/index.js';
import { captureLogs, eventually, tempDir, TEST_POLICY, writePolicy } from '../helpers.js';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

/**
 * The time a call waits for a person, on a fake clock: Date and timers are faked from here on
 * (SQLite, the store's watch and the in-memory MCP transport stay real).
 */
function fakeTheClock(): void {
  vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
}

/** Move the fake clock 250 ms at a time, letting real work run in between, until `pending` settles. */
async function settledOnFakeClock<T>(pending: Promise<T>): Promise<T> {
  let outcome: { value: T } | { error: unknown } | undefined;
  void pending.then(
    (value) => (outcome = { value }),
    (error: unknown) => (outcome = { error }),
  );
  await eventually(async () => {
    await vi.advanceTimersByTimeAsync(250);
    return outcome !== undefined;
  });
  if ('error' in outcome!) throw outcome.error;
  return outcome!.value;
}

function ascend(extra: Partial<ConstructorParameters<typeof AscendClient>[0]> = {}, policyText = TEST_POLICY): { client: AscendClient; dataDir: string } {
  const dir = tempDir();
  const dataDir = path.join(dir, '.ascend');
  const client = new AscendClient({ agentId: 'mcp-agent', policy: writePolicy(dir, policyText), dataDir, logDestination: captureLogs().destination, ...extra });
  closers.push(() => client.close());
  return { client, dataDir };
}

/** A server with `query` (SQL) and `transfer` tools, governed, and a connected client. */
async function setup(
  options: {
    elicit?: (message: string) => { action: 'accept' | 'decline' | 'cancel'; content?: Record<string, unknown> };
    ascendOptions?: Partial<ConstructorParameters<typeof AscendClient>[0]>;
    policy?: string;
  } = {},
) {
  const { client, dataDir } = ascend(options.ascendOptions, options.policy);
  const effects: string[] = [];
  const server = new McpServer({ name: 'bank', version: '1.0.0' });
  governMcpServer(server, client, {
    query: { actionType: ({ sql }) => (/^\s*select/i.test(String(sql)) ? 'db.query' : 'db.execute') },
    transfer: { actionType: 'payments.transfer', approvalTimeoutMs: 2000 },
  });
  server.registerTool('query', { description: 'SQL', inputSchema: { sql: z.string() } }, async ({ sql }) => {
    effects.push(sql);
    return { content: [{ type: 'text', text: `ran ${sql}` }] };
  });
  server.registerTool('transfer', { description: 'move money', inputSchema: { amount: z.number() } }, async ({ amount }) => {
    effects.push(`transfer ${amount}`);
    return { content: [{ type: 'text', text: `sent ${amount}` }] };
  });
  const mcpClient = new Client({ name: 'desktop', version: '1.0.0' }, { capabilities: options.elicit ? { elicitation: { form: {} } } : {} });
  if (options.elicit) {
    const answer = options.elicit;
    mcpClient.setRequestHandler(ElicitRequestSchema, async (request) => answer(String(request.params.message)));
  }
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await Promise.all([server.connect(serverSide), mcpClient.connect(clientSide)]);
  closers.push(() => mcpClient.close(), () => server.close());
  return { client, dataDir, effects, mcpClient };
}

async function approvals(dataDir: string) {
  const store = openSqliteStore(defaultDbPath(dataDir));
  try {
    return await store.listApprovals();
  } finally {
    await store.close();
  }
}

describe('MCP', () => {
  it('runs allowed calls; a denial is isError with the reason and never runs', async () => {
    const { effects, mcpClient } = await setup();
    const ok = await mcpClient.callTool({ name: 'query', arguments: { sql: 'select 1' } });
    expect(ok.isError).toBeFalsy();
    expect((ok.content as Array<{ text: string }>)[0]!.text).toBe('ran select 1');
    const denied = await mcpClient.callTool({ name: 'query', arguments: { sql: 'drop table users' } });
    expect(denied.isError).toBe(true);
    expect((denied.content as Array<{ text: string }>)[0]!.text).toContain('Dropping tables is never allowed');
    expect(effects).toEqual(['select 1']);
  });

  it("asks the client's user by elicitation and records the answer as mcp-elicitation", async () => {
    let asked = '';
    const { effects, mcpClient, dataDir } = await setup({
      elicit: (message) => ((asked = message), { action: 'accept', content: { approve: true } }),
    });
    const result = await mcpClient.callTool({ name: 'transfer', arguments: { amount: 5000 } });
    expect(result.isError).toBeFalsy();
    expect(asked).toContain('transfer');
    expect(effects).toEqual(['transfer 5000']);
    const [approval] = await approvals(dataDir);
    expect(approval).toMatchObject({ status: 'approved', channel: 'mcp-elicitation', decidedBy: 'mcp-client-user' });
  });

  it("a policy that does not accept a client's answer is never elicited: a person must decide", async () => {
    let asked = 0;
    fakeTheClock();
    const { effects, mcpClient } = await setup({
      elicit: () => (asked++, { action: 'accept', content: { approve: true } }),
      policy: TEST_POLICY.replace('rules:', 'approvals:\n  elicitationMaxRisk: null\nrules:'),
    });
    const result = await settledOnFakeClock(mcpClient.callTool({ name: 'transfer', arguments: { amount: 5000 } }));
    expect(asked).toBe(0);
    expect(result.isError).toBe(true); // nobody decided within the 2 s timeout
    expect(effects).toEqual([]);
  }, 10_000);

  it('a declined elicitation denies, and the tool never runs', async () => {
    const { effects, mcpClient } = await setup({ elicit: () => ({ action: 'decline' }) });
    const result = await mcpClient.callTool({ name: 'transfer', arguments: { amount: 5000 } });
    expect(result.isError).toBe(true);
    expect(effects).toEqual([]);
  });

  it('without elicitation a pending call waits for an Ascend approval (here a person approving in process)', async () => {
    const { client, effects, mcpClient, dataDir } = await setup();
    const call = mcpClient.callTool({ name: 'transfer', arguments: { amount: 5000 } });
    const [pending] = await eventually(async () => {
      const list = await approvals(dataDir);
      return list.length > 0 ? list : undefined;
    });
    await client.approve(pending!.approvalId, { decidedBy: 'alice', channel: 'cli' });
    const result = await call;
    expect(result.isError).toBeFalsy();
    expect(effects).toEqual(['transfer 5000']);
  });

  it('a pending call nobody decides is denied at its timeout', async () => {
    fakeTheClock();
    const { effects, mcpClient } = await setup();
    const result = await settledOnFakeClock(mcpClient.callTool({ name: 'transfer', arguments: { amount: 5000 } }));
    expect(result.isError).toBe(true);
    expect((result.content as Array<{ text: string }>)[0]!.text).toContain('nobody approved it in time');
    expect(effects).toEqual([]);
  }, 10_000);
});

describe('MCP decorators', () => {
  it('mcpGovernance, highRiskAction and MCPGovernanceMiddleware wrap handlers directly', async () => {
    const { client } = ascend({ onApprovalRequired: () => ({ approved: false, decidedBy: 'bob', comment: 'not today' }) });
    const runs: string[] = [];
    const handler = async (args: { sql: string }, _extra: unknown): Promise<CallToolResultLike> => (runs.push(args.sql), { content: [{ type: 'text', text: 'ok' }] });
    const governed = mcpGovernance(client, { toolName: 'query', actionType: 'db.query' })(handler);
    expect((await governed({ sql: 'select 1' }, {} as never)).isError).toBeFalsy();
    const risky = highRiskAction(client, { toolName: 'query', actionType: 'db.query' })(handler);
    const refused = await risky({ sql: 'select 2' }, {} as never);
    expect(refused.isError).toBe(true);
    expect(refused.content[0]!.text).toContain('not today');
    const raising = mcpGovernance(client, { toolName: 'query', actionType: 'db.execute', config: { raiseOnDenial: true } })(handler);
    await expect(raising({ sql: 'drop table t' }, {} as never)).rejects.toThrow('Dropping tables');
    expect(runs).toEqual(['select 1']);

    const middleware = new MCPGovernanceMiddleware(client);
    const wrapped = middleware.govern('query', handler, { actionType: 'db.query' });
    expect((await wrapped({ sql: 'select 3' }, {} as never)).isError).toBeFalsy();
    expect(middleware.governedTools).toEqual(['query']);
  });
});
