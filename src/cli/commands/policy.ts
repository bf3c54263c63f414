/**
 * `ascend policy check FILE`, `ascend policy test FILE --request JSON | --cases FILE`,
 * `ascend policy schema [--cases]`, and a cluster's policy: `policy push FILE`, `policy pull`,
 * `policy history` (against a server, or its database).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as z from 'zod';
// By name: `z.core.$ZodObject` as a value would keep all of zod's core, its locales included, in
// the bundle every entry point shares (scripts/build.mjs).
import { $ZodObject } from 'zod/v4/core';
import { evaluatePolicy, policyJsonSchema, UsageTracker, type CompiledPolicy } from '../../engine/index.js';
import { parsePolicyCases, policyCaseSchemas, policyCasesJsonSchema, runPolicyCases, testInput } from '../../engine/policy-cases.js';
import { NotFoundError, PolicyError } from '../../core/errors.js';
import { openDatabase, parseDatabaseTarget } from '../../server/database.js';
import type { Store } from '../../store/store.js';
import type { PolicyHistoryEntry } from '../../core/types.js';
import { pushRecords } from '../../policy/changes.js';
import { resolveActor } from '../actor.js';
import { RemoteStore } from '../remote-store.js';
import { policyHistoryOf } from '../../store/records.js';
import { withStore } from '../store-access.js';
import type { ReplayResult } from '../../engine/replay.js';
import { replayStore } from '../../policy/replay.js';
import { loadPolicyFile } from '../../policy/file.js';
import type { Decision, PolicyDecision } from '../../core/types.js';
import { parseEnumOption } from '../args.js';
import type { CommandContext, CommandGroup, CommandSpec } from '../command.js';
import { CheckFailedError, UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { formatTime, jsonDocument, renderFields, renderRiskFactors, renderTable, styleStatus } from '../format.js';

const DECISIONS = ['allowed', 'denied', 'pending'] as const satisfies readonly Decision[];

/** Number of rules in a compiled policy, whatever the engine calls the list. */
function ruleCount(policy: CompiledPolicy): number {
  return policy.rules.length;
}

const checkCommand: CommandSpec = {
  name: 'check',
  summary: 'validate a policy file (exit 1 if invalid)',
  details: 'Prints "ok: N rules" and the version every decision will name (a hash of the file), or where the\npolicy is wrong (file:line, rule, how to fix) and exits 1.',
  options: {},
  positionals: [{ name: 'FILE', description: 'policy file (YAML or JSON); default ./ascend.policy.yaml', default: 'ascend.policy.yaml' }],
  examples: ['ascend policy check', 'ascend policy check policies/prod.yaml'],
  async run(ctx) {
    const file = ctx.arg('FILE');
    let policy: CompiledPolicy;
    try {
      policy = loadPolicyFile(resolve(ctx.io.cwd, file));
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      if (ctx.json) {
        await ctx.out(jsonDocument({ ok: false, rules: 0, error: policyErrorJson(err) }));
      } else {
        await ctx.out(`${ctx.style.red('invalid')}: ${err.message}\n`);
      }
      return ExitCode.CHECK_FAILED;
    }
    const rules = ruleCount(policy);
    const labels = [policy.name, policy.revision === null ? null : `revision ${policy.revision}`].filter((l) => l !== null).join(', ');
    await ctx.out(
      ctx.json
        ? jsonDocument({ ok: true, rules, policyVersion: policy.policyVersion, name: policy.name, revision: policy.revision })
        : `ok: ${rules} ${rules === 1 ? 'rule' : 'rules'}\nversion: ${policy.policyVersion}${labels ? ` (${labels})` : ''}\n`,
    );
    return ExitCode.OK;
  },
};

function policyErrorJson(err: PolicyError): Record<string, unknown> {
  return {
    message: err.message,
    file: err.file,
    line: err.line ?? null,
    column: err.column ?? null,
    ruleId: err.ruleId ?? null,
    fix: err.fix ?? null,
  };
}

