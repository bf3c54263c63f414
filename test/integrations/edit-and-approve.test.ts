/**
 * Edit and approve through every integration: a real agent loop (LangChain's fake model, the AI
 * SDK's mock models, a real MCP client and server) makes a call that waits for a person; the
 * person approves it with edits; the tool runs with the edited arguments, and only with them.
 */
import path from 'node:path';
import { AIMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { fakeModel } from '@langchain/core/testing';
import { tool as lcTool } from '@langchain/core/tools';
import { Command, MemorySaver } from '@langchain/langgraph';
import { createAgent } from 'langchain';
import * as ai7 from 'ai';
import * as ai6 from 'ai-v6';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient, defaultDbPath, openSqliteStore, type ArgumentEdit } from '../../src/index.js';
import { AscendCallbackHandler, ascendMiddleware, governTool as governLcTool, type AscendInterrupt } from '../../integrations/langchain/index.js';
import { governTools as governAiTools } from '../../integrations/ai/index.js';
import { governMcpServer } from '../../integrations/mcp/index.js';
import { captureLogs, eventually, tempDir, TEST_POLICY, writePolicy } from '../helpers.js';
import { scripted } from './ai-models.js';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

/** An agent's client and a person's, on one embedded store. */
function setUp() {
  const dir = tempDir();
  const policy = writePolicy(dir, TEST_POLICY);
  const dataDir = path.join(dir, '.ascend');
  const agent = new AscendClient({ agentId: 'edit-agent', policy, dataDir, logDestination: captureLogs().destination });
  const person = new AscendClient({ agentId: 'approver-desk', policy, dataDir, logDestination: captureLogs().destination });
  closers.push(() => agent.close(), () => person.close());
  /** Approve the next pending request with `edits`, as a person would while the agent waits. */
  const approveNextWith = async (edits: ArgumentEdit[]): Promise<string> => {
    const store = openSqliteStore(defaultDbPath(dataDir));
    try {
      const approvalId = await eventually(async () => (await store.listApprovals({ status: 'pending' }))[0]?.approvalId);
      await person.approve(approvalId, { decidedBy: 'alice', comment: 'EU account', edits });
      return approvalId;
    } finally {
      await store.close();
    }
  };
  return { agent, person, approveNextWith };
}

const EDITS: ArgumentEdit[] = [{ path: ['account'], value: 'EU-9' }];

describe('LangChain', () => {
  it('governTool in createAgent: the waiting call runs with the edited arguments', async () => {
    const { agent, approveNextWith } = setUp();
    const paid: unknown[] = [];
    const pay = lcTool(async (args: { amount: number; account: string }) => (paid.push(args), `paid ${args.amount} to ${args.account}`), {
      name: 'pay',
      description: 'pay',
      schema: z.object({ amount: z.number(), account: z.string() }),
    });
    const loop = createAgent({
      model: fakeModel().respondWithTools([{ name: 'pay', args: { amount: 5000, account: 'US-1' }, id: 'p1' }]).respond(new AIMessage('ok')),
      tools: [governLcTool(pay, agent, { actionType: 'payments.transfer' })],
    });
    const [result] = await Promise.all([loop.invoke({ messages: [new HumanMessage('pay')] }), approveNextWith(EDITS)]);
    expect(paid).toEqual([{ amount: 5000, account: 'EU-9' }]);
    expect(result.messages.find((m): m is ToolMessage => m instanceof ToolMessage)?.content).toBe('paid 5000 to EU-9');
  });

  it('ascendMiddleware with interrupt: resumed after an edited approval, the tool runs as edited', async () => {
    const { agent, person } = setUp();
    const paid: unknown[] = [];
    const pay = lcTool(async (args: { amount: number; account: string }) => (paid.push(args), 'paid'), {
      name: 'pay',
      description: 'pay',
      schema: z.object({ amount: z.number(), account: z.string() }),
    });
    const loop = createAgent({
      model: fakeModel().respondWithTools([{ name: 'pay', args: { amount: 5000, account: 'US-1' }, id: 'pay-e' }]).respond(new AIMessage('paid it')),
      tools: [pay],
      middleware: [ascendMiddleware(agent, { onPending: 'interrupt' }, { pay: { actionType: 'payments.transfer' } })],
      checkpointer: new MemorySaver(),
    });
    const config = { configurable: { thread_id: 'edit-thread' } };
    const paused = (await loop.invoke({ messages: [new HumanMessage('pay')] }, config)) as { __interrupt__?: Array<{ value: AscendInterrupt }> };
    expect(paid).toEqual([]);
    await person.approve(paused.__interrupt__![0]!.value.approvalRequestId, { decidedBy: 'alice', edits: EDITS });
    await loop.invoke(new Command({ resume: true }), config);
    expect(paid).toEqual([{ amount: 5000, account: 'EU-9' }]);
  });

  it('AscendCallbackHandler cannot hand edits to a tool: the edited call does not run at all', async () => {
    const { agent, approveNextWith } = setUp();
    const paid: unknown[] = [];
    const pay = lcTool(async (args: { amount: number; account: string }) => (paid.push(args), 'paid'), {
      name: 'payments.transfer',
      description: 'pay',
      schema: z.object({ amount: z.number(), account: z.string() }),
    });
    const handler = new AscendCallbackHandler(agent, { actionType: 'payments.transfer' });
    const [outcome] = await Promise.all([pay.invoke({ amount: 5000, account: 'US-1' }, { callbacks: [handler] }).catch((e: unknown) => e), approveNextWith(EDITS)]);
    expect(String(outcome)).toContain('cannot hand edited arguments');
    expect(paid).toEqual([]);
  });
});

