/**
 * Checking what every governed call checks — `evaluateAction`'s input, and over HTTP the evaluate
 * request — with zod's compiled object (`compiledObject`, what the package uses for them) beside
 * the same shape as a `zod/mini` `z.object` (what every other schema of the client path is), in
 * the same run. Why the per-call schemas are compiled (docs/architecture.md, "Schemas").
 *
 *   npx tsx bench/input-check.ts
 */
import * as z from '../src/core/zod.js';
import { compiledObject } from '../src/core/compiled-object.js';
import { EvaluateActionInputSchema } from '../src/core/inputs.js';
import { EvaluateRequestSchema } from '../src/core/wire.js';
import { isMain, printResult, summarize, timeOps, type BenchResult } from './lib.js';
import { CALL } from './governed-call.js';

const REQUEST = { agentId: 'bench-agent', ...CALL, context: {}, digest: 'a'.repeat(64) };

/** p50/p99 of checking `value` with the compiled schema and with a `z.object` of its shape. */
function pair(what: string, compiled: z.core.$ZodObject, value: unknown): BenchResult['rows'] {
  const plain = z.object(compiled._zod.def.shape);
  const check = (schema: z.core.$ZodType) => (): unknown => {
    const result = z.safeParse(schema, value);
    if (!result.success) throw new Error(`the benchmark's ${what} does not pass: ${result.error.message}`);
    return result.data;
  };
  const options = { warmupOps: 20_000, samples: 20_000, batch: 10 };
  // Interleaved halves, so a drift of the machine falls on both alike.
  const compiledUs = [...timeOps(check(compiled), options)];
  const plainUs = [...timeOps(check(plain), options)];
  compiledUs.push(...timeOps(check(compiled), options));
  plainUs.push(...timeOps(check(plain), options));
  const compiledRow = summarize(`${what}, compiled object`, compiledUs);
  const plainRow = summarize(`${what}, zod/mini z.object`, plainUs);
  compiledRow.note = `${(compiledRow.p50Us / plainRow.p50Us).toFixed(2)}× the z.object at p50`;
  // The compile: the first check of a schema just built, each kind 40 times (fresh shapes alike).
  const firstUs = (make: () => z.core.$ZodType): number[] =>
    Array.from({ length: 40 }, () => {
      const schema = make();
      const t0 = process.hrtime.bigint();
      check(schema)();
      return Number(process.hrtime.bigint() - t0) / 1000;
    });
  const shape = compiled._zod.def.shape;
  const firstCompiled = summarize(`${what}, compiled object: first check`, firstUs(() => compiledObject(shape)));
  const firstPlain = summarize(`${what}, zod/mini z.object: first check`, firstUs(() => z.object(shape)));
  firstCompiled.note = `+${(firstCompiled.p50Us - firstPlain.p50Us).toFixed(0)} µs at p50 over the z.object's: its compile, once a process`;
  return [compiledRow, plainRow, firstCompiled, firstPlain];
}

/** Both inputs, each compiled and plain. */
export function benchInputCheck(): BenchResult {
  return {
    name: 'Checking a governed call (zod/mini z.object vs compiled object, same shape)',
    rows: [...pair('evaluateAction input', EvaluateActionInputSchema, CALL), ...pair('evaluate request', EvaluateRequestSchema, REQUEST)],
  };
}

if (isMain(import.meta.url)) printResult(benchInputCheck());
