/**
 * Every integration against the hosted ASCEND platform (its stand-in, test/fixtures), with only
 * `apiUrl`, `apiKey` and `protocol` changed: a LangChain agent, an AI SDK loop and an MCP server,
 * each with an allowed call that runs and is recorded, a denied one that never runs, and a
 * pending one that runs once the platform approves it.
 */
import { AIMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { fakeModel } from '@langchain/core/testing';
import { tool as lcTool } from '@langchain/core/tools';
import { createAgent } from 'langchain';
import * as ai from 'ai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { governTools as governLcTools } from '../../integrations/langchain/index.js';
import { governTools as governAiTools } from '../../integrations/ai/index.js';
import { governMcpServer } from '../../integrations/mcp/index.js';
import { platformStandIn, standInClientOptions, type PlatformStandIn } from '../fixtures/platform-stand-in.js';
import { eventually } from '../helpers.js';
import { scripted } from './ai-models.js';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

/** The platform's stand-in and a client of it: the only lines that differ from an embedded set-up. */
async function onPlatform(): Promise<{ platform: PlatformStandIn; client: AscendClient }> {
  const platform = await platformStandIn();
  const client = new AscendClient(standInClientOptions(platform));
  closers.push(() => platform.close(), () => client.close());
  return { platform, client };
}

/** Approve the platform's pending transfer of `amount` as an admin would in its console. */
async function approveOnPlatform(platform: PlatformStandIn, amount: number): Promise<void> {
  const action = await eventually(() => platform.actionWith((d) => d.amount === amount), 15_000);
  platform.approve(action.id);
}

describe('integrations on the ASCEND platform', () => {
  it('LangChain: createAgent with governed tools — allowed runs, denied never runs, pending runs once approved', async () => {
    const { platform, client } = await onPlatform();
    const effects: string[] = [];
    const sql = lcTool(async ({ sql: q }: { sql: string }) => (effects.push(q), `ran ${q}`), { name: 'sql', description: 'SQL', schema: z.object({ sql: z.string() }) });
    const pay = lcTool(async ({ amount }: { amount: number }) => (effects.push(`pay ${amount}`), 'paid'), { name: 'pay', description: 'pay', schema: z.object({ amount: z.number() }) });
    const agent = createAgent({
      model: fakeModel()
        .respondWithTools([
          { name: 'sql', args: { sql: 'select 1' }, id: 'a' },
          { name: 'sql', args: { sql: 'drop table users' }, id: 'b' },
          { name: 'pay', args: { amount: 4000 }, id: 'c' },
        ])
        .respond(new AIMessage('done')),
      tools: governLcTools([sql, pay], client, {}, { pay: { actionType: 'payments.transfer' } }),
    });
    const [result] = await Promise.all([agent.invoke({ messages: [new HumanMessage('go')] }), approveOnPlatform(platform, 4000)]);
    expect(effects.sort()).toEqual(['pay 4000', 'select 1']);
    const messages = result.messages.filter((m): m is ToolMessage => m instanceof ToolMessage);
    expect(String(messages.find((m) => m.tool_call_id === 'b')!.content)).toContain('Destructive operation blocked by policy');
    const recorded = [...platform.actions.values()].filter((a) => a.outcomes.length > 0).map((a) => a.outcomes[0]!.route);
    expect(recorded).toEqual(['complete', 'complete']);
  });

  it('AI SDK: generateText with governed tools — allowed runs, denied never runs, pending runs once approved', async () => {
    const { platform, client } = await onPlatform();
    const effects: string[] = [];
    const tools = governAiTools(
      {
        query: ai.tool({ description: 'SQL', inputSchema: z.object({ sql: z.string() }), execute: async ({ sql }: { sql: string }) => (effects.push(sql), { rows: 1 }) }),
        transfer: ai.tool({ description: 'pay', inputSchema: z.object({ amount: z.number() }), execute: async ({ amount }: { amount: number }) => (effects.push(`pay ${amount}`), { sent: amount }) }),
      },
      client,
      {},
      { transfer: { actionType: 'payments.transfer' } },
    );
    const [result] = await Promise.all([
      ai.generateText({
        model: scripted(7, [
          { toolName: 'query', input: { sql: 'select 1' } },
          { toolName: 'query', input: { sql: 'drop table users' } },
          { toolName: 'transfer', input: { amount: 4100 } },
        ]) as never,
        tools,
        prompt: 'go',
        stopWhen: ai.stepCountIs(3),
      }),
      approveOnPlatform(platform, 4100),
    ]);
    expect(effects.sort()).toEqual(['pay 4100', 'select 1']);
    const refused = result.steps[0]!.content.find((p) => p.type === 'tool-error') as { error: unknown } | undefined;
    expect(String(refused?.error)).toContain('Destructive operation blocked by policy');
  });

  it('MCP: a governed server — allowed runs, denied is isError and never runs, pending runs once approved', async () => {
    const { platform, client } = await onPlatform();
    const effects: string[] = [];
    const server = new McpServer({ name: 'bank', version: '1.0.0' });
    governMcpServer(server, client, { query: { actionType: 'db.query' }, transfer: { actionType: 'payments.transfer' } });
    server.registerTool('query', { description: 'SQL', inputSchema: { sql: z.string() } }, async ({ sql }) => (effects.push(sql), { content: [{ type: 'text', text: `ran ${sql}` }] }));
    server.registerTool('transfer', { description: 'pay', inputSchema: { amount: z.number() } }, async ({ amount }) => (effects.push(`pay ${amount}`), { content: [{ type: 'text', text: `sent ${amount}` }] }));
    const mcp = new Client({ name: 'desktop', version: '1.0.0' });
    const [a, b] = InMemoryTransport.createLinkedPair();
    await Promise.all([server.connect(b), mcp.connect(a)]);
    closers.push(() => mcp.close(), () => server.close());
    expect((await mcp.callTool({ name: 'query', arguments: { sql: 'select 1' } })).isError).toBeFalsy();
    const denied = await mcp.callTool({ name: 'query', arguments: { sql: 'drop table users' } });
    expect(denied.isError).toBe(true);
    expect((denied.content as Array<{ text: string }>)[0]!.text).toContain('Destructive operation blocked by policy');
    const [paid] = await Promise.all([mcp.callTool({ name: 'transfer', arguments: { amount: 4200 } }, undefined, { timeout: 30_000 }), approveOnPlatform(platform, 4200)]);
    expect((paid.content as Array<{ text: string }>)[0]!.text).toBe('sent 4200');
    expect(effects).toEqual(['select 1', 'pay 4200']);
  });
});
