/**
 * Policy tests as code: a cases file lists calls and the decision each must get, and
 * `runPolicyCases` checks a policy against them (`ascend policy test FILE --cases CASES.yaml`,
 * or a unit test of your own). Pure: the time is passed in; each case is evaluated alone, with no
 * budget spent and no velocity history.
 *
 * ```yaml
 * cases:
 *   - name: read-only SQL runs
 *     request: { actionType: database.query, resource: production_db, parameters: { query: "SELECT 1" } }
 *     expect: allowed
 *     expectRules: [allow-select-sql]
 *   - name: DROP is refused
 *     request: { actionType: database.query, parameters: { query: "DROP TABLE users" } }
 *     expect: denied
 *     expectRiskAtLeast: 90
 * ```
 */
import * as z from '../core/zod.js';
import { PolicyError } from '../core/errors.js';
import { lazily } from '../core/lazily.js';
import type { ActionRequest, AgentRecord, Decision, PolicyDecision } from '../core/types.js';
import type { CompiledPolicy } from './compile.js';
import { evaluatePolicy } from './evaluate.js';
import { closest } from '../core/did-you-mean.js';
import { pathText } from './issues.js';
import { PolicySource } from './source.js';
import { UsageTracker } from './usage.js';

/** Agent id of a case whose request and registration name none. */
export const TEST_AGENT_ID = 'test-agent';

const DECISIONS = ['allowed', 'denied', 'pending'] as const satisfies readonly Decision[];

/** The cases file's schemas: see {@link policyCaseSchemas}. */
function buildPolicyCaseSchemas() {
  const jsonObject = z.record(z.string(), z.unknown());

  /** The call of a case (and of `ascend policy test --request`). Unknown fields are refused: a typo must not pass. */
  const TestRequestSchema = z.strictObject({
    agentId: z.optional(z.string().check(z.minLength(1))),
    actionType: z.string().check(z.minLength(1, 'must not be empty')),
    resource: z._default(z.string(), ''),
    parameters: z._default(jsonObject, {}),
    context: z._default(jsonObject, {}),
    requireHumanApproval: z._default(z.boolean(), false),
  });

  /** The registration a case's call is made under (and `ascend policy test --agent`). */
  const TestAgentSchema = z.strictObject({
    agentId: z.optional(z.string().check(z.minLength(1))),
    agentName: z.optional(z.string()),
    agentType: z._default(z.string(), 'generic'),
    capabilities: z._default(z.array(z.string()), []),
    allowedResources: z._default(z.array(z.string()), []),
    metadata: z._default(jsonObject, {}),
    blocked: z._default(z.boolean(), false),
    blockedReason: z.optional(z.string()),
  });

  /** One case: a call and what the policy must decide. */
  const PolicyCaseSchema = z.strictObject({
    /** Unique within the file; shown in the results. */
    name: z.string().check(z.minLength(1, 'must not be empty')),
    request: TestRequestSchema,
    /** Omitted: the call comes from an agent that did not register. */
    agent: z.optional(TestAgentSchema),
    expect: z.enum(DECISIONS),
    /** The rules that must match: exactly these, in any order (`[]`: none). */
    expectRules: z.optional(z.array(z.string())),
    /** The risk score must be at least this. */
    expectRiskAtLeast: z.optional(z.int().check(z.gte(0), z.lte(100))),
  });

  /** A cases file. */
  const PolicyCasesSchema = z.strictObject({
    cases: z.array(PolicyCaseSchema).check(z.minLength(1, 'list at least one case')),
  });

  return { TestRequestSchema, TestAgentSchema, PolicyCaseSchema, PolicyCasesSchema };
}

/**
 * The cases file's schemas, built on first use (a governed call never reads a cases file):
 * `PolicyCasesSchema` (the file), `PolicyCaseSchema` (one case), `TestRequestSchema` and
 * `TestAgentSchema` (a case's call and registration, also `ascend policy test --request/--agent`).
 */
export const policyCaseSchemas = lazily(buildPolicyCaseSchemas);

/** One validated case. */
export type PolicyCase = z.output<ReturnType<typeof policyCaseSchemas>['PolicyCaseSchema']>;

