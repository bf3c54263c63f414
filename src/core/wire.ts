/**
 * HTTP API v1 wire types as zod schemas: the server validates requests with them, the HTTP
 * transport validates responses with them, and `/v1/openapi.json` is generated from them. One
 * definition, so client and server cannot drift.
 */
import * as z from './zod.js';
import {
  APPROVAL_CHANNELS,
  type ActionRecord,
  type AgentBudget,
  type AgentRecord,
  type ApprovalRecord,
  type AuditCheckpoint,
  type AuditEvent,
  type AuditVerification,
  type DecisionResult,
  type GrantRecord,
  type OutcomeRecord,
  type PolicyHistoryEntry,
  type PolicyViolation,
  type RiskFactor,
} from './types.js';
import { compiledObject } from './compiled-object.js';
import { approvalChannelsExcept, ArgumentEditsSchema, displayedName, storableText } from './inputs.js';
import { auditCheckpointSchema, hexDigest, publicKeyBase64 } from './wire-checkpoint.js';

const jsonRecord = z.record(z.string(), z.unknown());
const isoTime = z.string().check(z.minLength(1), z.maxLength(64));
const id = z.string().check(z.minLength(1), z.maxLength(256));
const DIGEST_MESSAGE = 'digest must be 64 lowercase hex characters (sha256)';

/** An agent id as sent to a server: `::` separates organisations inside the server's store. */
export const WireAgentId = displayedName(
  z.minLength(1, 'agentId is required'),
  z.maxLength(256),
  z.refine((v: string) => !v.includes('::'), 'agentId must not contain "::"'),
);

export const RiskFactorSchema = z.object({ name: z.string(), points: z.number(), detail: z.string() });
export const PolicyViolationSchema = z.object({ code: z.string(), message: z.string(), ruleId: z.optional(z.string()) });
export const DecisionSchema = z.enum(['allowed', 'denied', 'pending']);
export const RiskLevelSchema = z.enum(['low', 'medium', 'high', 'critical']);
export const ApprovalChannelSchema = z.enum(APPROVAL_CHANNELS);

// Requests ------------------------------------------------------------------------------------

/** POST /v1/agents */
export const RegisterRequestSchema = z.object({
  agentId: WireAgentId,
  agentName: storableText(z.minLength(1), z.maxLength(256)),
  agentType: z._default(storableText(z.minLength(1), z.maxLength(128)), 'generic'),
  capabilities: z._default(z.array(storableText(z.minLength(1), z.maxLength(256))).check(z.maxLength(1000)), []),
  allowedResources: z._default(z.array(storableText(z.minLength(1), z.maxLength(2048))).check(z.maxLength(1000)), []),
  metadata: z._default(jsonRecord, {}),
});

/** POST /v1/actions/evaluate. `parameters` arrive already redacted by the client. Compiled: checked on every call. */
export const EvaluateRequestSchema = compiledObject({
  agentId: WireAgentId,
  actionType: displayedName(z.minLength(1, 'actionType must not be empty'), z.maxLength(256)),
  resource: z._default(displayedName(z.maxLength(2048)), ''),
  parameters: z._default(jsonRecord, {}),
  context: z._default(jsonRecord, {}),
  requireHumanApproval: z._default(z.boolean(), false),
  /** callDigest of the exact (unredacted) call, computed by the client: what an approval binds to. */
  digest: hexDigest(DIGEST_MESSAGE),
  /** The call is a pending call as an approver edited it: the approval, and the original call's digest. */
  editOf: z.optional(
    z.strictObject({
      approvalId: z.string().check(z.minLength(1), z.maxLength(128)),
      digest: hexDigest('editOf.digest must be 64 lowercase hex characters (sha256)'),
    }),
  ),
});

/** POST /v1/actions/:actionId/complete */
export const CompleteRequestSchema = compiledObject({
  result: z.optional(z.unknown()),
  durationMs: z._default(z.number().check(z.nonnegative()), 0),
  recordedAt: z.optional(isoTime),
});

