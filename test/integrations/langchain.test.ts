/**
 * LangChain.js: real `createAgent` loops driven by LangChain's own fake tool-calling model, with
 * tools governed by an embedded client — through governTools, through ascendMiddleware, and a
 * tool run under AscendCallbackHandler. A denied tool's side effect never happens.
 */
import path from 'node:path';
import { AIMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { fakeModel } from '@langchain/core/testing';
import { RunnableLambda } from '@langchain/core/runnables';
import { DynamicStructuredTool, tool } from '@langchain/core/tools';
import { Command, MemorySaver } from '@langchain/langgraph';
import { createAgent } from 'langchain';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient, defaultDbPath, openSqliteStore } from '../../src/index.js';
import { AscendCallbackHandler, ascendMiddleware, governTool, governTools, type AscendInterrupt } from '../../integrations/langchain/index.js';
import { captureLogs, tempDir, TEST_POLICY, writePolicy } from '../helpers.js';

const clients: AscendClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

const dataDirs = new WeakMap<AscendClient, string>();

function client(extra: Partial<ConstructorParameters<typeof AscendClient>[0]> = {}): AscendClient {
  const dir = tempDir();
  const c = new AscendClient({ agentId: 'lc-agent', policy: writePolicy(dir, TEST_POLICY), dataDir: path.join(dir, '.ascend'), logDestination: captureLogs().destination, ...extra });
  clients.push(c);
  dataDirs.set(c, path.join(dir, '.ascend'));
  return c;
}

/** The audit trail's event types and what they record, read from the client's database. */
async function audit(c: AscendClient): Promise<Array<{ type: string; data: Record<string, unknown> }>> {
  await c.flush();
  const store = openSqliteStore(defaultDbPath(dataDirs.get(c)!));
  try {
    return (await store.readAudit()).map((e) => ({ type: e.type, data: e.data }));
  } finally {
    await store.close();
  }
}

function sqlTool(effects: string[]) {
  return tool(
    async ({ sql }: { sql: string }) => {
      effects.push(sql);
      if (sql.includes('boom')) throw new Error('database is down');
      return `1 row for ${sql}`;
    },
    { name: 'sql', description: 'Run SQL', schema: z.object({ sql: z.string() }) },
  );
}

const byStatement = (args: Record<string, unknown>) => (/^\s*select/i.test(String(args.sql)) ? 'db.query' : 'db.execute');

function toolMessages(messages: unknown[]): ToolMessage[] {
  return messages.filter((m): m is ToolMessage => m instanceof ToolMessage);
}

