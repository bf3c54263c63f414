/**
 * Vercel AI SDK: `generateText` driven by the SDK's own mock models (v7 `MockLanguageModelV4`
 * and, through the `ai-v6` npm alias, v6 `MockLanguageModelV3`), with real tools governed by an
 * embedded client. A denied tool's side effect never happens; the model reads why.
 */
import path from 'node:path';
import * as ai7 from 'ai';
import * as ai6 from 'ai-v6';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { ascendToolApproval, governTool, governTools } from '../../integrations/ai/index.js';
import { captureLogs, tempDir, TEST_POLICY, writePolicy } from '../helpers.js';
import { scripted } from './ai-models.js';

const clients: AscendClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

function client(extra: Partial<ConstructorParameters<typeof AscendClient>[0]> = {}): AscendClient {
  const dir = tempDir();
  const c = new AscendClient({ agentId: 'ai-agent', policy: writePolicy(dir, TEST_POLICY), dataDir: path.join(dir, '.ascend'), logDestination: captureLogs().destination, ...extra });
  clients.push(c);
  return c;
}

for (const version of [6, 7] as const) {
  const sdk = (version === 7 ? ai7 : ai6) as unknown as typeof ai7;
  describe(`AI SDK v${version}`, () => {
    function tools(effects: string[]) {
      return {
        query: sdk.tool({
          description: 'Run SQL',
          inputSchema: z.object({ sql: z.string() }),
          execute: async ({ sql }: { sql: string }) => {
            effects.push(sql);
            if (sql.includes('boom')) throw new Error('database is down');
            return { rows: 1 };
          },
        }),
      };
    }

    it('runs an allowed call, refuses a denied one (no side effect, the model reads why), records both', async () => {
      const c = client();
      const effects: string[] = [];
      const governed = governTools(tools(effects), c, { actionType: ({ sql }: Record<string, unknown>) => (String(sql).startsWith('select') ? 'db.query' : 'db.execute') });
      const result = await sdk.generateText({
        model: scripted(version, [
          { toolName: 'query', input: { sql: 'select 1' } },
          { toolName: 'query', input: { sql: 'drop table users' } },
        ]) as never,
        tools: governed,
        prompt: 'go',
        stopWhen: sdk.stepCountIs(3),
      });
      expect(effects).toEqual(['select 1']);
      const parts = result.steps[0]!.content;
      const ok = parts.find((p) => p.type === 'tool-result') as { output: unknown } | undefined;
      const err = parts.find((p) => p.type === 'tool-error') as { error: Error } | undefined;
      expect(ok?.output).toEqual({ rows: 1 });
      expect(String(err?.error)).toContain('Dropping tables is never allowed');
      const audit = await c.evaluateAction({ actionType: 'db.query', parameters: { sql: 'select 2' } });
      expect(audit.decision).toBe('allowed');
    });

    it("records the tool's own failure and lets the loop go on", async () => {
      const c = client();
      const effects: string[] = [];
      const result = await sdk.generateText({
        model: scripted(version, [{ toolName: 'query', input: { sql: 'select boom' } }]) as never,
        tools: governTools(tools(effects), c, { actionType: 'db.query' }),
        prompt: 'go',
        stopWhen: sdk.stepCountIs(3),
      });
      expect(result.text).toBe('done');
      expect(effects).toEqual(['select boom']);
    });

    it("onDenied: 'message' answers the model with the reason instead of an error", async () => {
      const c = client();
      const effects: string[] = [];
      const governed = { query: governTool(tools(effects).query, c, { name: 'query', actionType: 'db.execute', onDenied: 'message' }) };
      const result = await sdk.generateText({
        model: scripted(version, [{ toolName: 'query', input: { sql: 'drop table x' } }]) as never,
        tools: governed,
        prompt: 'go',
        stopWhen: sdk.stepCountIs(3),
      });
      const out = result.steps[0]!.content.find((p) => p.type === 'tool-result') as { output: string };
      expect(out.output).toContain('Tool "query" did not run');
      expect(out.output).toContain('no-drops');
      expect(effects).toEqual([]);
    });

    it('a pending call waits for a person; the abort signal ends the wait and nothing runs', async () => {
      const c = client();
      let sent = false;
      const transfer = governTool(
        sdk.tool({ description: 'pay', inputSchema: z.object({ amount: z.number() }), execute: async () => ((sent = true), 'sent') }),
        c,
        { name: 'transfer', actionType: 'payments.transfer' },
      );
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('user left')), 200);
      const started = Date.now();
      const result = await sdk
        .generateText({
          model: scripted(version, [{ toolName: 'transfer', input: { amount: 5000 } }]) as never,
          tools: { transfer },
          prompt: 'pay',
          abortSignal: controller.signal,
        })
        .catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(10_000); // ended by the abort at 200 ms, not the policy's 60 s wait
      expect(sent).toBe(false);
      void result;
    });
  });
}

/** The app's "yes", added as the SDK expects: into the last tool message when there is one. */
function withApprovalResponse(messages: Array<{ role: string; content: unknown }>, approvalId: string): unknown[] {
  const response = { type: 'tool-approval-response', approvalId, approved: true };
  const last = messages[messages.length - 1];
  if (last?.role === 'tool' && Array.isArray(last.content)) return [...messages.slice(0, -1), { ...last, content: [...last.content, response] }];
  return [...messages, { role: 'tool', content: [response] }];
}

