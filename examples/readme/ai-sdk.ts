/**
 * The README's AI SDK (v7) excerpt as a whole program, run by test/readme.test.ts. The lines
 * between the README markers are the README's block, verbatim; around them, stand-ins for what is
 * the reader's own: the client, a tool, the model (the SDK's mock model, scripted to ask for two
 * payments) and the app's approval UI (it says yes). Run in a directory without
 * `ascend.policy.yaml`, the starter policy decides: 120 is allowed, 50,000 waits for a person.
 */
import { tool } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { z } from 'zod';
import { AscendClient, defaultDbPath, openSqliteStore } from 'ascend-sdk';

const ascend = new AscendClient({ agentId: 'assistant', logLevel: 'silent' });
const transfer = tool({
  description: 'Pay an invoice',
  inputSchema: z.object({ amount: z.number() }),
  execute: async ({ amount }) => (console.log(`paid ${amount}`), `sent ${amount}`),
});
const usage = { inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined }, outputTokens: { total: 1, text: 1, reasoning: undefined } };
const model = new MockLanguageModelV4({
  doGenerate: [
    {
      content: [
        { type: 'tool-call', toolCallId: 'call-1', toolName: 'transfer', input: JSON.stringify({ amount: 120 }) },
        { type: 'tool-call', toolCallId: 'call-2', toolName: 'transfer', input: JSON.stringify({ amount: 50_000 }) },
      ],
      finishReason: { unified: 'tool-calls', raw: undefined },
      usage,
      warnings: [],
    },
    { content: [{ type: 'text', text: 'Both invoices are paid.' }], finishReason: { unified: 'stop', raw: undefined }, usage, warnings: [] },
  ],
});
/** The app's approval UI: here the user always says yes. */
const askUser = async (question: string): Promise<boolean> => (console.log(`${question} → yes`), true);

// ---- README.md, verbatim ----
import { generateText, stepCountIs, type ModelMessage, type ToolApprovalResponse } from 'ai';
import { ascendToolApproval, governTools } from 'ascend-sdk/ai';

const tools = governTools({ transfer }, ascend);   // execute wrapped; the action type is tool.transfer
const toolApproval = ascendToolApproval(ascend);   // v7: Ascend decides each call when the SDK asks
const messages: ModelMessage[] = [{ role: 'user', content: 'Pay invoices 11 and 12' }];
const first = await generateText({ model, tools, toolApproval, messages, stopWhen: stepCountIs(5) });
messages.push(...first.response.messages);

// A pending call comes back as a tool-approval-request: ask your user, then send the answers back.
const answers: ToolApprovalResponse[] = [];
for (const part of first.content) {
  if (part.type !== 'tool-approval-request' || part.isAutomatic) continue; // automatic: Ascend decided
  const approved = await askUser(`Allow ${part.toolCall.toolName} ${JSON.stringify(part.toolCall.input)}?`);
  answers.push({ type: 'tool-approval-response', approvalId: part.approvalId, approved });
}
const last = messages.at(-1); // the SDK reads the answers from the last message, a tool message
if (last?.role === 'tool') last.content.push(...answers);
else messages.push({ role: 'tool', content: answers });
const second = await generateText({ model, tools, toolApproval, messages, stopWhen: stepCountIs(5) }); // the approved call runs
console.log(second.text);
// v6: governTools({ … }, ascend, { needsApproval: true }) sets each tool's needsApproval instead of toolApproval
// ---- end of the README's block ----

await ascend.close();
// What Ascend recorded about the user's yes.
const store = openSqliteStore(defaultDbPath('.ascend'));
for (const approval of await store.listApprovals()) console.log(`recorded: ${approval.status} by ${approval.decidedBy} via ${approval.channel}`);
await store.close();