describe('LangChain createAgent', () => {
  it('governTools: parallel calls get their own decisions; the denied one never runs and the model reads why', async () => {
    const c = client();
    const effects: string[] = [];
    const agent = createAgent({
      model: fakeModel()
        .respondWithTools([
          { name: 'sql', args: { sql: 'select * from users' }, id: 't1' },
          { name: 'sql', args: { sql: 'drop table users' }, id: 't2' },
        ])
        .respond(new AIMessage('done')),
      tools: governTools([sqlTool(effects)], c, { actionType: byStatement }),
    });
    const result = await agent.invoke({ messages: [new HumanMessage('go')] });
    expect(effects).toEqual(['select * from users']);
    const [ok, denied] = toolMessages(result.messages);
    expect(ok!.content).toBe('1 row for select * from users');
    expect(denied!.status).toBe('error');
    expect(String(denied!.content)).toContain('Dropping tables is never allowed');
    expect(String(denied!.content)).toContain('did not run');
    expect(result.messages.at(-1)!.content).toBe('done');
    const events = await audit(c);
    expect(events.filter((e) => e.type === 'action.evaluated').map((e) => e.data.decision)).toEqual(['allowed', 'denied']);
    expect(events.find((e) => e.type === 'action.completed')!.data.result).toBe('1 row for select * from users');
  });

  it("ascendMiddleware governs every tool; a tool's own error is recorded and answered, not thrown", async () => {
    const c = client();
    const effects: string[] = [];
    const agent = createAgent({
      model: fakeModel()
        .respondWithTools([
          { name: 'sql', args: { sql: 'select boom' }, id: 'a' },
          { name: 'sql', args: { sql: 'drop table t' }, id: 'b' },
        ])
        .respond(new AIMessage('done')),
      tools: [sqlTool(effects)],
      middleware: [ascendMiddleware(c, { actionType: byStatement })],
    });
    const result = await agent.invoke({ messages: [new HumanMessage('go')] });
    expect(effects).toEqual(['select boom']);
    const [failed, denied] = toolMessages(result.messages);
    expect(failed!.status).toBe('error');
    expect(String(failed!.content)).toContain('database is down');
    expect(String(denied!.content)).toContain('Dropping tables');
    expect(result.messages.at(-1)!.content).toBe('done');
    const failed2 = (await audit(c)).find((e) => e.type === 'action.failed');
    expect(String(failed2!.data.error)).toContain('database is down');
  });

  it('a pending call waits for a person (here the in-process approver) and then runs', async () => {
    const c = client({ onApprovalRequired: () => ({ approved: true, decidedBy: 'alice' }) });
    let paid = 0;
    const pay = tool(async ({ amount }: { amount: number }) => ((paid += amount), 'paid'), { name: 'pay', description: 'pay', schema: z.object({ amount: z.number() }) });
    const agent = createAgent({
      model: fakeModel().respondWithTools([{ name: 'pay', args: { amount: 5000 }, id: 'p' }]).respond(new AIMessage('ok')),
      tools: [governTool(pay, c, { actionType: 'payments.transfer' })],
    });
    const result = await agent.invoke({ messages: [new HumanMessage('pay')] });
    expect(paid).toBe(5000);
    expect(toolMessages(result.messages)[0]!.content).toBe('paid');
  });

  it("onDenied: 'throw' rejects instead of answering", async () => {
    const c = client();
    const effects: string[] = [];
    const governed = governTool(sqlTool(effects), c, { actionType: 'db.execute', onDenied: 'throw' });
    await expect(governed.invoke({ sql: 'drop table x' })).rejects.toThrow('Dropping tables');
    expect(effects).toEqual([]);
  });

  it('a governed tool keeps its name, description and schema', () => {
    const original = sqlTool([]);
    const governed = governTool(original, client());
    expect(governed.name).toBe('sql');
    expect(governed.description).toBe('Run SQL');
    expect(governed.schema).toBe(original.schema);
  });
});

