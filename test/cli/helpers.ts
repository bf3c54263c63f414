/**
 * Test helpers for the `ascend` CLI: in-process runs, a long-running real process, and seeding a
 * real SQLite store. Temp dirs, `runCli` (one real run to completion) and waiting are in
 * `test/helpers.ts`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { callDigest } from '../../src/core/call-digest.js';
import { runCli } from '../../src/cli/run.js';
import { defaultDbPath, openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';
import type { ActionRecord, ApprovalRecord, RiskFactor } from '../../src/core/types.js';
import { CLI_MAIN, TSX_IMPORT, cliEnv } from '../helpers.js';

/** What a CLI run produced. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `ascend …` in this process. */
export async function runInProcess(
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string | undefined>; now?: () => number; signal?: AbortSignal },
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: { write: (chunk: string) => ((stdout += chunk), true) },
    stderr: { write: (chunk: string) => ((stderr += chunk), true) },
    cwd: options.cwd,
    env: options.env ?? {},
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  return { code, stdout, stderr };
}

/**
 * Start `ascend …` as a real process (`node --import tsx src/cli/main.ts`) that keeps running;
 * one run to completion is `runCli` (`test/helpers.ts`).
 */
export function spawnCli(args: readonly string[], options: { cwd: string; env?: Record<string, string> }): ChildProcess {
  return spawn(process.execPath, ['--import', TSX_IMPORT, CLI_MAIN, ...args], {
    cwd: options.cwd,
    env: cliEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Wait for a spawned CLI to exit, collecting its output. */
export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code: code ?? (signal === null ? -1 : 128), stdout, stderr }));
  });
}

/** Create `<dir>/.ascend` and open a real SQLite store in it. */
export function openTestStore(dir: string, dataDirName = '.ascend'): Store {
  const dataDir = join(dir, dataDirName);
  mkdirSync(dataDir, { recursive: true });
  return openSqliteStore(defaultDbPath(dataDir));
}

let counter = 0;

/** Ids and times of one seeded pending call. */
export interface SeededApproval {
  action: ActionRecord;
  approval: ApprovalRecord;
}

/**
 * Record a pending decision with its approval request, as the client would: an ActionRecord
 * with decision `pending` plus an ApprovalRecord, in one `recordDecision`.
 */
export async function seedPendingApproval(
  store: Store,
  overrides: {
    agentId?: string;
    actionType?: string;
    resource?: string;
    parameters?: Record<string, unknown>;
    requestedAtMs?: number;
    expiresInMs?: number;
  } = {},
): Promise<SeededApproval> {
  counter += 1;
  const suffix = `${process.pid}-${Date.now()}-${counter}`;
  const agentId = overrides.agentId ?? 'agent-001';
  const actionType = overrides.actionType ?? 'financial.transfer';
  const resource = overrides.resource ?? 'bank:acct-42';
  const parameters = overrides.parameters ?? { amount: 25_000, to: 'acct-9', apiKey: '[REDACTED]' };
  const requestedAtMs = overrides.requestedAtMs ?? Date.now();
  const requestedAt = new Date(requestedAtMs).toISOString();
  const expiresAt = new Date(requestedAtMs + (overrides.expiresInMs ?? 300_000)).toISOString();
  const digest = callDigest({ agentId, actionType, resource, parameters });
  const riskFactors: RiskFactor[] = [
    { name: 'verb_class', points: 40, detail: '"transfer" is a high-risk verb' },
    { name: 'rule_risk', points: 40, detail: 'rule big-transfers sets risk 80' },
  ];
  const actionId = `act-${suffix}`;
  const approvalId = `apr-${suffix}`;
  const action: ActionRecord = {
    actionId,
    agentId,
    actionType,
    resource,
    parameters,
    context: {},
    digest,
    decision: 'pending',
    reason: 'Transfers above 10,000 need a second pair of eyes',
    riskScore: 80,
    riskLevel: 'high',
    riskFactors,
    matchedRules: ['big-transfers'],
    policyViolations: [],
    conditions: [],
    approvalId,
    createdAt: requestedAt,
  };
  const approval: ApprovalRecord = {
    approvalId,
    actionId,
    agentId,
    actionType,
    resource,
    parameters,
    digest,
    status: 'pending',
    reason: action.reason,
    riskScore: 80,
    riskLevel: 'high',
    riskFactors,
    matchedRules: ['big-transfers'],
    requiredApprovers: ['finance-team'],
    requestedAt,
    expiresAt,
  };
  await store.recordDecision(action, approval);
  return { action, approval };
}

/** A small valid policy used across tests (line numbers matter to nothing here). */
export const TEST_POLICY_YAML = `version: 1
default: deny
approvalTimeoutSeconds: 300
rules:
  - id: read-only-sql
    actions: ["database.query"]
    resources: ["production_db"]
    when: 'parameters.query.matches("(?i)^\\\\s*select\\\\b")'
    effect: allow
  - id: big-transfers
    actions: ["financial.transfer"]
    when: "has(parameters.amount) && parameters.amount > 10000"
    effect: require_approval
    approvers: ["finance-team"]
    risk: 80
    reason: "Transfers above 10,000 need a second pair of eyes"
`;

/** A policy whose error sits on line 7 (`effect: allw`). */
export const BROKEN_POLICY_YAML = `version: 1
default: deny
rules:
  - id: ok-rule
    actions: ["database.query"]
    resources: ["production_db"]
    effect: allw
`;
