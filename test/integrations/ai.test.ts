/**
 * Vercel AI SDK: `generateText` driven by the SDK's own mock models (v7 `MockLanguageModelV4`
 * and, through the `ai-v6` npm alias, v6 `MockLanguageModelV3`), with real tools governed by an
 * embedded client. A denied tool's side effect never happens; the model reads why.
 */
import path from 'node:path';
import * as ai7 from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import * as ai6 from 'ai-v6';
import { MockLanguageModelV3 } from 'ai-v6/test';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { governTool, governTools } from '../../integrations/ai/index.js';
import { captureLogs, tempDir, TEST_POLICY, writePolicy } from '../helpers.js';

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

const usage = {
  inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 5, text: 5, reasoning: undefined },
};

/** A model that calls `toolName` with `input` once, then answers with text. */
function scripted(version: 6 | 7, calls: Array<{ toolName: string; input: unknown }>) {
  const first = {
    content: calls.map((c, i) => ({ type: 'tool-call' as const, toolCallId: `call-${i}`, toolName: c.toolName, input: JSON.stringify(c.input) })),
    finishReason: { unified: 'tool-calls' as const, raw: undefined },
    usage,
    warnings: [],
  };
  const second = { content: [{ type: 'text' as const, text: 'done' }], finishReason: { unified: 'stop' as const, raw: undefined }, usage, warnings: [] };
  return version === 7 ? new MockLanguageModelV4({ doGenerate: [first, second] as never }) : new MockLanguageModelV3({ doGenerate: [first, second] as never });
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
      expect(Date.now() - started).toBeLessThan(2000);
      expect(sent).toBe(false);
      void result;
    });
  });
}
