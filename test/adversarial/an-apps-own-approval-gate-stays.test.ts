/**
 * Promise: adding Ascend to an AI SDK app never removes the app's own human gate. A tool that
 * asks for approval itself (`needsApproval: true`, or a function that says yes for the call)
 * still asks the app's user when Ascend allows the call; Ascend's denial still denies; a call
 * pending in Ascend is put to the app's user once, and that yes is recorded as the Ascend
 * approval. Driven by real `generateText` loops of AI SDK v7 (`toolApproval:
 * ascendToolApproval(...)`, MockLanguageModelV4) and v6 (`governTools(..., { needsApproval:
 * true })`, MockLanguageModelV3), decided by an embedded client on a real SQLite file.
 */
import path from 'node:path';
import * as ai7 from 'ai';
import * as ai6 from 'ai-v6';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient, defaultDbPath, openSqliteStore } from '../../src/index.js';
import { ascendToolApproval, governTools } from '../../integrations/ai/index.js';
import { captureLogs, tempDir, TEST_POLICY, writePolicy } from '../helpers.js';
import { scripted } from '../integrations/ai-models.js';

const clients: AscendClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** The app's answers to approval requests, added as the SDK expects (into the last tool message). */
function withAnswers(messages: Array<{ role: string; content: unknown }>, answers: Array<{ approvalId: string; approved: boolean }>): unknown[] {
  const responses = answers.map((a) => ({ type: 'tool-approval-response', approvalId: a.approvalId, approved: a.approved }));
  const last = messages[messages.length - 1];
  if (last?.role === 'tool' && Array.isArray(last.content)) return [...messages.slice(0, -1), { ...last, content: [...last.content, ...responses] }];
  return [...messages, { role: 'tool', content: responses }];
}

type Part = { type: string; approvalId?: string; isAutomatic?: boolean; toolCall?: { toolCallId: string } };

/** The approval requests put to the app's user (v7 also lists automatic ones: not those). */
function askedOfUser(content: unknown): Part[] {
  return (content as Part[]).filter((p) => p.type === 'tool-approval-request' && !p.isAutomatic);
}

