/**
 * HTTP API v1 wire types as zod schemas: the server validates requests with them, the HTTP
 * transport validates responses with them, and `/v1/openapi.json` is generated from them. One
 * definition, so client and server cannot drift.
 */
import { z } from 'zod';
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
import { ArgumentEditsSchema, displayedName, storableText } from './inputs.js';

const jsonRecord = z.record(z.string(), z.unknown());
const isoTime = z.string().min(1).max(64);
const id = z.string().min(1).max(256);

/** An agent id as sent to a server: `::` separates organisations inside the server's store. */
export const WireAgentId = displayedName()
  .min(1, 'agentId is required')
  .max(256)
  .refine((v) => !v.includes('::'), 'agentId must not contain "::"');

export const RiskFactorSchema = z.object({ name: z.string(), points: z.number(), detail: z.string() });
export const PolicyViolationSchema = z.object({ code: z.string(), message: z.string(), ruleId: z.string().optional() });
export const DecisionSchema = z.enum(['allowed', 'denied', 'pending']);
export const RiskLevelSchema = z.enum(['low', 'medium', 'high', 'critical']);
export const ApprovalChannelSchema = z.enum(APPROVAL_CHANNELS);

// Requests ------------------------------------------------------------------------------------

/** POST /v1/agents */
export const RegisterRequestSchema = z.object({
  agentId: WireAgentId,
  agentName: storableText().min(1).max(256),
  agentType: storableText().min(1).max(128).default('generic'),
  capabilities: z.array(storableText().min(1).max(256)).max(1000).default([]),
  allowedResources: z.array(storableText().min(1).max(2048)).max(1000).default([]),
  metadata: jsonRecord.default({}),
});

/** POST /v1/actions/evaluate. `parameters` arrive already redacted by the client. */
export const EvaluateRequestSchema = z.object({
  agentId: WireAgentId,
  actionType: displayedName().min(1, 'actionType must not be empty').max(256),
  resource: displayedName().max(2048).default(''),
  parameters: jsonRecord.default({}),
  context: jsonRecord.default({}),
  requireHumanApproval: z.boolean().default(false),
  /** callDigest of the exact (unredacted) call, computed by the client: what an approval binds to. */
  digest: z.string().regex(/^[0-9a-f]{64}$/, 'digest must be 64 lowercase hex characters (sha256)'),
  /** The call is a pending call as an approver edited it: the approval, and the original call's digest. */
  editOf: z
    .strictObject({
      approvalId: z.string().min(1).max(128),
      digest: z.string().regex(/^[0-9a-f]{64}$/, 'editOf.digest must be 64 lowercase hex characters (sha256)'),
    })
    .optional(),
});

/** POST /v1/actions/:actionId/complete */
export const CompleteRequestSchema = z.object({
  result: z.unknown().optional(),
  durationMs: z.number().nonnegative().finite().default(0),
  recordedAt: isoTime.optional(),
});

/** POST /v1/actions/:actionId/fail */
export const FailRequestSchema = z.object({
  error: z.string().max(10_000),
  durationMs: z.number().nonnegative().finite().default(0),
  recordedAt: isoTime.optional(),
});

/** POST /v1/approvals/:approvalId/approve and /reject */
export const ApprovalVerdictRequestSchema = z.object({
  comment: storableText().max(4096).optional(),
  /** Who decided; defaults to the API key's name. */
  decidedBy: storableText().min(1).max(256).optional(),
  /**
   * How the caller says it got the answer. Recorded only as `claimedChannel`: the server records
   * `api` (or `dashboard` for a session). `link` and `slack` are the server's own to record.
   */
  channel: ApprovalChannelSchema.exclude(['link', 'slack']).default('api'),
  grantMinutes: z.number().int().positive().max(7 * 24 * 60).optional(),
  /**
   * Approve only: the approver's changes to the call's arguments (edit and approve), each a
   * `path` of keys and array indexes and a new `value`, or `remove: true`. The call then runs
   * with them, decided by the policy again; redacted arguments cannot be edited.
   */
  edits: ArgumentEditsSchema.optional(),
});

/** POST /v1/approvals/:approvalId/consume */
export const ConsumeRequestSchema = z.object({
  digest: z.string().regex(/^[0-9a-f]{64}$/, 'digest must be 64 lowercase hex characters (sha256)'),
});

/** POST /v1/agents/:agentId/block */
export const BlockRequestSchema = z.object({ reason: storableText().min(1).max(1024).optional() });

// Records (responses) -------------------------------------------------------------------------

/** `sha256:` + 64 hex characters: a policy's content hash. */
export const PolicyVersionSchema = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'policyVersion must be "sha256:" and 64 lowercase hex characters');

export const DecisionResultSchema = z.object({
  decision: DecisionSchema,
  reason: z.string(),
  riskScore: z.number().min(0).max(100),
  riskLevel: RiskLevelSchema,
  riskFactors: z.array(RiskFactorSchema),
  matchedRules: z.array(z.string()),
  policyViolations: z.array(PolicyViolationSchema),
  requiredApprovers: z.array(z.string()),
  approvalTimeoutSeconds: z.number(),
  mode: z.enum(['enforce', 'monitor']),
  shadowDecision: DecisionSchema.optional(),
  elicitationAllowed: z.boolean().optional(),
  actionId: id,
  agentId: z.string(),
  actionType: z.string(),
  resource: z.string(),
  approvalRequestId: z.string().optional(),
  conditions: z.array(z.string()),
  approvedBy: z
    .object({ decidedBy: z.string(), channel: ApprovalChannelSchema, decidedAt: z.string(), grantId: z.string().optional() })
    .optional(),
  decidedAt: isoTime,
  policyVersion: PolicyVersionSchema.optional(),
  policyName: z.string().optional(),
  policyRevision: z.string().optional(),
});

