/**
 * Policy evaluation: our engine (20 rules with CEL conditions) against Cedar's wasm build
 * (`statefulIsAuthorized` on the equivalent 20 preparsed policies), same requests, same run.
 * Budget (docs/architecture.md#performance-budgets): ours p50 ≤ 3 µs and ≥ 30× faster than Cedar.
 *
 * Run: `npx tsx bench/policy-eval.ts`
 */
import { evaluatePolicy, parsePolicy, UsageTracker, type EvaluationInput } from '../src/engine/index.js';
import type { AgentRecord } from '../src/core/types.js';
import { isMain, keep, printResult, summarize, timeOps, type BenchResult } from './lib.js';

/** 20 rules over 10 action families, each with a CEL condition. */
export const BENCH_POLICY_YAML = `
version: 1
default: deny
rules:
  - id: sql-select
    actions: ["database.query"]
    resources: ["production_db", "analytics_db"]
    when: 'parameters.query.matches("(?i)^\\\\s*select\\\\b")'
    effect: allow
  - id: sql-no-drop
    actions: ["database.*"]
    when: 'parameters.query.matches("(?i)\\\\b(drop|truncate)\\\\b")'
    effect: deny
  - id: sql-execute
    actions: ["database.execute"]
    when: 'resource != "scratch_db"'
    effect: require_approval
  - id: email-internal
    actions: ["email.send"]
    when: 'parameters.to.endsWith("@example.com")'
    effect: allow
  - id: email-external
    actions: ["email.send"]
    when: '!parameters.to.endsWith("@example.com")'
    effect: require_approval
  - id: transfer-small
    actions: ["financial.transfer"]
    when: 'parameters.amount <= 10000'
    effect: allow
  - id: transfer-big
    actions: ["financial.transfer"]
    when: 'parameters.amount > 10000'
    effect: require_approval
    approvers: ["finance-team"]
  - id: transfer-currency
    actions: ["financial.transfer"]
    when: 'parameters.currency != "USD" && parameters.currency != "EUR"'
    effect: deny
  - id: file-read-data
    actions: ["file.read"]
    when: 'parameters.path.startsWith("/data/")'
    effect: allow
  - id: file-read-secrets
    actions: ["file.read"]
    when: 'parameters.path.contains("/secrets/")'
    effect: deny
  - id: file-write-data
    actions: ["file.write"]
    when: 'parameters.path.startsWith("/data/")'
    effect: allow
  - id: file-write-system
    actions: ["file.write"]
    when: 'parameters.path.startsWith("/etc/")'
    effect: deny
  - id: file-delete
    actions: ["file.delete"]
    when: 'parameters.path.startsWith("/data/tmp/")'
    effect: require_approval
  - id: shell-safe
    actions: ["shell.exec"]
    when: 'parameters.command in ["ls", "pwd", "whoami", "date"]'
    effect: allow
  - id: shell-sudo
    actions: ["shell.exec"]
    when: 'parameters.command.contains("sudo")'
    effect: deny
  - id: http-get
    actions: ["http.get"]
    when: 'parameters.url.startsWith("https://")'
    effect: allow
  - id: http-post-internal
    actions: ["http.post"]
    when: 'parameters.url.startsWith("https://api.example.com/")'
    effect: allow
  - id: crm-support
    actions: ["crm.read", "crm.search"]
    when: 'agent.type == "support"'
    effect: allow
  - id: slack-eng
    actions: ["slack.post"]
    when: 'parameters.channel.startsWith("#eng")'
    effect: allow
  - id: calendar-prod
    actions: ["calendar.create"]
    when: 'context.env == "production"'
    effect: require_approval
`;