describe('governTool runs inside the tool\'s own LangChain pipeline', () => {
  it('keeps the tool\'s class; the schema parses each call once and governance sees the parsed arguments', async () => {
    const c = client();
    const effects: string[] = [];
    let parses = 0;
    const trimmed = tool(async ({ sql }: { sql: string }) => (effects.push(sql), `ran ${sql}`), {
      name: 'sql',
      description: 'Run SQL',
      schema: z.object({ sql: z.string().transform((v) => ((parses += 1), v.trim())) }),
    });
    const governed = governTool(trimmed, c, { actionType: byStatement });
    expect(governed).toBeInstanceOf(DynamicStructuredTool);
    expect(governed).not.toBe(trimmed);

    const answer = await governed.invoke({ type: 'tool_call', id: 'c1', name: 'sql', args: { sql: '  select 1  ' } });
    expect(answer).toBeInstanceOf(ToolMessage);
    expect((answer as ToolMessage).content).toBe('ran select 1');
    expect(parses).toBe(1);
    expect(effects).toEqual(['select 1']);

    const refused = await governed.invoke({ type: 'tool_call', id: 'c2', name: 'sql', args: { sql: ' drop table t ' } });
    expect((refused as ToolMessage).status).toBe('error');
    expect(String((refused as ToolMessage).content)).toContain('Dropping tables');
    expect(effects).toEqual(['select 1']);

    const decisions = (await audit(c)).filter((e) => e.type === 'action.evaluated').map((e) => e.data);
    expect(decisions.map((d) => (d.parameters as { sql: string }).sql)).toEqual(['select 1', 'drop table t']);
  });

  it('a content_and_artifact tool keeps its artifact; the audit records the content, and a refusal is still an answer', async () => {
    const c = client();
    let runs = 0;
    const report = tool(async ({ sql }: { sql: string }) => ((runs += 1), [`3 rows for ${sql}`, { rows: [1, 2, 3], secretBlob: 'x'.repeat(64) }]), {
      name: 'sql',
      description: 'Run SQL',
      schema: z.object({ sql: z.string() }),
      responseFormat: 'content_and_artifact',
    });
    const governed = governTool(report, c, { actionType: byStatement });
    const answer = (await governed.invoke({ type: 'tool_call', id: 'r1', name: 'sql', args: { sql: 'select *' } })) as ToolMessage;
    expect(answer.content).toBe('3 rows for select *');
    expect(answer.artifact).toEqual({ rows: [1, 2, 3], secretBlob: 'x'.repeat(64) });
    const refused = (await governed.invoke({ type: 'tool_call', id: 'r2', name: 'sql', args: { sql: 'drop table t' } })) as ToolMessage;
    expect(refused.status).toBe('error');
    expect(runs).toBe(1);
    const completed = (await audit(c)).find((e) => e.type === 'action.completed');
    expect(completed!.data.result).toBe('3 rows for select *');
  });

  it('a tool that is not a StructuredTool (a runnable made into a tool) is governed by invoking it', async () => {
    const c = client();
    const effects: string[] = [];
    const echo = RunnableLambda.from(async ({ sql }: { sql: string }) => (effects.push(sql), `ran ${sql}`)).asTool({
      name: 'sql',
      description: 'Run SQL',
      schema: z.object({ sql: z.string() }),
    });
    const governed = governTool(echo, c, { actionType: byStatement });
    expect(await governed.invoke({ sql: 'select 2' })).toBe('ran select 2');
    expect(String(await governed.invoke({ sql: 'drop table t' }))).toContain('Dropping tables');
    expect(effects).toEqual(['select 2']);
    expect((await audit(c)).filter((e) => e.type === 'action.evaluated').map((e) => e.data.decision)).toEqual(['allowed', 'denied']);
  });
});

