/**
 * Benchmark: what governing a tool costs through each integration, beside what the core's
 * `govern()` costs, measured in the same run (round-robin, see `raceAsync`), `batched`
 * durability, the 20-rule policy. For each framework: its bare tool call, and the same tool
 * governed; the adapter's overhead is the difference. Budget (issue 4): each adapter's overhead
 * ≤ 2× the core's. One more row runs a bare LangChain invoke and a core govern() back to back in
 * one operation: what the core costs when it takes turns with LangChain's code on the CPU, so the
 * LangChain adapter's own share can be told apart.
 *
 *   npx tsx bench/integrations.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tool as lcTool } from '@langchain/core/tools';
import { tool as aiTool } from 'ai';
import { z } from 'zod';
import { AscendClient, parsePolicy } from '../src/index.js';
import { governTool as governAiTool } from '../integrations/ai/index.js';
import { governTool as governLcTool } from '../integrations/langchain/index.js';
import { mcpGovernance, type CallToolResultLike } from '../integrations/mcp/index.js';
import { isMain, percentile, printResult, raceAsync, type BenchResult, type Contender } from './lib.js';
import { BENCH_POLICY_YAML } from './policy-eval.js';

const PARAMS = { query: 'SELECT id, name FROM customers WHERE id = 42' };

export async function benchIntegrations(): Promise<BenchResult & { ratios: Record<string, number> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ascend-bench-integrations-'));
  const client = new AscendClient({
    agentId: 'bench-agent',
    policy: parsePolicy(BENCH_POLICY_YAML, 'bench-policy.yaml'),
    dataDir: dir,
    audit: { durability: 'batched' },
    logLevel: 'silent',
  });
  try {
    const run = async (): Promise<number> => 42;
    const ai = aiTool({ description: 'sql', inputSchema: z.object({ query: z.string() }), execute: async () => 42 });
    const aiGoverned = governAiTool(ai, client, { name: 'sql', actionType: 'database.query', resource: 'production_db' });
    const aiOptions = { toolCallId: 'c1', messages: [] } as never;
    const lc = lcTool(async () => '42', { name: 'sql', description: 'sql', schema: z.object({ query: z.string() }) });
    const lcGoverned = governLcTool(lc, client, { actionType: 'database.query', resource: 'production_db' });
    const mcp = async (_args: { query: string }, _extra: unknown): Promise<CallToolResultLike> => ({ content: [{ type: 'text', text: '42' }] });
    const mcpGoverned = mcpGovernance(client, { toolName: 'sql', actionType: 'database.query', resource: 'production_db' })(mcp);

    const contenders: Contender[] = [
      { label: 'bare call', op: run },
      { label: 'core govern()', op: () => client.govern({ actionType: 'database.query', resource: 'production_db', parameters: PARAMS }, run) },
      { label: 'AI SDK tool, bare execute', op: () => ai.execute!(PARAMS, aiOptions) },
      { label: 'AI SDK tool, governed', op: () => aiGoverned.execute!(PARAMS, aiOptions) },
      { label: 'LangChain tool, bare invoke', op: () => lc.invoke(PARAMS) },
      { label: 'LangChain tool, governed', op: () => lcGoverned.invoke(PARAMS) },
      {
        label: 'bare invoke, then core govern()',
        op: async () => {
          await lc.invoke(PARAMS);
          return client.govern({ actionType: 'database.query', resource: 'production_db', parameters: PARAMS }, run);
        },
      },
      { label: 'MCP handler, bare', op: () => mcp(PARAMS, {}) },
      { label: 'MCP handler, governed', op: () => mcpGoverned(PARAMS, {}) },
    ];
    const results = await raceAsync(contenders, { samples: 6000, warmupOps: 1500 });
    const p50 = (label: string): number => percentile(results.find((r) => r.label === label)!.samplesUs, 50);
    const core = p50('core govern()') - p50('bare call');
    const ratios: Record<string, number> = {
      'AI SDK': (p50('AI SDK tool, governed') - p50('AI SDK tool, bare execute')) / core,
      LangChain: (p50('LangChain tool, governed') - p50('LangChain tool, bare invoke')) / core,
      MCP: (p50('MCP handler, governed') - p50('MCP handler, bare')) / core,
    };
    const note = (framework: string, governed: string, bare: string): string =>
      `+${(p50(governed) - p50(bare)).toFixed(1)} µs over its bare call = ${ratios[framework]!.toFixed(2)}× the core's (budget ≤ 2×: ${ratios[framework]! <= 2 ? 'OK' : 'MISSED'})`;
    return {
      name: 'Governed tool call through each integration (batched durability)',
      rows: results.map((r) => {
        const row = { label: r.label, p50Us: percentile(r.samplesUs, 50), p99Us: percentile(r.samplesUs, 99) } as BenchResult['rows'][number];
        if (r.label === 'core govern()') row.note = `+${core.toFixed(1)} µs over bare: the core's overhead`;
        if (r.label === 'AI SDK tool, governed') row.note = note('AI SDK', r.label, 'AI SDK tool, bare execute');
        if (r.label === 'LangChain tool, governed') row.note = note('LangChain', r.label, 'LangChain tool, bare invoke');
        if (r.label === 'MCP handler, governed') row.note = note('MCP', r.label, 'MCP handler, bare');
        if (r.label === 'bare invoke, then core govern()') {
          const together = p50(r.label) - p50('LangChain tool, bare invoke');
          const adapter = p50('LangChain tool, governed') - p50(r.label);
          row.note = `govern() costs +${together.toFixed(1)} µs right after a LangChain invoke (alone: +${core.toFixed(1)}); the adapter adds ${adapter.toFixed(1)} µs to that`;
        }
        return row;
      }),
      ratios,
    };
  } finally {
    await client.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) {
  printResult(await benchIntegrations());
}