for (const version of [7, 6] as const) {
  const sdk = (version === 7 ? ai7 : ai6) as unknown as typeof ai7;

  describe(`AI SDK v${version}: an app's own approval gate stays when Ascend governs its tools`, () => {
    /** `query` (db.query / db.execute) and `transfer` (payments.transfer), each with the app's own `needsApproval`. */
    function app(needsApproval: { query?: unknown; transfer?: unknown }) {
      const dir = tempDir();
      const dataDir = path.join(dir, '.ascend');
      const c = new AscendClient({ agentId: 'ai-agent', policy: writePolicy(dir, TEST_POLICY), dataDir, logDestination: captureLogs().destination });
      clients.push(c);
      const effects: string[] = [];
      const query = sdk.tool({
        description: 'sql',
        inputSchema: z.object({ sql: z.string() }),
        execute: async ({ sql }: { sql: string }) => (effects.push(sql), `ran ${sql}`),
        ...(needsApproval.query !== undefined ? { needsApproval: needsApproval.query as boolean } : {}),
      });
      const transfer = sdk.tool({
        description: 'pay',
        inputSchema: z.object({ amount: z.number() }),
        execute: async ({ amount }: { amount: number }) => (effects.push(`paid ${amount}`), `sent ${amount}`),
        ...(needsApproval.transfer !== undefined ? { needsApproval: needsApproval.transfer as boolean } : {}),
      });
      const perTool = {
        query: { actionType: ({ sql }: Record<string, unknown>) => (/^\s*select/i.test(String(sql)) ? 'db.query' : 'db.execute') },
        transfer: { actionType: 'payments.transfer' },
      };
      const tools = governTools({ query, transfer }, c, { needsApproval: version === 6 }, perTool);
      const approval = version === 7 ? { toolApproval: ascendToolApproval(c, {}, perTool) } : {};

      async function run(calls: Array<{ toolName: string; input: unknown }>, answer?: (request: Part) => boolean, whileTheUserThinks?: () => Promise<void>) {
        const model = scripted(version, calls);
        const first = await sdk.generateText({ model: model as never, tools, prompt: 'go', stopWhen: sdk.stepCountIs(3), ...approval } as never);
        const asked = askedOfUser(first.content);
        const effectsBeforeAnswer = [...effects];
        if (!answer || asked.length === 0) return { first, asked, effectsBeforeAnswer };
        await whileTheUserThinks?.();
        const second = await sdk.generateText({
          model: model as never,
          tools,
          stopWhen: sdk.stepCountIs(3),
          ...approval,
          messages: withAnswers([{ role: 'user', content: 'go' }, ...first.response.messages], asked.map((r) => ({ approvalId: r.approvalId!, approved: answer(r) }))),
        } as never);
        return { first, second, asked, effectsBeforeAnswer };
      }

      async function audit() {
        await c.flush();
        const store = openSqliteStore(defaultDbPath(dataDir));
        try {
          return { events: await store.readAudit(), approvals: await store.listApprovals() };
        } finally {
          await store.close();
        }
      }
      /** An operator blocks the agent (kill switch), through the database as the CLI does. */
      async function block() {
        const store = openSqliteStore(defaultDbPath(dataDir));
        try {
          await store.setAgentBlocked('ai-agent', true, 'runaway', 'ops', new Date().toISOString());
        } finally {
          await store.close();
        }
      }
      return { effects, run, audit, block };
    }

    it("needsApproval: true still asks the app's user when Ascend allows; the tool runs only after the yes", async () => {
      const { effects, run, audit } = app({ query: true });
      const { asked, effectsBeforeAnswer, second } = await run([{ toolName: 'query', input: { sql: 'select 1' } }], () => true);
      expect(asked.map((r) => r.toolCall?.toolCallId)).toEqual(['call-0']);
      expect(effectsBeforeAnswer).toEqual([]);
      expect(second?.text).toBe('done');
      expect(effects).toEqual(['select 1']);
      const { events, approvals } = await audit();
      expect(approvals).toEqual([]); // Ascend allowed: it needed nobody; the app's gate was the app's
      // Decided when the SDK asked, and again when the tool ran (the app's user may take hours).
      expect(events.filter((e) => e.type === 'action.evaluated').map((e) => e.data.decision)).toEqual(['allowed', 'allowed']);
      expect(events.filter((e) => e.type === 'action.completed')).toHaveLength(1);
    });

    it("an agent blocked while the app's user decides does not run the tool, though Ascend had allowed it", async () => {
      const { effects, run, block } = app({ query: true });
      const { asked } = await run([{ toolName: 'query', input: { sql: 'select 1' } }], () => true, block);
      expect(asked).toHaveLength(1);
      expect(effects).toEqual([]);
    });

    it("the app user's no stands, though Ascend allows: the tool never runs", async () => {
      const { effects, run } = app({ query: true });
      const { asked } = await run([{ toolName: 'query', input: { sql: 'select 1' } }], () => false);
      expect(asked).toHaveLength(1);
      expect(effects).toEqual([]);
    });

    it('a needsApproval function is asked per call, with the SDK options: its yes goes to the app user, its no lets Ascend allow', async () => {
      const seen: string[] = [];
      const needsApproval = async ({ sql }: { sql: string }, options: { toolCallId: string }) => (seen.push(options.toolCallId), sql.includes('users'));
      const { effects, run } = app({ query: needsApproval });
      const { asked, effectsBeforeAnswer } = await run(
        [
          { toolName: 'query', input: { sql: 'select 1' } },
          { toolName: 'query', input: { sql: 'select * from users' } },
        ],
        () => true,
      );
      expect(asked.map((r) => r.toolCall?.toolCallId)).toEqual(['call-1']);
      expect(effectsBeforeAnswer).not.toContain('select * from users');
      expect([...effects].sort()).toEqual(['select * from users', 'select 1']);
      expect(seen).toContain('call-0');
      expect(seen).toContain('call-1');
    });

    it("Ascend's denial stands over the tool's own gate: nobody is asked, nothing runs, the model reads why", async () => {
      const { effects, run } = app({ query: true });
      const { first, asked } = await run([{ toolName: 'query', input: { sql: 'drop table users' } }]);
      expect(asked).toEqual([]);
      expect(effects).toEqual([]);
      expect(JSON.stringify(first.steps[0]!.content)).toContain('Dropping tables is never allowed');
    });

    it("pending in Ascend and gated by the app: one question to the app's user, whose yes is the recorded Ascend approval", async () => {
      const { effects, run, audit } = app({ transfer: true });
      const { asked } = await run([{ toolName: 'transfer', input: { amount: 5000 } }], () => true);
      expect(asked).toHaveLength(1);
      expect(effects).toEqual(['paid 5000']);
      const { approvals } = await audit();
      expect(approvals).toHaveLength(1);
      expect(approvals[0]).toMatchObject({ status: 'approved', channel: 'app-ui', decidedBy: 'app-user' });
    });
  });
}