describe('pausing the graph on a pending call', () => {
  it("onPending: 'interrupt' pauses with the approval, and resumes to run once it is approved", async () => {
    const c = client();
    let paid = 0;
    const pay = tool(async ({ amount }: { amount: number }) => ((paid += amount), 'paid'), { name: 'pay', description: 'pay', schema: z.object({ amount: z.number() }) });
    const agent = createAgent({
      model: fakeModel().respondWithTools([{ name: 'pay', args: { amount: 5000 }, id: 'pay-1' }]).respond(new AIMessage('paid it')),
      tools: [pay],
      middleware: [ascendMiddleware(c, {}, { pay: { actionType: 'payments.transfer', onPending: 'interrupt' } })],
      checkpointer: new MemorySaver(),
    });
    const config = { configurable: { thread_id: 'thread-1' } };
    const paused = await agent.invoke({ messages: [new HumanMessage('pay')] }, config);
    const interrupts = (paused as { __interrupt__?: Array<{ value: AscendInterrupt }> }).__interrupt__;
    expect(interrupts?.[0]?.value).toMatchObject({ type: 'ascend-approval', toolName: 'pay', toolCallId: 'pay-1' });
    expect(paid).toBe(0);

    await c.approve(interrupts![0]!.value.approvalRequestId, { decidedBy: 'alice', channel: 'dashboard' });
    const resumed = await agent.invoke(new Command({ resume: true }), config);
    expect(paid).toBe(5000);
    expect(resumed.messages.at(-1)!.content).toBe('paid it');
    const events = await audit(c);
    expect(events.filter((e) => e.type === 'action.evaluated')).toHaveLength(1); // one decision, kept across the pause
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['approval.approved', 'approval.consumed', 'action.completed']));
  });

  it('resumes in another process (a new client on the same store) with the same decision and approval', async () => {
    const first = client();
    const dataDir = dataDirs.get(first)!;
    let paid = 0;
    const pay = tool(async ({ amount }: { amount: number }) => ((paid += amount), 'paid'), { name: 'pay', description: 'pay', schema: z.object({ amount: z.number() }) });
    const checkpointer = new MemorySaver(); // stands in for a shared, durable checkpointer
    const model = fakeModel().respondWithTools([{ name: 'pay', args: { amount: 5000 }, id: 'pay-3' }]).respond(new AIMessage('paid'));
    const agentOn = (c: AscendClient) =>
      createAgent({ model, tools: [pay], middleware: [ascendMiddleware(c, { onPending: 'interrupt' }, { pay: { actionType: 'payments.transfer' } })], checkpointer });
    const config = { configurable: { thread_id: 'thread-3' } };
    const paused = (await agentOn(first).invoke({ messages: [new HumanMessage('pay')] }, config)) as { __interrupt__?: Array<{ value: AscendInterrupt }> };
    const approvalId = paused.__interrupt__![0]!.value.approvalRequestId;
    await first.approve(approvalId, { decidedBy: 'alice', channel: 'dashboard' });
    await first.close();

    const second = new AscendClient({ agentId: 'lc-agent', policy: writePolicy(tempDir(), TEST_POLICY), dataDir, logDestination: captureLogs().destination });
    clients.push(second);
    dataDirs.set(second, dataDir);
    await agentOn(second).invoke(new Command({ resume: true }), config);
    expect(paid).toBe(5000);
    const events = await audit(second);
    expect(events.filter((e) => e.type === 'action.evaluated')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'approval.requested')).toHaveLength(1);
  });

  it('a rejected approval resumes into a refusal, and the tool never runs', async () => {
    const c = client();
    let paid = 0;
    const pay = tool(async ({ amount }: { amount: number }) => ((paid += amount), 'paid'), { name: 'pay', description: 'pay', schema: z.object({ amount: z.number() }) });
    const agent = createAgent({
      model: fakeModel().respondWithTools([{ name: 'pay', args: { amount: 9000 }, id: 'pay-2' }]).respond(new AIMessage('could not pay')),
      tools: [pay],
      middleware: [ascendMiddleware(c, { onPending: 'interrupt' }, { pay: { actionType: 'payments.transfer' } })],
      checkpointer: new MemorySaver(),
    });
    const config = { configurable: { thread_id: 'thread-2' } };
    const paused = (await agent.invoke({ messages: [new HumanMessage('pay')] }, config)) as { __interrupt__?: Array<{ value: AscendInterrupt }> };
    await c.reject(paused.__interrupt__![0]!.value.approvalRequestId, { decidedBy: 'bob', comment: 'too much' });
    const resumed = await agent.invoke(new Command({ resume: true }), config);
    expect(paid).toBe(0);
    expect(String(toolMessages(resumed.messages)[0]!.content)).toContain('too much');
  });
});

describe('AscendCallbackHandler', () => {
  it('blocks a denied tool run (raiseError) and records allowed runs', async () => {
    const c = client();
    const effects: string[] = [];
    const handler = new AscendCallbackHandler(c, { actionType: byStatement });
    await expect(sqlTool(effects).invoke({ sql: 'drop table users' }, { callbacks: [handler] })).rejects.toThrow('Dropping tables');
    expect(effects).toEqual([]);
    expect(await sqlTool(effects).invoke({ sql: 'select 1' }, { callbacks: [handler] })).toBe('1 row for select 1');
    expect(effects).toEqual(['select 1']);
    const completed = (await audit(c)).find((e) => e.type === 'action.completed');
    expect(completed!.data.result).toBe('1 row for select 1');
  });
});