/** The JSON Schema of a cases file (for editors: `# yaml-language-server: $schema=…`). */
export function policyCasesJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(policyCaseSchemas().PolicyCasesSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

/** Keys allowed at each level of a cases file, for "did you mean" hints. */
function caseKnownKeys(): Record<string, readonly string[]> {
  const { PolicyCasesSchema, PolicyCaseSchema, TestRequestSchema, TestAgentSchema } = policyCaseSchemas();
  return {
    file: Object.keys(PolicyCasesSchema.shape),
    case: Object.keys(PolicyCaseSchema.shape),
    request: Object.keys(TestRequestSchema.shape),
    agent: Object.keys(TestAgentSchema.shape),
  };
}

/**
 * Parse and validate a cases file (YAML or JSON). Throws PolicyError naming `file`, the line and
 * a fix for the first problem: YAML syntax, an unknown or misspelt key, a missing field, a
 * decision that does not exist, or two cases with one name.
 */
export function parsePolicyCases(text: string, file: string): PolicyCase[] {
  const source = new PolicySource(text);
  const yamlError = source.firstError();
  if (yamlError) throw problem(file, yamlError.line, yamlError.column, `not valid YAML: ${yamlError.message}`, 'fix the YAML syntax at that line');
  let data: unknown;
  try {
    data = source.toJS();
  } catch {
    // The YAML library refuses to expand aliases past a limit (a "billion laughs" file).
    throw problem(file, 1, 1, 'too many YAML alias expansions', 'write the cases out instead of through aliases');
  }
  const result = policyCaseSchemas().PolicyCasesSchema.safeParse(data);
  if (!result.success) {
    const issues = result.error.issues;
    // A misspelt key explains the "missing" one it leaves: report it first.
    const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? (issues[0] as z.core.$ZodIssue);
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const at = source.positionOf(path);
    const where = pathText(path);
    if (issue.code === 'unrecognized_keys') {
      const known = caseKnownKeys()[kindAt(path)] ?? [];
      const key = issue.keys[0] as string;
      const guess = closest(key, known);
      const keyAt = source.keyPositionOf(path, key);
      throw problem(file, keyAt.line, keyAt.column, `${where}: unknown key "${key}"`, guess ? `did you mean "${guess}"?` : `use one of: ${known.join(', ')}`);
    }
    if (issue.code === 'invalid_value') {
      throw problem(file, at.line, at.column, `${where} must be one of ${issue.values.join(', ')}`, `write one of: ${issue.values.join(', ')}`);
    }
    if (issue.code === 'invalid_type' && valueAt(data, path) === undefined) {
      throw problem(file, at.line, at.column, `${where} is required`, `add ${String(path[path.length - 1])}: …`);
    }
    throw problem(file, at.line, at.column, `${where}: ${issue.message}`, 'see the cases file reference (policyCasesJsonSchema)');
  }
  const seen = new Map<string, number>();
  result.data.cases.forEach((c, i) => {
    const first = seen.get(c.name);
    if (first !== undefined) {
      const at = source.positionOf(['cases', i, 'name']);
      throw problem(file, at.line, at.column, `cases[${i}].name: "${c.name}" is also the name of cases[${first}]`, 'give every case its own name');
    }
    seen.set(c.name, i);
  });
  return result.data.cases;
}

/** What one case got. */
export interface PolicyCaseResult {
  name: string;
  ok: boolean;
  expected: Decision;
  decision: PolicyDecision;
  /** Why the case failed (empty when it passed). */
  problems: string[];
}

/** Evaluate every case against `policy` at `nowMs` (each alone: no budget spent, no history). */
export function runPolicyCases(policy: CompiledPolicy, cases: readonly PolicyCase[], nowMs: number): PolicyCaseResult[] {
  return cases.map((c) => {
    const decision = evaluatePolicy(policy, testInput(c.request, c.agent, nowMs), new UsageTracker());
    const problems: string[] = [];
    if (decision.decision !== c.expect) problems.push(`expected ${c.expect}, got ${decision.decision}: ${decision.reason}`);
    if (c.expectRules !== undefined) {
      const want = [...new Set(c.expectRules)].sort();
      const got = [...new Set(decision.matchedRules)].sort();
      if (want.join('\n') !== got.join('\n')) problems.push(`expected rules [${want.join(', ')}], matched [${got.join(', ')}]`);
    }
    if (c.expectRiskAtLeast !== undefined && decision.riskScore < c.expectRiskAtLeast) {
      problems.push(`expected a risk of at least ${c.expectRiskAtLeast}, got ${decision.riskScore}`);
    }
    return { name: c.name, ok: problems.length === 0, expected: c.expect, decision, problems };
  });
}

/** The evaluation input of a test call (and its registration, when given). */
export function testInput(
  request: z.output<ReturnType<typeof policyCaseSchemas>['TestRequestSchema']>,
  agentInput: z.output<ReturnType<typeof policyCaseSchemas>['TestAgentSchema']> | undefined,
  nowMs: number,
): { request: ActionRequest; agent: AgentRecord | undefined; now: number } {
  const agentId = request.agentId ?? agentInput?.agentId ?? TEST_AGENT_ID;
  const at = new Date(nowMs).toISOString();
  const agent: AgentRecord | undefined =
    agentInput === undefined
      ? undefined
      : {
          agentId,
          agentName: agentInput.agentName ?? agentId,
          agentType: agentInput.agentType,
          capabilities: agentInput.capabilities,
          allowedResources: agentInput.allowedResources,
          metadata: agentInput.metadata,
          blocked: agentInput.blocked,
          ...(agentInput.blockedReason === undefined ? {} : { blockedReason: agentInput.blockedReason }),
          registeredAt: at,
          updatedAt: at,
          version: 1,
        };
  return {
    request: {
      agentId,
      actionType: request.actionType,
      resource: request.resource,
      parameters: request.parameters,
      context: request.context,
      requireHumanApproval: request.requireHumanApproval,
    },
    agent,
    now: nowMs,
  };
}

/** Which object a path points into: the file, a case, its request or its agent. */
function kindAt(path: ReadonlyArray<string | number>): string {
  if (path.length === 0) return 'file';
  const last = path[path.length - 1];
  if (last === 'request' || last === 'agent') return last;
  return 'case';
}

function valueAt(data: unknown, path: ReadonlyArray<string | number>): unknown {
  let v = data;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[p] : undefined;
  return v;
}

function problem(file: string, line: number, column: number, message: string, fix: string): PolicyError {
  return new PolicyError(message, { file, line, column }, fix);
}