const testCommand: CommandSpec = {
  name: 'test',
  summary: 'evaluate one call against a policy and explain the decision',
  details:
    'The request is JSON: { agentId?, actionType, resource?, parameters?, context?, requireHumanApproval? }\n' +
    '(or @path to read it from a file). --agent takes an agent registration as JSON:\n' +
    '{ agentId?, agentType?, capabilities?, allowedResources?, metadata?, blocked? }.\n' +
    'Any decision exits 0; with --expect a different decision exits 1. Nothing is recorded.\n' +
    'With --cases FILE, every case of the file is evaluated alone (no budget spent): a list under\n' +
    '"cases:" of { name, request, agent?, expect: allowed|denied|pending, expectRules?, expectRiskAtLeast? };\n' +
    'expectRules lists exactly the rules that must match. Exit 1 when any case fails.',
  options: {
    request: { type: 'string', valueName: 'JSON', description: 'the call to evaluate (or --cases)' },
    cases: { type: 'string', valueName: 'FILE', description: 'a cases file: run every case, print a table, exit 1 on any mismatch' },
    agent: { type: 'string', valueName: 'JSON', description: "the calling agent's registration" },
    expect: { type: 'string', valueName: 'DECISION', description: 'allowed|denied|pending: exit 1 if the decision differs' },
  },
  positionals: [{ name: 'FILE', description: 'policy file (YAML or JSON); default ./ascend.policy.yaml', default: 'ascend.policy.yaml' }],
  examples: [
    `ascend policy test --request '{"actionType":"email.send","resource":"smtp"}'`,
    `ascend policy test ascend.policy.yaml --request '{"actionType":"database.query","resource":"production_db","parameters":{"query":"SELECT 1"}}'`,
    `ascend policy test ascend.policy.yaml --request @call.json --expect denied`,
    'ascend policy test ascend.policy.yaml --cases ascend.cases.yaml',
  ],
  async run(ctx) {
    const casesFile = ctx.string('cases');
    const requestText = ctx.string('request');
    if (casesFile !== undefined) {
      if (requestText !== undefined || ctx.string('agent') !== undefined || ctx.string('expect') !== undefined) {
        throw new UsageError('--cases runs the cases of a file; leave out --request, --agent and --expect', ctx.commandPath);
      }
      return runCases(ctx, casesFile);
    }
    if (requestText === undefined) throw new UsageError('--request JSON (or --cases FILE) is required', ctx.commandPath);
    const expectText = ctx.string('expect');
    const expected = expectText === undefined ? undefined : parseEnumOption(expectText, 'expect', DECISIONS, ctx.commandPath);
    const requestInput = parseJsonOption(ctx, 'request', requestText, policyCaseSchemas().TestRequestSchema);
    const agentText = ctx.string('agent');
    const agentInput = agentText === undefined ? undefined : parseJsonOption(ctx, 'agent', agentText, policyCaseSchemas().TestAgentSchema);

    const policy = loadPolicyFile(resolve(ctx.io.cwd, ctx.arg('FILE')));
    const decision = evaluatePolicy(policy, testInput(requestInput, agentInput, ctx.now()), new UsageTracker());

    await ctx.out(ctx.json ? jsonDocument(decision) : renderDecision(ctx, decision));
    if (expected !== undefined && decision.decision !== expected) {
      throw new CheckFailedError(`expected ${expected}, got ${decision.decision}`);
    }
    return ExitCode.OK;
  },
};