export const AgentBudgetSchema = z.object({
  ruleId: z.string(),
  scope: z.enum(['agent', 'global']),
  count: z.number(),
  per: z.string(),
  used: z.number(),
  resetsAt: z.string().nullable(),
});

export const AgentRecordSchema = z.object({
  agentId: z.string(),
  agentName: z.string(),
  agentType: z.string(),
  capabilities: z.array(z.string()),
  allowedResources: z.array(z.string()),
  metadata: jsonRecord,
  blocked: z.boolean(),
  blockedReason: z.string().optional(),
  registeredAt: z.string(),
  updatedAt: z.string(),
  version: z.number(),
  warnings: z.array(z.string()).optional(),
  budgets: z.array(AgentBudgetSchema).optional(),
});

export const ActionRecordSchema = z.object({
  actionId: id,
  agentId: WireAgentId,
  actionType: storableText().min(1).max(256),
  resource: storableText().max(2048),
  parameters: jsonRecord,
  context: jsonRecord,
  digest: z.string().regex(/^[0-9a-f]{64}$/, 'digest must be 64 lowercase hex characters (sha256)'),
  decision: DecisionSchema,
  reason: z.string().max(10_000),
  riskScore: z.number().min(0).max(100),
  riskLevel: RiskLevelSchema,
  riskFactors: z.array(RiskFactorSchema),
  matchedRules: z.array(z.string()),
  policyViolations: z.array(PolicyViolationSchema),
  conditions: z.array(z.string()),
  approvalId: z.string().optional(),
  policyVersion: PolicyVersionSchema.optional(),
  policyName: storableText().max(200).optional(),
  policyRevision: storableText().max(100).optional(),
  createdAt: isoTime,
});

export const OutcomeRecordSchema = z.object({
  actionId: id,
  status: z.enum(['completed', 'failed']),
  result: z.unknown().optional(),
  error: z.string().max(10_000).optional(),
  durationMs: z.number().nonnegative().finite(),
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
  decidedAt: z.string().optional(),
  decidedBy: z.string().optional(),
  channel: ApprovalChannelSchema.optional(),
  comment: z.string().optional(),
  edits: z.array(z.object({ path: z.array(z.string()), value: z.unknown().optional(), remove: z.literal(true).optional() })).optional(),
  consumedAt: z.string().optional(),
  grantId: z.string().optional(),
});

export const GrantRecordSchema = z.object({
  grantId: z.string(),
  agentId: z.string(),
  actionType: z.string(),
  createdAt: z.string(),
  expiresAt: z.string(),
  createdBy: z.string(),
  channel: ApprovalChannelSchema,
  approvalId: z.string().optional(),
  revokedAt: z.string().optional(),
  revokedBy: z.string().optional(),
});

export const AuditEventSchema = z.object({
  seq: z.number(),
  ts: z.string(),
  type: z.string(),
  agentId: z.string().nullable(),
  actionId: z.string().nullable(),
  approvalId: z.string().nullable(),
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
  firstBad: z.object({ seq: z.number(), reason: z.string() }).optional(),
});

/** An {@link AuditCheckpoint}, as files, events and the API carry it. */
export const AuditCheckpointSchema = z.object({
  v: z.literal(1),
  seq: z.number().int().min(1),
  hash: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
  counts: z.record(z.string(), z.number().int().min(0)),
  checkpointedAt: z.string().datetime({ offset: true }),
  keyId: z.string().regex(/^ck_[0-9a-f]{16}$/, 'must be ck_ and 16 hex digits'),
  publicKey: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'must be 32 bytes in base64'),
  signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'must be 64 bytes in base64'),
});

/** GET and POST /v1/audit/verify: a verification from the newest trusted checkpoint (or of the whole chain). */
export const TrailVerificationSchema = AuditVerificationSchema.extend({
  startedFrom: z.object({ seq: z.number(), checkpointedAt: z.string(), keyId: z.string(), source: z.string() }).optional(),
  skippedCheckpoints: z.array(z.object({ eventSeq: z.number(), reason: z.string() })),
  against: z.array(z.object({ source: z.string(), seq: z.number(), ok: z.boolean() })),
  archivedThrough: z.number(),
  archives: z.array(z.object({ file: z.string(), afterSeq: z.number(), throughSeq: z.number(), events: z.number(), ok: z.boolean() })),
});

/** POST /v1/audit/verify */
export const TrailVerificationRequestSchema = z.object({
  full: z.boolean().optional(),
  /** Checkpoints kept outside the database, each with a name for the report. */
  against: z.array(z.object({ source: z.string().min(1).max(1024), checkpoint: AuditCheckpointSchema })).max(100).optional(),
  publicKeys: z.array(z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'must be 32 bytes in base64')).max(100).optional(),
});

/** GET /v1/actions/:actionId */
export const ActionWithOutcomeSchema = z.object({ action: ActionRecordSchema, outcome: OutcomeRecordSchema.optional() });

/** POST /v1/actions/:actionId/complete and /fail: `recorded` is false for a retry of a recorded outcome. */
export const OutcomeResponseSchema = z.object({ recorded: z.boolean(), outcome: OutcomeRecordSchema });

/** POST /v1/approvals/:approvalId/consume */
export const ConsumeResponseSchema = z.object({ consumed: z.boolean() });

/** Every error: one shape. `details.issues` names the fields at fault of a 400. */
export const ErrorResponseSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: jsonRecord.optional(),
  }),
});

/** One entry of `GET /v1/policy/history`. */
export const PolicyHistoryEntrySchema = z.object({
  seq: z.number(),
  at: z.string(),
  from: z.string().nullable(),
  to: z.string(),
  name: z.string().optional(),
  revision: z.string().optional(),
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
