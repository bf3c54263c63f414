/**
 * LangChain.js, offline: a `createAgent` loop (LangChain's own fake tool-calling model stands in
 * for the LLM) whose tools are governed by one middleware. The model reads why a call was
 * refused; a transfer that needs a person pauses the graph and resumes once approved.
 *
 *   npx tsx examples/langchain-agent.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AIMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { fakeModel } from '@langchain/core/testing';
import { tool } from '@langchain/core/tools';
import { Command, MemorySaver } from '@langchain/langgraph';
import { createAgent } from 'langchain';
import { z } from 'zod';
import { AscendClient } from '../src/index.js';
import { ascendMiddleware, type AscendInterrupt } from '../integrations/langchain/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ascend-langchain-'));
fs.writeFileSync(
  path.join(dir, 'ascend.policy.yaml'),
  `version: 1
default: deny
rules:
  - id: reads
    actions: ["db.query"]
    when: 'parameters.query.matches("(?i)^\\\\s*select\\\\b")'
    effect: allow
  - id: no-deletes
    actions: ["db.query"]
    when: 'parameters.query.matches("(?i)\\\\bdelete\\\\b")'
    effect: deny
    reason: Deleting rows is not allowed for this agent
  - id: transfers-need-a-person
    actions: ["payments.transfer"]
    effect: require_approval
`,
);
const ascend = new AscendClient({ agentId: 'support-agent', policy: path.join(dir, 'ascend.policy.yaml'), dataDir: path.join(dir, '.ascend'), logLevel: 'warn' });

// Real tools (a tiny in-memory "database" and "bank").
const rows = ['alice', 'bob'];
const payments: number[] = [];
const sql = tool(async ({ query }: { query: string }) => (query.toLowerCase().startsWith('select') ? JSON.stringify(rows) : 'ok'), {
  name: 'sql',
  description: 'Run a SQL statement',
  schema: z.object({ query: z.string() }),
});
const pay = tool(async ({ amount }: { amount: number }) => (payments.push(amount), `paid ${amount}`), {
  name: 'pay',
  description: 'Send money',
  schema: z.object({ amount: z.number() }),
});

const agent = createAgent({
  model: fakeModel()
    .respondWithTools([
      { name: 'sql', args: { query: 'SELECT name FROM customers' }, id: 'c1' },
      { name: 'sql', args: { query: 'DELETE FROM customers' }, id: 'c2' },
    ])
    .respondWithTools([{ name: 'pay', args: { amount: 2500 }, id: 'c3' }])
    .respond(new AIMessage('Listed the customers, could not delete them, and paid the invoice.')),
  tools: [sql, pay],
  middleware: [ascendMiddleware(ascend, { actionType: 'db.query' }, { pay: { actionType: 'payments.transfer', onPending: 'interrupt' } })],
  checkpointer: new MemorySaver(),
});

const config = { configurable: { thread_id: 'demo' } };
const paused = (await agent.invoke({ messages: [new HumanMessage('Tidy up customers and pay the invoice')] }, config)) as {
  messages: unknown[];
  __interrupt__?: Array<{ value: AscendInterrupt }>;
};
for (const m of paused.messages) if (m instanceof ToolMessage) console.log(`tool ${m.name} → ${m.status === 'error' ? 'REFUSED: ' : ''}${String(m.content)}`);
const pending = paused.__interrupt__?.[0]?.value;
console.log(`paused: ${pending?.toolName} needs approval ${pending?.approvalRequestId} (${pending?.reason})`);

// A person approves (here in process; in real life `ascend approvals approve ID` or the dashboard).
await ascend.approve(pending!.approvalRequestId, { decidedBy: 'finance-lead', channel: 'cli', comment: 'invoice checked' });
const resumed = await agent.invoke(new Command({ resume: true }), config);
console.log(`resumed: ${String(resumed.messages.at(-1)!.content)}`);
console.log(`payments made: ${JSON.stringify(payments)}`);
await ascend.close();
fs.rmSync(dir, { recursive: true, force: true });