for (const version of [6, 7] as const) {
  const sdk = (version === 7 ? ai7 : ai6) as unknown as typeof ai7;
  describe(`AI SDK v${version}`, () => {
    it('generateText: the waiting call runs with the edited arguments', async () => {
      const { agent, approveNextWith } = setUp();
      const paid: unknown[] = [];
      const tools = governAiTools(
        {
          transfer: sdk.tool({
            description: 'move money',
            inputSchema: z.object({ amount: z.number(), account: z.string() }),
            execute: async (args: { amount: number; account: string }) => (paid.push(args), { sent: args.amount, to: args.account }),
          }),
        },
        agent,
        { actionType: 'payments.transfer' },
      );
      const [result] = await Promise.all([
        sdk.generateText({ model: scripted(version, [{ toolName: 'transfer', input: { amount: 5000, account: 'US-1' } }]) as never, tools, prompt: 'pay', stopWhen: sdk.stepCountIs(3) }),
        approveNextWith(EDITS),
      ]);
      expect(paid).toEqual([{ amount: 5000, account: 'EU-9' }]);
      const output = result.steps[0]!.content.find((p) => p.type === 'tool-result') as { output: unknown } | undefined;
      expect(output?.output).toEqual({ sent: 5000, to: 'EU-9' });
    });
  });
}

describe('MCP', () => {
  it('a governed tool handler receives the edited arguments', async () => {
    const { agent, approveNextWith } = setUp();
    const paid: unknown[] = [];
    const server = new McpServer({ name: 'bank', version: '1.0.0' });
    governMcpServer(server, agent, { transfer: { actionType: 'payments.transfer' } });
    server.registerTool('transfer', { description: 'move money', inputSchema: { amount: z.number(), account: z.string() } }, async (args) => {
      paid.push(args);
      return { content: [{ type: 'text', text: `sent ${args.amount} to ${args.account}` }] };
    });
    const mcpClient = new Client({ name: 'desktop', version: '1.0.0' });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await Promise.all([server.connect(serverSide), mcpClient.connect(clientSide)]);
    closers.push(() => mcpClient.close(), () => server.close());
    const [answer] = await Promise.all([mcpClient.callTool({ name: 'transfer', arguments: { amount: 5000, account: 'US-1' } }), approveNextWith(EDITS)]);
    expect(answer.isError).toBeFalsy();
    expect((answer.content as Array<{ text: string }>)[0]!.text).toBe('sent 5000 to EU-9');
    expect(paid).toEqual([{ amount: 5000, account: 'EU-9' }]);
  });
});