describe('AI SDK approval flow bridged to Ascend', () => {
  async function auditOf(c: AscendClient, dataDir: string) {
    await c.flush();
    const { openSqliteStore, defaultDbPath } = await import('../../src/index.js');
    const store = openSqliteStore(defaultDbPath(dataDir));
    try {
      return { events: await store.readAudit(), approvals: await store.listApprovals() };
    } finally {
      await store.close();
    }
  }

  for (const version of [6, 7] as const) {
    const sdk = (version === 7 ? ai7 : ai6) as unknown as typeof ai7;
    it(`v${version}: a pending call goes to the app's approval UI; the app's yes is recorded as app-ui and the tool runs once`, async () => {
      const dir = tempDir();
      const dataDir = path.join(dir, '.ascend');
      const c = new AscendClient({ agentId: 'ai-agent', policy: writePolicy(dir, TEST_POLICY), dataDir, logDestination: captureLogs().destination });
      clients.push(c);
      const payments: number[] = [];
      const transfer = sdk.tool({
        description: 'pay',
        inputSchema: z.object({ amount: z.number() }),
        execute: async ({ amount }: { amount: number }) => (payments.push(amount), `sent ${amount}`),
      });
      const query = sdk.tool({ description: 'sql', inputSchema: z.object({ sql: z.string() }), execute: async ({ sql }: { sql: string }) => `ran ${sql}` });
      const perTool = { transfer: { actionType: 'payments.transfer' }, query: { actionType: 'db.query' } };
      const tools = governTools({ transfer, query }, c, { needsApproval: version === 6 }, perTool);
      const approval = version === 7 ? { toolApproval: ascendToolApproval(c, {}, perTool) } : {};
      const model = scripted(version, [
        { toolName: 'query', input: { sql: 'select 1' } },
        { toolName: 'transfer', input: { amount: 5000 } },
      ]);

      const first = await sdk.generateText({ model: model as never, tools, prompt: 'pay', stopWhen: sdk.stepCountIs(3), ...approval } as never);
      // v7 also lists the automatic approvals of allowed calls: the one for the person is not automatic.
      const request = (first.content as Array<{ type: string; approvalId?: string; isAutomatic?: boolean }>).find((p) => p.type === 'tool-approval-request' && !p.isAutomatic);
      expect(request?.approvalId).toBeTruthy();
      expect(payments).toEqual([]); // nothing paid before a yes

      const second = await sdk.generateText({
        model: model as never,
        tools,
        stopWhen: sdk.stepCountIs(3),
        ...approval,
        messages: withApprovalResponse([{ role: 'user', content: 'pay' }, ...first.response.messages], request!.approvalId!),
      } as never);
      expect(second.text).toBe('done');
      expect(payments).toEqual([5000]);

      const { events, approvals } = await auditOf(c, dataDir);
      expect(approvals).toHaveLength(1);
      expect(approvals[0]).toMatchObject({ status: 'approved', channel: 'app-ui', decidedBy: 'app-user' });
      expect(approvals[0]!.consumedAt).toBeTruthy();
      // One decision per tool call: the approval-time decision was reused by execute.
      expect(events.filter((e) => e.type === 'action.evaluated')).toHaveLength(2);
      expect(events.filter((e) => e.type === 'action.completed')).toHaveLength(2);
    });
  }

  it('v7: a denial is the SDK denial with the reason, and the tool never runs', async () => {
    const c = client();
    const effects: string[] = [];
    const query = ai7.tool({ description: 'sql', inputSchema: z.object({ sql: z.string() }), execute: async ({ sql }: { sql: string }) => (effects.push(sql), 'ran') });
    const perTool = { query: { actionType: 'db.execute' } };
    const result = await ai7.generateText({
      model: scripted(7, [{ toolName: 'query', input: { sql: 'drop table users' } }]) as never,
      tools: governTools({ query }, c, {}, perTool),
      toolApproval: ascendToolApproval(c, {}, perTool),
      prompt: 'go',
      stopWhen: ai7.stepCountIs(3),
    } as never);
    expect(effects).toEqual([]);
    expect(JSON.stringify(result.steps[0]!.content)).toContain('Dropping tables is never allowed');
  });
});

describe('approval bridge', () => {
  it('a kept decision is used only for the very call it was made for (same id, other arguments: decided afresh)', async () => {
    const { bridgeOf } = await import('../../integrations/approval-bridge.js');
    const c = client();
    const bridge = bridgeOf(c);
    const small = { actionType: 'payments.transfer', resource: '', parameters: { amount: 100 } };
    const large = { actionType: 'payments.transfer', resource: '', parameters: { amount: 5000 } };
    expect((await bridge.decide('call-x', small)).decision).toBe('allowed');
    expect(await bridge.take('call-x', large, undefined)).toBeUndefined();
    expect((await bridge.decide('call-y', small)).decision).toBe('allowed');
    expect((await bridge.take('call-y', small, undefined))?.decided?.decision).toBe('allowed');
    expect(await bridge.take('call-y', small, undefined)).toBeUndefined(); // used once
  });
});