/** `policy test FILE --cases CASES`: every case, a table, exit 1 on any mismatch. */
async function runCases(ctx: CommandContext, casesFile: string): Promise<number> {
  const policy = loadPolicyFile(resolve(ctx.io.cwd, ctx.arg('FILE')));
  const casesPath = resolve(ctx.io.cwd, casesFile);
  let text: string;
  try {
    text = readFileSync(casesPath, 'utf8');
  } catch (err) {
    throw new UsageError(`--cases: cannot read ${casesFile}: ${(err as Error).message}`, ctx.commandPath);
  }
  const results = runPolicyCases(policy, parsePolicyCases(text, casesFile), ctx.now());
  const failed = results.filter((r) => !r.ok).length;
  const passed = results.length - failed;
  if (ctx.json) {
    await ctx.out(
      jsonDocument({
        passed,
        failed,
        cases: results.map((r) => ({
          name: r.name,
          ok: r.ok,
          expected: r.expected,
          decision: r.decision.decision,
          matchedRules: r.decision.matchedRules,
          riskScore: r.decision.riskScore,
          reason: r.decision.reason,
          problems: r.problems,
        })),
      }),
    );
  } else {
    const { style } = ctx;
    let text = renderTable(
      results,
      [
        { header: 'RESULT', cell: (r) => (r.ok ? style.green('pass') : style.red('FAIL')) },
        { header: 'CASE', cell: (r) => r.name, maxChars: 48 },
        { header: 'EXPECTED', cell: (r) => r.expected },
        { header: 'GOT', cell: (r) => styleStatus(style, r.decision.decision) },
        { header: 'RULES', cell: (r) => r.decision.matchedRules.join(',') || '-', maxChars: 40 },
        { header: 'RISK', cell: (r) => String(r.decision.riskScore) },
      ],
      style,
    );
    for (const r of results) if (!r.ok) text += `\n${style.red('FAIL')} ${r.name}\n${r.problems.map((p) => `  ${p}\n`).join('')}`;
    text += `\n${passed} passed, ${failed} failed\n`;
    await ctx.out(text);
  }
  return failed === 0 ? ExitCode.OK : ExitCode.CHECK_FAILED;
}

const DB_OPTION = {
  type: 'string',
  valueName: 'DB',
  description: "a server's database instead of a server: sqlite:PATH or postgres://… (default $ASCEND_DB; else --api-url, else the data dir)",
} as const;

