/**
 * Vercel AI SDK v7, offline: `generateText` with the SDK's mock model standing in for the LLM,
 * tools governed by Ascend and its approval flow bridged: a denied call is refused with its
 * reason, a pending transfer goes to the app's approval UI, and the app's "yes" is recorded in
 * Ascend as `app-ui` before the tool runs.
 *
 *   npx tsx examples/ai-sdk-agent.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateText, stepCountIs, tool, type ModelMessage } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { z } from 'zod';
import { AscendClient, defaultDbPath, openSqliteStore } from '../src/index.js';
import { ascendToolApproval, governTools } from '../integrations/ai/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ascend-ai-sdk-'));
fs.writeFileSync(
  path.join(dir, 'ascend.policy.yaml'),
  `version: 1
default: deny
rules:
  - id: weather-is-fine
    actions: ["tool.weather"]
    effect: allow
  - id: no-shell
    actions: ["tool.shell"]
    effect: deny
    reason: This agent may not run shell commands
  - id: transfers-need-a-person
    actions: ["tool.transfer"]
    effect: require_approval
`,
);
const dataDir = path.join(dir, '.ascend');
const ascend = new AscendClient({ agentId: 'assistant', policy: path.join(dir, 'ascend.policy.yaml'), dataDir, logLevel: 'warn' });

const effects: string[] = [];
const tools = governTools(
  {
    weather: tool({ description: 'weather', inputSchema: z.object({ city: z.string() }), execute: async ({ city }) => `sunny in ${city}` }),
    shell: tool({ description: 'shell', inputSchema: z.object({ cmd: z.string() }), execute: async ({ cmd }) => (effects.push(cmd), 'done') }),
    transfer: tool({ description: 'pay', inputSchema: z.object({ amount: z.number() }), execute: async ({ amount }) => (effects.push(`paid ${amount}`), 'sent') }),
  },
  ascend,
);

const usage = { inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined }, outputTokens: { total: 1, text: 1, reasoning: undefined } };
const call = (id: string, toolName: string, input: unknown) => ({ type: 'tool-call' as const, toolCallId: id, toolName, input: JSON.stringify(input) });
const model = new MockLanguageModelV4({
  doGenerate: [
    { content: [call('t1', 'weather', { city: 'Lyon' }), call('t2', 'shell', { cmd: 'rm -rf /' }), call('t3', 'transfer', { amount: 300 })], finishReason: { unified: 'tool-calls', raw: undefined }, usage, warnings: [] },
    { content: [{ type: 'text', text: 'Checked the weather and paid; the shell command was refused.' }], finishReason: { unified: 'stop', raw: undefined }, usage, warnings: [] },
  ] as never,
});

const toolApproval = ascendToolApproval(ascend);
const first = await generateText({ model, tools, toolApproval, prompt: 'Do my errands', stopWhen: stepCountIs(3) });
for (const part of first.content) {
  if (part.type === 'tool-result') console.log(`${part.toolName} → ${JSON.stringify(part.output)}`);
}
for (const message of first.response.messages) {
  if (message.role !== 'tool') continue;
  for (const part of message.content) {
    if (part.type === 'tool-result' && part.output.type === 'execution-denied') console.log(`${part.toolName} → REFUSED: ${part.output.reason ?? ''}`);
  }
}
const request = first.content.find((p) => p.type === 'tool-approval-request' && !(p as { isAutomatic?: boolean }).isAutomatic) as { approvalId: string; toolCall: { toolName: string } };
console.log(`the app asks its user: allow ${request.toolCall.toolName}? → yes`);

// The app's "yes", added to the last tool message as the SDK expects, and the loop goes on.
const messages: ModelMessage[] = [{ role: 'user', content: 'Do my errands' }, ...first.response.messages];
const last = messages[messages.length - 1]!;
const yes = { type: 'tool-approval-response' as const, approvalId: request.approvalId, approved: true };
if (last.role === 'tool') last.content.push(yes);
else messages.push({ role: 'tool', content: [yes] });
const second = await generateText({ model, tools, toolApproval, messages, stopWhen: stepCountIs(3) });
console.log(`model: ${second.text}`);
console.log(`side effects: ${JSON.stringify(effects)}`);

await ascend.close();
const store = openSqliteStore(defaultDbPath(dataDir));
const [approval] = await store.listApprovals();
console.log(`recorded in Ascend: ${approval?.status} by ${approval?.decidedBy} via ${approval?.channel}; audit ${(await store.verifyAudit()).ok ? 'verified' : 'BROKEN'}`);
await store.close();
fs.rmSync(dir, { recursive: true, force: true });
