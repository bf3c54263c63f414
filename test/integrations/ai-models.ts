/** The AI SDK's own mock models, scripted: shared by the AI SDK tests. */
import { MockLanguageModelV4 } from 'ai/test';
import { MockLanguageModelV3 } from 'ai-v6/test';

const usage = {
  inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 5, text: 5, reasoning: undefined },
};

/**
 * A model that makes `calls` (tool call ids `call-0`, `call-1`, …) in its first step, then
 * answers "done": `MockLanguageModelV4` for AI SDK 7, `MockLanguageModelV3` for AI SDK 6.
 */
export function scripted(version: 6 | 7, calls: Array<{ toolName: string; input: unknown }>) {
  const first = {
    content: calls.map((c, i) => ({ type: 'tool-call' as const, toolCallId: `call-${i}`, toolName: c.toolName, input: JSON.stringify(c.input) })),
    finishReason: { unified: 'tool-calls' as const, raw: undefined },
    usage,
    warnings: [],
  };
  const second = { content: [{ type: 'text' as const, text: 'done' }], finishReason: { unified: 'stop' as const, raw: undefined }, usage, warnings: [] };
  return version === 7 ? new MockLanguageModelV4({ doGenerate: [first, second] as never }) : new MockLanguageModelV3({ doGenerate: [first, second] as never });
}
