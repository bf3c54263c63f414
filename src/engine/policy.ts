/**
 * The policy document: its zod schema (the one definition of the grammar), its TypeScript type and
 * its JSON Schema for editors. Compiling it (CEL, globs, durations) lives in `compile.ts`.
 *
 * The schemas are built on first use ({@link policySchemas}): a start that finds its policy in the
 * compiled cache never parses a document, and building them is a tenth of what importing the
 * package costs (docs/architecture.md, "Performance budgets": the cold start).
 */
import * as z from '../core/zod.js';
import { lazily } from '../core/lazily.js';
import { globProblem } from './glob.js';

/** What a rule (or the default) does with a call. */
export const EFFECTS = ['allow', 'deny', 'require_approval'] as const;
/** `'allow' | 'deny' | 'require_approval'`. */
export type Effect = (typeof EFFECTS)[number];

/** A duration such as `30s`, `15m`, `1h` or `7d`. */
export const DURATION_PATTERN = /^([1-9][0-9]{0,6})(s|m|h|d)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** Longest `limit.per` window accepted. */
export const MAX_WINDOW_MS = 31 * 86_400_000;

/** Milliseconds of a duration such as `1h`, or `null` if it is not one. */
export function durationMs(text: string): number | null {
  const m = DURATION_PATTERN.exec(text);
  if (!m) return null;
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/**
 * A capability name: a word of letters, digits, `_` and `-`. Action-type globs have a `.` or a
 * wildcard, so an agent's registration can mix names and globs without ambiguity.
 */
export const CAPABILITY_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

/** Whether a registered capability is a name (as opposed to an action-type glob). */
export function isCapabilityName(capability: string): boolean {
  return CAPABILITY_NAME.test(capability);
}

/** The policy document's schemas: see {@link policySchemas}. */
function buildPolicySchemas() {
  const globString = z.string().check(
    z.superRefine((pattern, ctx) => {
      const problem = globProblem(pattern);
      if (problem) ctx.addIssue({ code: 'custom', message: problem.message, params: { fix: problem.fix } });
    }),
  );
  const globList = z.array(globString).check(z.minLength(1));

  /** A rule's budget: see a rule's `limit`. */
  const LimitSchema = z.strictObject({
    /** Calls allowed within the window before the rule applies. */
    count: z.int().check(z.gte(1), z.lte(1_000_000_000)),
    /** Window length: a positive integer and a unit, `s`, `m`, `h` or `d` (e.g. `1h`). At most 31 days. */
    per: z.string().check(
      z.superRefine((text, ctx) => {
        const ms = durationMs(text);
        if (ms === null) {
          ctx.addIssue({
            code: 'custom',
            message: `"${text}" is not a duration`,
            params: { fix: 'write a positive whole number and a unit s, m, h or d, e.g. "30s", "15m", "1h", "1d"' },
          });
        } else if (ms > MAX_WINDOW_MS) {
          ctx.addIssue({ code: 'custom', message: `window "${text}" is longer than 31 days`, params: { fix: 'use at most "31d"' } });
        }
      }),
    ),
    /** `agent` (default): one budget per agent. `global`: one budget shared by every agent. */
    scope: z._default(z.enum(['agent', 'global']), 'agent'),
  });

  /** One rule: see {@link policySchemas}. */
  const RuleSchema = z.strictObject({
    id: z
      .string()
      .check(
        z.minLength(1),
        z.maxLength(128),
        z.regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'id must start with a letter or digit and use only letters, digits, . _ : -'),
      ),
    description: z.optional(z.string().check(z.maxLength(4096))),
    actions: globList,
    resources: z.optional(globList),
    agents: z.optional(globList),
    when: z.optional(z.string().check(z.minLength(1), z.maxLength(16_384))),
    effect: z.enum(EFFECTS),
    approvers: z.optional(z.array(z.string().check(z.minLength(1), z.maxLength(256)))),
    risk: z.optional(z.int().check(z.gte(0), z.lte(100))),
    reason: z.optional(z.string().check(z.minLength(1), z.maxLength(1024))),
    limit: z.optional(LimitSchema),
  });

  /** Risk thresholds: see the document's `risk`. `null` turns a threshold off. */
  const RiskThresholdsSchema = z
    .strictObject({
      requireApprovalAt: z._default(z.nullable(z.int().check(z.gte(0), z.lte(100))), 70),
      denyAt: z._default(z.nullable(z.int().check(z.gte(0), z.lte(100))), 90),
    })
    .check(
      z.superRefine((t, ctx) => {
        if (t.requireApprovalAt !== null && t.denyAt !== null && t.requireApprovalAt > t.denyAt) {
          ctx.addIssue({
            code: 'custom',
            path: ['requireApprovalAt'],
            message: `requireApprovalAt (${t.requireApprovalAt}) is above denyAt (${t.denyAt})`,
            params: { fix: 'requireApprovalAt must be at most denyAt' },
          });
        }
      }),
    );

  const PolicySchema = z.strictObject({
    version: z.literal(1),
    /** A label for people, carried by every decision (`policyName`). */
    name: z.optional(z.string().check(z.minLength(1), z.maxLength(200))),
    /** A label for people such as `42` or `2026-12-04.1`, carried by every decision (`policyRevision`). */
    revision: z.optional(
      z.pipe(
        z.union([z.string().check(z.minLength(1), z.maxLength(100)), z.number()]),
        z.transform((r) => String(r)),
      ),
    ),
    mode: z._default(z.enum(['enforce', 'monitor']), 'enforce'),
    default: z._default(z.enum(EFFECTS), 'deny'),
    approvalTimeoutSeconds: z._default(z.int().check(z.gte(1), z.lte(7 * 24 * 3600)), 300),
    risk: z.optional(RiskThresholdsSchema),
    approvals: z.optional(
      z.strictObject({
        /**
         * The highest risk score at which an answer from an MCP client (elicitation) may approve a
         * call — the client's answer, not proof that a person saw it. `null`: never.
         */
        elicitationMaxRisk: z._default(z.nullable(z.int().check(z.gte(0), z.lte(100))), 69),
        /**
         * Whether an approver may change a pending call's arguments before approving it (the edited
         * call is decided by this policy again before it runs). Default true.
         */
        allowEdits: z._default(z.boolean(), true),
      }),
    ),
    /**
     * Names agents may register as capabilities, each standing for action-type globs
     * (`data_access: ["database.query", "database.read*"]`). A registered capability is either
     * such a name or an action-type glob; a name the policy does not define restricts nothing.
     */
    capabilities: z._default(
      z.record(
        z
          .string()
          .check(z.regex(CAPABILITY_NAME, 'a capability name uses letters, digits, _ and - (no "." or wildcards: those make it an action-type glob)')),
        globList,
      ),
      {},
    ),
    rules: z._default(z.array(RuleSchema), []),
  });

  return { LimitSchema, RuleSchema, RiskThresholdsSchema, PolicySchema };
}