/** POST /v1/actions/:actionId/fail */
export const FailRequestSchema = compiledObject({
  error: z.string().check(z.maxLength(10_000)),
  durationMs: z._default(z.number().check(z.nonnegative()), 0),
  recordedAt: z.optional(isoTime),
});

/** POST /v1/approvals/:approvalId/approve and /reject */
export const ApprovalVerdictRequestSchema = z.object({
  comment: z.optional(storableText(z.maxLength(4096))),
  /** Who decided; defaults to the API key's name. */
  decidedBy: z.optional(storableText(z.minLength(1), z.maxLength(256))),
  /**
   * How the caller says it got the answer. Recorded only as `claimedChannel`: the server records
   * `api` (or `dashboard` for a session). `link` and `slack` are the server's own to record.
   */
  channel: z._default(z.enum(approvalChannelsExcept('link', 'slack')), 'api'),
  grantMinutes: z.optional(z.int().check(z.positive(), z.lte(7 * 24 * 60))),
  /**
   * Approve only: the approver's changes to the call's arguments (edit and approve), each a
   * `path` of keys and array indexes and a new `value`, or `remove: true`. The call then runs
   * with them, decided by the policy again; redacted arguments cannot be edited.
   */
  edits: z.optional(ArgumentEditsSchema),
});

/** POST /v1/approvals/:approvalId/consume */
export const ConsumeRequestSchema = z.object({
  digest: hexDigest(DIGEST_MESSAGE),
});

/** POST /v1/agents/:agentId/block */
export const BlockRequestSchema = z.object({ reason: z.optional(storableText(z.minLength(1), z.maxLength(1024))) });

// Records (responses) -------------------------------------------------------------------------

/** `sha256:` + 64 hex characters: a policy's content hash. */
export const PolicyVersionSchema = z.string().check(z.regex(/^sha256:[0-9a-f]{64}$/, 'policyVersion must be "sha256:" and 64 lowercase hex characters'));

export const DecisionResultSchema = compiledObject({
  decision: DecisionSchema,
  reason: z.string(),
  riskScore: z.number().check(z.gte(0), z.lte(100)),
  riskLevel: RiskLevelSchema,
  riskFactors: z.array(RiskFactorSchema),
  matchedRules: z.array(z.string()),
  policyViolations: z.array(PolicyViolationSchema),
  requiredApprovers: z.array(z.string()),
  approvalTimeoutSeconds: z.number(),
  mode: z.enum(['enforce', 'monitor']),
  shadowDecision: z.optional(DecisionSchema),
  elicitationAllowed: z.optional(z.boolean()),
  actionId: id,
  agentId: z.string(),
  actionType: z.string(),
  resource: z.string(),
  approvalRequestId: z.optional(z.string()),
  conditions: z.array(z.string()),
  approvedBy: z.optional(z.object({ decidedBy: z.string(), channel: ApprovalChannelSchema, decidedAt: z.string(), grantId: z.optional(z.string()) })),
  decidedAt: isoTime,
  policyVersion: z.optional(PolicyVersionSchema),
  policyName: z.optional(z.string()),
  policyRevision: z.optional(z.string()),
});

export const AgentBudgetSchema = z.object({
  ruleId: z.string(),
  scope: z.enum(['agent', 'global']),
  count: z.number(),
  per: z.string(),
  used: z.number(),
  resetsAt: z.nullable(z.string()),
});

export const AgentRecordSchema = z.object({
  agentId: z.string(),
  agentName: z.string(),
  agentType: z.string(),
  capabilities: z.array(z.string()),
  allowedResources: z.array(z.string()),
  metadata: jsonRecord,
  blocked: z.boolean(),
  blockedReason: z.optional(z.string()),
  registeredAt: z.string(),
  updatedAt: z.string(),
  version: z.number(),
  warnings: z.optional(z.array(z.string())),
  budgets: z.optional(z.array(AgentBudgetSchema)),
});