/** The server (`--api-url`), a database (`--db`, `$ASCEND_DB`), or the data dir's. */
async function withPolicyStore<T>(ctx: CommandContext, work: (store: Store) => Promise<T>): Promise<T> {
  const db = ctx.string('db') ?? (ctx.io.env.ASCEND_DB || undefined);
  if (db === undefined) return withStore(ctx, work);
  const store = await openDatabase(parseDatabaseTarget(db, ctx.io.cwd));
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

const pushCommand: CommandSpec = {
  name: 'push',
  summary: "store a policy in a server's database: every server using it switches within a second",
  details:
    'Checked first (a policy that does not load is refused with file:line and a fix, and nothing changes).\n' +
    'Against a server (--api-url, an admin key in ASCEND_API_KEY) or straight into its database (--db).\n' +
    "A pushed policy is in force on every server using the database, ahead of their policy files;\n" +
    'each push is a policy.changed audit event. Servers only move forward: none decides with an\n' +
    'older push after it has seen a newer one.',
  options: { db: DB_OPTION, by: { type: 'string', valueName: 'NAME', description: 'who pushes, recorded with --db (default user@host)' } },
  positionals: [{ name: 'FILE', description: 'policy file (YAML or JSON)' }],
  examples: ['ascend policy push ascend.policy.yaml --api-url https://ascend.internal', 'ascend policy push ascend.policy.yaml --db postgres://ascend@db/ascend'],
  async run(ctx) {
    const file = ctx.arg('FILE');
    const policy = loadPolicyFile(resolve(ctx.io.cwd, file));
    const text = policy.text;
    const result = await withPolicyStore(ctx, async (store) => {
      if (store instanceof RemoteStore) return (await store.pushPolicyText(text, file)).pushed?.id ?? null;
      const previous = await store.latestPolicy();
      const { stored, change } = pushRecords(policy, previous?.policyVersion ?? null, file, resolveActor(ctx.string('by'), ctx.io), new Date(ctx.now()).toISOString());
      return (await store.pushPolicy(stored, change)).id;
    });
    await ctx.out(
      ctx.json
        ? jsonDocument({ pushed: result, policyVersion: policy.policyVersion, name: policy.name, revision: policy.revision })
        : `pushed ${policy.policyVersion}${result === null ? '' : ` as #${result}`}: every server using this database switches to it within a second\n`,
    );
    return ExitCode.OK;
  },
};

const pullCommand: CommandSpec = {
  name: 'pull',
  summary: "write the policy in force (a server's, or the latest pushed to a database) to a file",
  options: { db: DB_OPTION, out: { type: 'string', valueName: 'FILE', description: 'write here (default: standard output)' } },
  positionals: [],
  examples: ['ascend policy pull --api-url https://ascend.internal --out ascend.policy.yaml'],
  async run(ctx) {
    const { text, policyVersion } = await withPolicyStore(ctx, async (store) => {
      if (store instanceof RemoteStore) return store.policyText();
      const latest = await store.latestPolicy();
      if (latest === undefined) {
        const none = new NotFoundError('pushed policy', 'latest');
        none.message = 'no policy was pushed to this database: its servers use their policy files';
        throw none;
      }
      return latest;
    });
    const out = ctx.string('out');
    if (out === undefined) {
      await ctx.out(text);
    } else {
      writeFileSync(resolve(ctx.io.cwd, out), text);
      await ctx.out(`wrote ${policyVersion} to ${out}\n`);
    }
    return ExitCode.OK;
  },
};

const historyCommand: CommandSpec = {
  name: 'history',
  summary: 'the policy switches (file changes, SIGHUP, pushes), newest first',
  options: { db: DB_OPTION, limit: { type: 'string', valueName: 'N', description: 'at most N (default 50)' } },
  positionals: [],
  examples: ['ascend policy history --api-url https://ascend.internal', 'ascend policy history --db postgres://ascend@db/ascend --json'],
  async run(ctx) {
    const limitText = ctx.string('limit') ?? '50';
    const limit = Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError(`--limit must be 1–1000, got "${limitText}"`, ctx.commandPath);
    const changes = await withPolicyStore(ctx, async (store): Promise<PolicyHistoryEntry[]> => {
      if (store instanceof RemoteStore) return store.policyHistory(limit);
      const events = await store.readAudit({ types: ['policy.changed'], newestFirst: true, limit });
      return policyHistoryOf(events);
    });
    if (ctx.json) {
      await ctx.out(jsonDocument(changes));
    } else if (changes.length === 0) {
      await ctx.out('no policy switch recorded: the policy servers started with is in force\n');
    } else {
      const short = (v: string | null): string => (v === null ? '-' : v.slice(0, 'sha256:'.length + 12));
      await ctx.out(
        renderTable(
          changes,
          [
            { header: 'WHEN', cell: (c) => formatTime(c.at) },
            { header: 'FROM', cell: (c) => short(c.from) },
            { header: 'TO', cell: (c) => short(c.to) },
            { header: 'LABELS', cell: (c) => [c.name, c.revision === undefined ? undefined : `rev ${c.revision}`].filter(Boolean).join(', ') || '-', maxChars: 32 },
            { header: 'CAUSE', cell: (c) => (c.cause === 'signal' ? 'SIGHUP' : c.cause) },
            { header: 'BY', cell: (c) => c.actor, maxChars: 40 },
          ],
          ctx.style,
        ),
      );
    }
    return ExitCode.OK;
  },
};

const TRANSITION = /^(allowed|denied|pending)->(allowed|denied|pending)$/;

const replayCommand: CommandSpec = {
  name: 'replay',
  summary: 'what a candidate policy would have decided for the calls your agents really made',
  details:
    'Runs the candidate over the recorded decisions in recorded order, with the registration each call\n' +
    'was made under and budgets and velocity as the candidate would have counted them, and prints what\n' +
    'would change: counts by transition (allowed->denied, …), by rule, and examples with reasons. A call\n' +
    "a person approved counts as pending (the policy's answer); fail-open records are skipped; a call\n" +
    'whose decision reads a redacted argument is counted as unreplayable, never guessed.\n' +
    'Against a server (--api-url, approver or admin key: your organisation), a database (--db) or the\n' +
    'data dir. --fail-on exits 1 when any of the listed transitions occurs (for CI).',
  options: {
    db: DB_OPTION,
    since: { type: 'string', valueName: 'ISO', description: 'compare calls decided from this time (earlier ones still count towards budgets)' },
    until: { type: 'string', valueName: 'ISO', description: 'compare calls decided up to this time' },
    agent: { type: 'string', valueName: 'GLOB', description: 'compare calls of matching agents only' },
    'fail-on': { type: 'string', valueName: 'T,…', description: 'transitions that fail the run, e.g. allowed->denied,denied->allowed' },
  },
  positionals: [{ name: 'CANDIDATE', description: 'the candidate policy file (YAML or JSON)' }],
  examples: [
    'ascend policy replay candidate.yaml --since 2026-11-01T00:00:00Z',
    "ascend policy replay candidate.yaml --agent 'billing-*' --fail-on allowed->denied --json",
  ],
  async run(ctx) {
    const file = ctx.arg('CANDIDATE');
    const failOn = (ctx.string('fail-on') ?? '').split(',').map((t) => t.trim()).filter((t) => t !== '');
    for (const t of failOn) if (!TRANSITION.test(t)) throw new UsageError(`--fail-on: "${t}" is not a transition such as allowed->denied`, ctx.commandPath);
    const time = (flag: 'since' | 'until'): string | undefined => {
      const text = ctx.string(flag);
      if (text !== undefined && Number.isNaN(Date.parse(text))) throw new UsageError(`--${flag} must be an ISO time such as 2026-11-01T00:00:00Z, got "${text}"`, ctx.commandPath);
      return text === undefined ? undefined : new Date(Date.parse(text)).toISOString();
    };
    const since = time('since');
    const until = time('until');
    const agent = ctx.string('agent');
    const candidate = loadPolicyFile(resolve(ctx.io.cwd, file));
    const result = await withPolicyStore(ctx, async (store) => {
      if (store instanceof RemoteStore) {
        return store.replayPolicy({ text: candidate.text, source: file, ...(since ? { since } : {}), ...(until ? { until } : {}), ...(agent ? { agent } : {}) });
      }
      return replayStore(store, candidate, { ...(since ? { sinceMs: Date.parse(since) } : {}), ...(until ? { untilMs: Date.parse(until) } : {}), ...(agent ? { agent } : {}) });
    });
    await ctx.out(ctx.json ? jsonDocument(result) : renderReplay(ctx, result));
    const failed = failOn.filter((t) => (result.transitions[t] ?? 0) > 0);
    if (failed.length > 0) {
      if (!ctx.json) await ctx.out(`\n${ctx.style.red('FAIL')}: ${failed.map((t) => `${result.transitions[t]} ${t}`).join(', ')}\n`);
      return ExitCode.CHECK_FAILED;
    }
    return ExitCode.OK;
  },
};

function renderReplay(ctx: CommandContext, r: ReplayResult): string {
  const { style } = ctx;
  let text =
    `replayed ${r.replayed} recorded decision${r.replayed === 1 ? '' : 's'}: ${r.changed} would change` +
    (r.unreplayable > 0 ? `, ${r.unreplayable} unreplayable (they read redacted arguments)` : '') +
    (r.skipped > 0 ? `, ${r.skipped} skipped (fail-open: no policy decided)` : '') +
    '\n';
  const transitions = Object.entries(r.transitions).sort((a, b) => b[1] - a[1]);
  if (transitions.length === 0) return text;
  text += `\n${renderTable(transitions, [{ header: 'TRANSITION', cell: ([t]) => t }, { header: 'CALLS', cell: ([, n]) => String(n) }], style)}`;
  const rules = Object.entries(r.byRule).sort((a, b) => b[1] - a[1]);
  text += `\n${renderTable(rules, [{ header: 'RULE', cell: ([rule]) => rule, maxChars: 40 }, { header: 'CHANGED CALLS', cell: ([, n]) => String(n) }], style)}`;
  text += `\n${renderTable(
    r.examples,
    [
      { header: 'WHEN', cell: (e) => formatTime(e.at) },
      { header: 'AGENT', cell: (e) => e.agentId, maxChars: 24 },
      { header: 'ACTION', cell: (e) => e.actionType, maxChars: 28 },
      { header: 'CHANGE', cell: (e) => `${styleStatus(style, e.from)} -> ${styleStatus(style, e.to)}` },
      { header: 'REASON', cell: (e) => e.reason, maxChars: 70 },
    ],
    style,
  )}`;
  return text;
}

const schemaCommand: CommandSpec = {
  name: 'schema',
  summary: 'print the JSON Schema of a policy file, or with --cases of a cases file',
  details: 'For editors: save it and point at it, e.g. "# yaml-language-server: $schema=ascend.cases.schema.json".',
  options: {
    cases: { type: 'boolean', description: 'the schema of a cases file (`policy test --cases`)' },
  },
  positionals: [],
  examples: ['ascend policy schema > ascend.policy.schema.json', 'ascend policy schema --cases > ascend.cases.schema.json'],
  async run(ctx) {
    await ctx.out(jsonDocument(ctx.flag('cases') ? policyCasesJsonSchema() : policyJsonSchema()));
    return ExitCode.OK;
  },
};

/** Parse a JSON option (or `@file`) and validate it, naming the field at fault. */
function parseJsonOption<T extends z.core.$ZodType>(ctx: CommandContext, option: string, text: string, schema: T): z.output<T> {
  let source = text;
  if (text.startsWith('@')) {
    source = readFileSync(resolve(ctx.io.cwd, text.slice(1)), 'utf8');
  }
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch (err) {
    throw new UsageError(`--${option} is not valid JSON: ${(err as Error).message}`, ctx.commandPath);
  }
  const result = z.safeParse(schema, value);
  if (!result.success) {
    // An unknown key is usually the cause of a "missing" one (a typo): report it first.
    const issues = result.error.issues;
    const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0];
    const field = issue === undefined || issue.path.length === 0 ? '' : ` field "${issue.path.join('.')}"`;
    let message = issue?.message ?? 'invalid';
    if (issue?.code === 'invalid_type' && /received undefined$/.test(message)) message = 'is required';
    if (issue?.code === 'unrecognized_keys') message += ` (known fields: ${Object.keys(knownShape(schema)).join(', ')})`;
    throw new UsageError(`--${option}${field}: ${message}`, ctx.commandPath);
  }
  return result.data;
}