/**
 * The policy document's schemas, built on first use: `PolicySchema` (the document), `RuleSchema`,
 * `LimitSchema` and `RiskThresholdsSchema` (its parts).
 *
 * The policy document (YAML or JSON). Unknown keys are errors everywhere.
 *
 * ```yaml
 * version: 1                 # required, always 1
 * mode: enforce              # enforce (default) | monitor
 * default: deny              # deny (default) | allow | require_approval — for calls no rule matches
 * approvalTimeoutSeconds: 300   # default 300; how long a pending call waits for a person
 * risk:                      # optional; defaults { requireApprovalAt: 70, denyAt: 90 }; null = off
 *   requireApprovalAt: 70    # score ≥ this turns allowed into pending
 *   denyAt: 90               # score ≥ this turns allowed or pending into denied
 * approvals:                 # optional
 *   elicitationMaxRisk: 69   # an MCP client's answer (elicitation) may approve up to this score; null = never
 *   allowEdits: true         # default true; false: an approver may not change a call's arguments
 * capabilities:              # optional: names agents may register, each a list of action-type globs
 *   data_access: ["database.query", "database.read*"]
 * rules:
 *   - id: big-transfers      # unique; letters, digits, . _ : -
 *     description: text      # optional, for people
 *     actions: ["financial.*"]     # globs on the action type (required, non-empty)
 *     resources: ["bank:*"]        # optional globs on the resource (absent = any)
 *     agents: ["agent-*"]          # optional globs on the agent id (absent = any)
 *     when: 'parameters.amount > 10000'   # optional CEL condition, must be a bool
 *     effect: require_approval     # allow | deny | require_approval
 *     approvers: ["finance-team"]  # optional, copied to the decision's requiredApprovers
 *     risk: 80                     # optional 0–100: the score is at least this when the rule applies
 *     reason: "why, for people"    # optional; becomes the decision's reason when this rule decides
 *     limit: { count: 100, per: 1h, scope: agent }   # optional budget, see below
 * ```
 *
 * Globs: `*` any run of characters, `?` one character, `\` escapes; nothing else is special.
 * They are matched in linear time, without backtracking.
 *
 * Conditions (`when`) are CEL, compiled once at load. Variables: `parameters` (map), `resource`
 * (string), `action` (string, the action type), `agent` (map: `id`, `type`, `metadata`), `context`
 * (map). Whole numbers are CEL ints, other numbers doubles; they compare with each other.
 * `s.matches(re)` runs RE2 (linear time; no lookaround or backreferences) with the flags `(?i)`,
 * `(?s)`, `(?m)`; write patterns as CEL raw strings so backslashes stay as written:
 * `parameters.query.matches(r"(?i)^\s*select\b")`. Reading a key that is
 * absent (`parameters.amount` when there is no `amount`) is a run-time error, and a condition that
 * errors DENIES the call (`condition_error`): guard optional keys with `has(parameters.amount) &&`.
 *
 * Combination: a rule applies when its action, resource and agent globs match and its condition
 * is true. Explicit deny beats require_approval beats allow. No applicable rule → `default`
 * (violation `default_deny` when it is deny). A rule's deny or require_approval always stands,
 * whatever the risk score; thresholds only escalate (allowed → pending → denied).
 *
 * `limit`: the rule applies only once `count` calls that match its globs and condition were
 * already allowed within the sliding window `per` (`scope: agent` counts per agent, `global`
 * across agents). E.g. `effect: deny` + `limit: { count: 100, per: 1h }` = "at most 100 an hour".
 * A decision point counts them in its store (shared by processes and replicas, exact to the
 * millisecond); see the README's policy section for what a limit guarantees in each shape.
 *
 * `mode: monitor` (shadow): every call is allowed and the would-be decision (including a denial
 * by a condition error) is reported in `shadowDecision`. A blocked agent stays blocked in every
 * mode (a block is an operator's action, not policy).
 */
export const policySchemas = lazily(buildPolicySchemas);

/** A validated policy document (defaults applied). */
export type PolicyDocument = z.output<ReturnType<typeof policySchemas>['PolicySchema']>;
/** One validated rule. */
export type PolicyRule = z.output<ReturnType<typeof policySchemas>['RuleSchema']>;
/** One validated rule limit. */
export type PolicyLimit = z.output<ReturnType<typeof policySchemas>['LimitSchema']>;

/** Keys allowed at each level of the document, for "did you mean" hints. */
export function policyKnownKeys(): Record<'policy' | 'rule' | 'limit' | 'risk' | 'approvals', readonly string[]> {
  const { PolicySchema, RuleSchema, LimitSchema } = policySchemas();
  return {
    policy: Object.keys(PolicySchema.shape),
    rule: Object.keys(RuleSchema.shape),
    limit: Object.keys(LimitSchema.shape),
    risk: ['requireApprovalAt', 'denyAt'],
    approvals: ['elicitationMaxRisk', 'allowEdits'],
  };
}

/** JSON Schema (draft 2020-12) of the policy document as written, for editors and `$schema`. */
export function policyJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(policySchemas().PolicySchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