export const ActionRecordSchema = z.object({
  actionId: id,
  agentId: WireAgentId,
  actionType: storableText(z.minLength(1), z.maxLength(256)),
  resource: storableText(z.maxLength(2048)),
  parameters: jsonRecord,
  context: jsonRecord,
  digest: hexDigest(DIGEST_MESSAGE),
  decision: DecisionSchema,
  reason: z.string().check(z.maxLength(10_000)),
  riskScore: z.number().check(z.gte(0), z.lte(100)),
  riskLevel: RiskLevelSchema,
  riskFactors: z.array(RiskFactorSchema),
  matchedRules: z.array(z.string()),
  policyViolations: z.array(PolicyViolationSchema),
  conditions: z.array(z.string()),
  approvalId: z.optional(z.string()),
  policyVersion: z.optional(PolicyVersionSchema),
  policyName: z.optional(storableText(z.maxLength(200))),
  policyRevision: z.optional(storableText(z.maxLength(100))),
  createdAt: isoTime,
});

export const OutcomeRecordSchema = compiledObject({
  actionId: id,
  status: z.enum(['completed', 'failed']),
  result: z.optional(z.unknown()),
  error: z.optional(z.string().check(z.maxLength(10_000))),
  durationMs: z.number().check(z.nonnegative()),
  recordedAt: isoTime,
});

/** POST /v1/actions/upload: one record spooled by a client in fail-open mode. */
export const SpoolEntrySchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('decision'), action: ActionRecordSchema }),
  z.object({ kind: z.literal('outcome'), outcome: OutcomeRecordSchema }),
]);

export const ApprovalRecordSchema = z.object({
  approvalId: z.string(),
  actionId: z.string(),
  agentId: z.string(),
  actionType: z.string(),
  resource: z.string(),
  parameters: jsonRecord,
  digest: z.string(),
  status: z.enum(['pending', 'approved', 'rejected', 'expired']),
  reason: z.string(),
  riskScore: z.number(),
  riskLevel: RiskLevelSchema,
  riskFactors: z.array(RiskFactorSchema),
  matchedRules: z.array(z.string()),
  requiredApprovers: z.array(z.string()),
  requestedAt: z.string(),
  expiresAt: z.string(),
  decidedAt: z.optional(z.string()),
  decidedBy: z.optional(z.string()),
  channel: z.optional(ApprovalChannelSchema),
  comment: z.optional(z.string()),
  edits: z.optional(z.array(z.object({ path: z.array(z.string()), value: z.optional(z.unknown()), remove: z.optional(z.literal(true)) }))),
  consumedAt: z.optional(z.string()),
  grantId: z.optional(z.string()),
});

export const GrantRecordSchema = z.object({
  grantId: z.string(),
  agentId: z.string(),
  actionType: z.string(),
  createdAt: z.string(),
  expiresAt: z.string(),
  createdBy: z.string(),
  channel: ApprovalChannelSchema,
  approvalId: z.optional(z.string()),
  revokedAt: z.optional(z.string()),
  revokedBy: z.optional(z.string()),
});

export const AuditEventSchema = z.object({
  seq: z.number(),
  ts: z.string(),
  type: z.string(),
  agentId: z.nullable(z.string()),
  actionId: z.nullable(z.string()),
  approvalId: z.nullable(z.string()),
  actor: z.string(),
  data: jsonRecord,
  prevHash: z.string(),
  hash: z.string(),
});

export const AuditVerificationSchema = z.object({
  ok: z.boolean(),
  checked: z.number(),
  headSeq: z.number(),
  headHash: z.string(),
  fromSeq: z.number(),
  counts: z.record(z.string(), z.number()),
  firstBad: z.optional(z.object({ seq: z.number(), reason: z.string() })),
});

/** An {@link AuditCheckpoint}, as files, events and the API carry it. */
export const AuditCheckpointSchema = auditCheckpointSchema();