function knownShape(schema: z.core.$ZodType): Record<string, unknown> {
  return schema instanceof $ZodObject ? schema._zod.def.shape : {};
}

function renderDecision(ctx: CommandContext, d: PolicyDecision): string {
  const { style } = ctx;
  const shadow = d.mode === 'monitor' && d.shadowDecision !== undefined ? ` (monitor mode; would be ${styleStatus(style, d.shadowDecision)})` : '';
  const fields: Array<[string, string]> = [
    ['decision', `${styleStatus(style, d.decision)}${shadow}`],
    ['reason', d.reason],
    ['risk', `${d.riskScore} (${d.riskLevel})`],
    ['matched rules', d.matchedRules.length === 0 ? 'none' : d.matchedRules.join(', ')],
    ['required approvers', d.requiredApprovers.length === 0 ? 'none' : d.requiredApprovers.join(', ')],
  ];
  if (d.decision === 'pending') fields.push(['approval timeout', `${d.approvalTimeoutSeconds}s`]);
  let text = renderFields(fields);
  text += renderRiskFactors(d.riskFactors);
  text += 'violations:' + (d.policyViolations.length === 0 ? ' none\n' : '\n');
  for (const v of d.policyViolations) text += `  ${v.code}${v.ruleId === undefined ? '' : ` (rule ${v.ruleId})`}: ${v.message}\n`;
  return text;
}

/** `ascend policy …`. */
export const policyGroup: CommandGroup = {
  name: 'policy',
  summary: 'validate a policy file, or see what it decides for a call',
  commands: [checkCommand, testCommand, schemaCommand, replayCommand, pushCommand, pullCommand, historyCommand],
};
