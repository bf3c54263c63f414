/**
 * `npm run bench`: every benchmark of the embedded engine, each beside its baseline measured in
 * the same run, with its budget (docs/architecture.md#performance-budgets) marked OK or MISSED. Prints tables, then the machine
 * it ran on. Takes about a minute; run it on an otherwise idle machine.
 */
import os from 'node:os';
import { benchBudget } from './budget.js';
import { benchColdStart } from './cold-start.js';
import { benchReplay } from './replay.js';
import { benchEmbeddedWake } from './embedded-wake.js';
import { benchGovernedCall } from './governed-call.js';
import { benchInputCheck } from './input-check.js';
import { benchIntegrations } from './integrations.js';
import { printResult } from './lib.js';
import { benchPolicyEval } from './policy-eval.js';

console.log(`ascend-sdk benchmarks — Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${os.platform()}\n`);
printResult(await benchPolicyEval());
console.log();
printResult(await benchGovernedCall());
console.log();
printResult(benchInputCheck());
console.log();
printResult(await benchBudget());
console.log();
await benchReplay();
console.log();
printResult(await benchIntegrations());
console.log();
await benchEmbeddedWake();
console.log();
await benchColdStart();