/** GET and POST /v1/audit/verify: a verification from the newest trusted checkpoint (or of the whole chain). */
export const TrailVerificationSchema = z.extend(AuditVerificationSchema, {
  startedFrom: z.optional(z.object({ seq: z.number(), checkpointedAt: z.string(), keyId: z.string(), source: z.string() })),
  skippedCheckpoints: z.array(z.object({ eventSeq: z.number(), reason: z.string() })),
  against: z.array(z.object({ source: z.string(), seq: z.number(), ok: z.boolean() })),
  archivedThrough: z.number(),
  archives: z.array(z.object({ file: z.string(), afterSeq: z.number(), throughSeq: z.number(), events: z.number(), ok: z.boolean() })),
});

/** POST /v1/audit/verify */
export const TrailVerificationRequestSchema = z.object({
  full: z.optional(z.boolean()),
  /** Checkpoints kept outside the database, each with a name for the report. */
  against: z.optional(z.array(z.object({ source: z.string().check(z.minLength(1), z.maxLength(1024)), checkpoint: AuditCheckpointSchema })).check(z.maxLength(100))),
  publicKeys: z.optional(z.array(publicKeyBase64).check(z.maxLength(100))),
});

/** GET /v1/actions/:actionId */
export const ActionWithOutcomeSchema = z.object({ action: ActionRecordSchema, outcome: z.optional(OutcomeRecordSchema) });

/** POST /v1/actions/:actionId/complete and /fail: `recorded` is false for a retry of a recorded outcome. */
export const OutcomeResponseSchema = compiledObject({ recorded: z.boolean(), outcome: OutcomeRecordSchema });

/** POST /v1/approvals/:approvalId/consume */
export const ConsumeResponseSchema = z.object({ consumed: z.boolean() });

/** Every error: one shape. `details.issues` names the fields at fault of a 400. */
export const ErrorResponseSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.optional(jsonRecord),
  }),
});

/** One entry of `GET /v1/policy/history`. */
export const PolicyHistoryEntrySchema = z.object({
  seq: z.number(),
  at: z.string(),
  from: z.nullable(z.string()),
  to: z.string(),
  name: z.optional(z.string()),
  revision: z.optional(z.string()),
  cause: z.enum(['file', 'signal', 'push']),
  source: z.string(),
  actor: z.string(),
});

// Each record type of `types.ts` (written out there, with its documentation) and its wire schema
// here describe the same value, field for field: checked when the package compiles, so neither
// can change alone.
type Flat<T> = { [K in keyof T]: T[K] };
type Same<A, B> = (<T>() => T extends Flat<A> ? 1 : 2) extends <T>() => T extends Flat<B> ? 1 : 2 ? true : false;
type Pinned<T extends true> = T;
export type WirePins = [
  Pinned<Same<z.output<typeof RiskFactorSchema>, RiskFactor>>,
  Pinned<Same<z.output<typeof PolicyViolationSchema>, PolicyViolation>>,
  // `editedParameters` never leaves the client (the agent's own arguments as an approver edited them).
  Pinned<Same<z.output<typeof DecisionResultSchema>, Omit<DecisionResult, 'editedParameters'>>>,
  Pinned<Same<z.output<typeof AgentBudgetSchema>, AgentBudget>>,
  Pinned<Same<z.output<typeof AgentRecordSchema>, AgentRecord>>,
  Pinned<Same<z.output<typeof ActionRecordSchema>, ActionRecord>>,
  Pinned<Same<z.output<typeof OutcomeRecordSchema>, OutcomeRecord>>,
  Pinned<Same<z.output<typeof ApprovalRecordSchema>, ApprovalRecord>>,
  Pinned<Same<z.output<typeof GrantRecordSchema>, GrantRecord>>,
  // `type` is read as any string: an older client still reads a newer server's new event types.
  Pinned<Same<Omit<z.output<typeof AuditEventSchema>, 'type'>, Omit<AuditEvent, 'type'>>>,
  Pinned<Same<z.output<typeof AuditVerificationSchema>, AuditVerification>>,
  Pinned<Same<z.output<typeof AuditCheckpointSchema>, AuditCheckpoint>>,
  Pinned<Same<z.output<typeof PolicyHistoryEntrySchema>, PolicyHistoryEntry>>,
];