/** The same 20 rules in Cedar. require_approval has no Cedar effect: a permit annotated so. */
export const BENCH_CEDAR_POLICIES = `
@id("sql-select") permit(principal, action == Action::"database.query", resource)
  when { [Resource::"production_db", Resource::"analytics_db"].contains(resource) && context.parameters has query && (context.parameters.query like "select*" || context.parameters.query like "SELECT*" || context.parameters.query like " select*" || context.parameters.query like " SELECT*") };
@id("sql-no-drop") forbid(principal, action in [Action::"database.query", Action::"database.execute"], resource)
  when { context.parameters has query && (context.parameters.query like "*drop*" || context.parameters.query like "*DROP*" || context.parameters.query like "*truncate*" || context.parameters.query like "*TRUNCATE*") };
@id("sql-execute") @effect("require_approval") permit(principal, action == Action::"database.execute", resource)
  when { resource != Resource::"scratch_db" };
@id("email-internal") permit(principal, action == Action::"email.send", resource)
  when { context.parameters has to && context.parameters.to like "*@example.com" };
@id("email-external") @effect("require_approval") permit(principal, action == Action::"email.send", resource)
  when { context.parameters has to && !(context.parameters.to like "*@example.com") };
@id("transfer-small") permit(principal, action == Action::"financial.transfer", resource)
  when { context.parameters has amount && context.parameters.amount <= 10000 };
@id("transfer-big") @effect("require_approval") permit(principal, action == Action::"financial.transfer", resource)
  when { context.parameters has amount && context.parameters.amount > 10000 };
@id("transfer-currency") forbid(principal, action == Action::"financial.transfer", resource)
  when { context.parameters has currency && context.parameters.currency != "USD" && context.parameters.currency != "EUR" };
@id("file-read-data") permit(principal, action == Action::"file.read", resource)
  when { context.parameters has path && context.parameters.path like "/data/*" };
@id("file-read-secrets") forbid(principal, action == Action::"file.read", resource)
  when { context.parameters has path && context.parameters.path like "*/secrets/*" };
@id("file-write-data") permit(principal, action == Action::"file.write", resource)
  when { context.parameters has path && context.parameters.path like "/data/*" };
@id("file-write-system") forbid(principal, action == Action::"file.write", resource)
  when { context.parameters has path && context.parameters.path like "/etc/*" };
@id("file-delete") @effect("require_approval") permit(principal, action == Action::"file.delete", resource)
  when { context.parameters has path && context.parameters.path like "/data/tmp/*" };
@id("shell-safe") permit(principal, action == Action::"shell.exec", resource)
  when { context.parameters has command && ["ls", "pwd", "whoami", "date"].contains(context.parameters.command) };
@id("shell-sudo") forbid(principal, action == Action::"shell.exec", resource)
  when { context.parameters has command && context.parameters.command like "*sudo*" };
@id("http-get") permit(principal, action == Action::"http.get", resource)
  when { context.parameters has url && context.parameters.url like "https://*" };
@id("http-post-internal") permit(principal, action == Action::"http.post", resource)
  when { context.parameters has url && context.parameters.url like "https://api.example.com/*" };
@id("crm-support") permit(principal, action in [Action::"crm.read", Action::"crm.search"], resource)
  when { principal.type == "support" };
@id("slack-eng") permit(principal, action == Action::"slack.post", resource)
  when { context.parameters has channel && context.parameters.channel like "#eng*" };
@id("calendar-prod") @effect("require_approval") permit(principal, action == Action::"calendar.create", resource)
  when { context has env && context.env == "production" };
`;

interface BenchRequest {
  actionType: string;
  resource: string;
  parameters: Record<string, string | number>;
}

/** A realistic mix: reads, writes, money, shell, and a few denials. */
export const BENCH_REQUESTS: readonly BenchRequest[] = [
  { actionType: 'database.query', resource: 'production_db', parameters: { query: 'SELECT id, name FROM customers WHERE id = 42' } },
  { actionType: 'database.query', resource: 'analytics_db', parameters: { query: 'DROP TABLE events' } },
  { actionType: 'email.send', resource: 'smtp', parameters: { to: 'alice@example.com', subject: 'Weekly report', body: 'Numbers are up.' } },
  { actionType: 'financial.transfer', resource: 'bank', parameters: { amount: 2500, currency: 'USD', to: 'ACME-001' } },
  { actionType: 'financial.transfer', resource: 'bank', parameters: { amount: 50000, currency: 'EUR', to: 'ACME-002' } },
  { actionType: 'file.read', resource: 'fs', parameters: { path: '/data/reports/q3.csv' } },
  { actionType: 'file.write', resource: 'fs', parameters: { path: '/data/out/summary.txt', content: 'ok' } },
  { actionType: 'shell.exec', resource: 'host', parameters: { command: 'ls' } },
  { actionType: 'http.get', resource: 'web', parameters: { url: 'https://docs.example.com/api' } },
  { actionType: 'crm.search', resource: 'crm', parameters: { term: 'acme' } },
];

const AGENT: AgentRecord = {
  agentId: 'agent-001',
  agentName: 'Bench agent',
  agentType: 'support',
  capabilities: [],
  allowedResources: [],
  metadata: {},
  blocked: false,
  registeredAt: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-01T00:00:00.000Z',
  version: 1,
};

const SAMPLES = 20_000;
const WARMUP = 20_000;

/** Run the comparison; returns p50/p99 per decision for each engine and their ratio. */
export async function benchPolicyEval(): Promise<BenchResult> {
  // --- ours
  const policy = parsePolicy(BENCH_POLICY_YAML, 'bench-policy.yaml');
  const usage = new UsageTracker();
  const now = Date.UTC(2025, 0, 1);
  const inputs: EvaluationInput[] = BENCH_REQUESTS.map((r) => ({
    request: { agentId: AGENT.agentId, actionType: r.actionType, resource: r.resource, parameters: r.parameters, context: { env: 'production' }, requireHumanApproval: false },
    agent: AGENT,
    now,
  }));
  const n = inputs.length;
  const ours = timeOps((i) => evaluatePolicy(policy, inputs[i % n] as EvaluationInput, usage), { warmupOps: WARMUP, samples: SAMPLES });
  const oursRecorded = timeOps(
    (i) => {
      const input = inputs[i % n] as EvaluationInput;
      const d = evaluatePolicy(policy, input, usage);
      usage.record(input, d);
      return d;
    },
    { warmupOps: WARMUP, samples: SAMPLES },
  );
  const decisions = inputs.map((input) => evaluatePolicy(policy, input, usage).decision);

  // --- Cedar (wasm), policies parsed once into thread-local state
  const cedar = await import('@cedar-policy/cedar-wasm/nodejs');
  const parsed = cedar.preparsePolicySet('bench', { staticPolicies: BENCH_CEDAR_POLICIES });
  if (parsed.type !== 'success') throw new Error(`Cedar policies do not parse: ${JSON.stringify(parsed.errors)}`);
  const entities = [{ uid: { type: 'Agent', id: AGENT.agentId }, attrs: { type: AGENT.agentType }, parents: [] }];
  const calls = BENCH_REQUESTS.map((r) => ({
    principal: { type: 'Agent', id: AGENT.agentId },
    action: { type: 'Action', id: r.actionType },
    resource: { type: 'Resource', id: r.resource },
    context: { parameters: r.parameters, env: 'production' },
    preparsedPolicySetId: 'bench',
    entities,
  }));
  const cedarDecisions = calls.map((c) => {
    const answer = cedar.statefulIsAuthorized(c);
    if (answer.type !== 'success') throw new Error(`Cedar failed: ${JSON.stringify(answer.errors)}`);
    return `${answer.response.decision}:${answer.response.diagnostics.reason.join(',')}`;
  });
  const cedarSamples = timeOps((i) => cedar.statefulIsAuthorized(calls[i % n] as (typeof calls)[number]), { warmupOps: 2_000, samples: 5_000 });
  keep([decisions, cedarDecisions]);

  const oursRow = summarize('ascend evaluatePolicy (20 rules, CEL)', ours, `${policy.rules.length} rules, ${n}-request mix`);
  const recordedRow = summarize('ascend evaluate + usage.record', oursRecorded);
  const cedarRow = summarize('cedar-wasm statefulIsAuthorized', cedarSamples, '20 preparsed policies');
  const ratio = cedarRow.p50Us / oursRow.p50Us;
  return {
    name: 'policy evaluation (per decision)',
    rows: [
      { ...oursRow, note: `${oursRow.note}; budget p50 ≤ 3 µs ${oursRow.p50Us <= 3 ? 'OK' : 'MISSED'}` },
      recordedRow,
      { ...cedarRow, note: `${cedarRow.note}; cedar p50 / ours p50 = ${ratio.toFixed(1)}× (budget ≥ 30× ${ratio >= 30 ? 'OK' : 'MISSED'})` },
    ],
  };
}

if (isMain(import.meta.url)) {
  printResult(await benchPolicyEval());
}
