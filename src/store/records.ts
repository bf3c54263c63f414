/**
 * Records ⇄ stored form: the canonical JSON written for each record (which doubles as the data
 * of its audit event), the rows read back, and ISO time handling.
 */
import { ValidationError } from '../core/errors.js';
import type {
  ActionRecord,
  AgentRecord,
  ApiKeyRecord,
  AuditEvent,
  AuditEventType,
  ApprovalChannel,
  ApprovalRecord,
  ApprovalStatus,
  GrantRecord,
  OutcomeRecord,
  PolicyChangeRecord,
  PolicyHistoryEntry,
  StoredPolicy,
} from '../core/types.js';
import { arrayWriter, canonicalJsonFast, objectWriter } from '../core/canonical-fast.js';
import type { StoredAuditRow } from './audit-chain.js';
import type { AuditBase } from './store.js';
import type { ArgumentEdit } from '../core/argument-edits.js';

// Serialisation ---------------------------------------------------------------------------------
// Fixed-shape writers (keys sorted and quoted once) produce canonicalJson of each record's
// projection onto its type's fields: a stored record holds exactly those (members a caller
// added are not stored); undefined members are dropped as canonicalJson drops them.

const writeFactor = objectWriter(['name', 'points', 'detail']);
const writeViolation = objectWriter(['code', 'message', 'ruleId']);
const writeFactors = arrayWriter((f) => writeFactor(f as object));
const writeViolations = arrayWriter((v) => writeViolation(v as object));

const writeAction = objectWriter(
  [
    'actionId', 'agentId', 'actionType', 'resource', 'parameters', 'context', 'digest', 'decision', 'reason', 'riskScore',
    'riskLevel', 'riskFactors', 'matchedRules', 'policyViolations', 'conditions', 'approvalId', 'policyVersion', 'policyName',
    'policyRevision', 'createdAt',
  ] satisfies Array<keyof ActionRecord>,
  { riskFactors: writeFactors, policyViolations: writeViolations },
);

/** Canonical JSON of an action record: the data of its `action.evaluated` event. */
export function actionJson(a: ActionRecord): string {
  return writeAction(a);
}

const writeOutcome = objectWriter(['actionId', 'status', 'result', 'error', 'durationMs', 'recordedAt'] satisfies Array<keyof OutcomeRecord>);

/** Canonical JSON of an outcome: the data of its `action.completed` / `action.failed` event. */
export function outcomeJson(o: OutcomeRecord): string {
  return writeOutcome(o);
}

const writeApprovalRequest = objectWriter(
  ['parameters', 'reason', 'riskScore', 'riskLevel', 'riskFactors', 'matchedRules', 'requiredApprovers'] satisfies Array<keyof ApprovalRecord>,
  { riskFactors: writeFactors },
);

/** The immutable part of an approval request, stored in `approvals.request`. */
export function approvalRequestJson(a: ApprovalRecord): string {
  return writeApprovalRequest(a);
}

const writeApproval = objectWriter(
  [
    'approvalId', 'actionId', 'agentId', 'actionType', 'resource', 'parameters', 'digest', 'status', 'reason', 'riskScore',
    'riskLevel', 'riskFactors', 'matchedRules', 'requiredApprovers', 'requestedAt', 'expiresAt',
  ] satisfies Array<keyof ApprovalRecord>,
  { riskFactors: writeFactors },
);

/** Canonical JSON of a new approval request (audit data of `approval.requested`). */
export function approvalJson(a: ApprovalRecord): string {
  return writeApproval(a);
}

/** Canonical JSON of any value (re-exported for the store's smaller payloads). */
export const json: (value: unknown) => string = canonicalJsonFast;

// Rows ------------------------------------------------------------------------------------------

/** A row of `agents`. */
export interface AgentRow {
  agent_id: string;
  agent_name: string;
  agent_type: string;
  capabilities: string;
  allowed_resources: string;
  metadata: string;
  blocked: number;
  blocked_reason: string | null;
  registered_at: string;
  updated_at: string;
  version: number;
}

/** An AgentRecord from its row. */
export function agentFromRow(r: AgentRow): AgentRecord {
  const agent: AgentRecord = {
    agentId: r.agent_id,
    agentName: r.agent_name,
    agentType: r.agent_type,
    capabilities: JSON.parse(r.capabilities) as string[],
    allowedResources: JSON.parse(r.allowed_resources) as string[],
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    blocked: r.blocked !== 0,
    registeredAt: r.registered_at,
    updatedAt: r.updated_at,
    version: r.version,
  };
  if (r.blocked_reason !== null) agent.blockedReason = r.blocked_reason;
  return agent;
}

/** A row of `approvals`. */
export interface ApprovalRow {
  approval_id: string;
  action_id: string;
  agent_id: string;
  action_type: string;
  resource: string;
  digest: string;
  status: ApprovalStatus;
  requested_at: string;
  expires_at: string;
  decided_at: string | null;
  decided_by: string | null;
  channel: ApprovalChannel | null;
  comment: string | null;
  consumed_at: string | null;
  grant_id: string | null;
  request: string;
  /** JSON of the approver's {@link ArgumentEdit}s, when they edited the call. */
  edits: string | null;
}

/** The immutable request part stored in `approvals.request`. */
export type ApprovalRequestPart = Pick<
  ApprovalRecord,
  'matchedRules' | 'parameters' | 'reason' | 'requiredApprovers' | 'riskFactors' | 'riskLevel' | 'riskScore'
>;

/** An ApprovalRecord from its row. */
export function approvalFromRow(r: ApprovalRow): ApprovalRecord {
  const req = JSON.parse(r.request) as ApprovalRequestPart;
  const approval: ApprovalRecord = {
    approvalId: r.approval_id,
    actionId: r.action_id,
    agentId: r.agent_id,
    actionType: r.action_type,
    resource: r.resource,
    parameters: req.parameters,
    digest: r.digest,
    status: r.status,
    reason: req.reason,
    riskScore: req.riskScore,
    riskLevel: req.riskLevel,
    riskFactors: req.riskFactors,
    matchedRules: req.matchedRules,
    requiredApprovers: req.requiredApprovers,
    requestedAt: r.requested_at,
    expiresAt: r.expires_at,
  };
  if (r.decided_at !== null) approval.decidedAt = r.decided_at;
  if (r.decided_by !== null) approval.decidedBy = r.decided_by;
  if (r.channel !== null) approval.channel = r.channel;
  if (r.comment !== null) approval.comment = r.comment;
  if (r.consumed_at !== null) approval.consumedAt = r.consumed_at;
  if (r.grant_id !== null) approval.grantId = r.grant_id;
  if (r.edits !== null) approval.edits = JSON.parse(r.edits) as ArgumentEdit[];
  return approval;
}

/** A row of `grants`. */
export interface GrantRow {
  grant_id: string;
  agent_id: string;
  action_type: string;
  created_at: string;
  expires_at: string;
  created_by: string;
  channel: ApprovalChannel;
  approval_id: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
}

/** A GrantRecord from its row. */
export function grantFromRow(r: GrantRow): GrantRecord {
  const grant: GrantRecord = {
    grantId: r.grant_id,
    agentId: r.agent_id,
    actionType: r.action_type,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    createdBy: r.created_by,
    channel: r.channel,
  };
  if (r.approval_id !== null) grant.approvalId = r.approval_id;
  if (r.revoked_at !== null) grant.revokedAt = r.revoked_at;
  if (r.revoked_by !== null) grant.revokedBy = r.revoked_by;
  return grant;
}

/** The grant's record as audit data (`grant.created`). */
export function grantJson(g: GrantRecord): string {
  return canonicalJsonFast(g);
}

// Time ------------------------------------------------------------------------------------------

const ISO_UTC_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/**
 * `value` as `YYYY-MM-DDTHH:mm:ss.sssZ`, the one spelling under which text order is time order
 * (the store compares times in SQL as text). Throws ValidationError naming `field` when it is
 * not a time.
 */
export function isoUtc(value: string, field: string): string {
  if (typeof value === 'string' && ISO_UTC_MS.test(value)) return value;
  const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new ValidationError(`${field} must be an ISO 8601 time, got ${JSON.stringify(value)}`, [
      { path: field, message: 'not an ISO 8601 time' },
    ]);
  }
  return new Date(ms).toISOString();
}

/** An audit row as the stores select it (columns aliased to the record's names). */
export type AuditRow = StoredAuditRow;

/** An audit row as its event. */
export function auditEventFromRow(r: AuditRow): AuditEvent {
  return {
    seq: r.seq,
    ts: r.ts,
    type: r.type as AuditEventType,
    agentId: r.agentId,
    actionId: r.actionId,
    approvalId: r.approvalId,
    actor: r.actor,
    data: JSON.parse(r.data) as Record<string, unknown>,
    prevHash: r.prevHash,
    hash: r.hash,
  };
}

/** Parameters of an approvals-table insert (times normalised; `[7]` is `requested_at`). Throws ValidationError. */
export function approvalInsertParams(a: ApprovalRecord): [string, string, string, string, string, string, string, string, string, string] {
  return [
    a.approvalId,
    a.actionId,
    a.agentId,
    a.actionType,
    a.resource,
    a.digest,
    a.status,
    isoUtc(a.requestedAt, 'approval.requestedAt'),
    isoUtc(a.expiresAt, 'approval.expiresAt'),
    approvalRequestJson(a),
  ];
}

/** An `api_keys` row (SQLite stores `require_signing` as 0/1, PostgreSQL as a boolean). */
export interface ApiKeyRow {
  key_id: string;
  name: string;
  role: ApiKeyRecord['role'];
  org: string;
  secret_hash: string;
  signing_secret: string | null;
  require_signing: number | boolean;
  created_at: string;
  created_by: string;
  revoked_at: string | null;
  revoked_by: string | null;
  /** JSON array of agent-id globs; null for a key that may act as any agent. */
  agent_ids: string | null;
}

/** An ApiKeyRecord from its row. */
export function apiKeyFromRow(row: ApiKeyRow): ApiKeyRecord {
  const key: ApiKeyRecord = {
    keyId: row.key_id,
    name: row.name,
    role: row.role,
    org: row.org,
    secretHash: row.secret_hash,
    requireSigning: row.require_signing === true || row.require_signing === 1,
    createdAt: row.created_at,
    createdBy: row.created_by,
  };
  if (row.signing_secret !== null) key.signingSecret = row.signing_secret;
  if (row.revoked_at !== null) key.revokedAt = row.revoked_at;
  if (row.revoked_by !== null) key.revokedBy = row.revoked_by;
  if (row.agent_ids !== null) key.agentIds = JSON.parse(row.agent_ids) as string[];
  return key;
}

/** The `agent_ids` column of a key (null: any agent). */
export function agentIdsColumn(key: ApiKeyRecord): string | null {
  return key.agentIds === undefined ? null : JSON.stringify(key.agentIds);
}

/** A request whose values the store refused (a 400, never a 503 that looks like an outage). */
export function refusedValue(operation: string, reason: string): ValidationError {
  const message = `the store refused a value of this request (${reason})`;
  return new ValidationError(`${operation} failed: ${message}`, [{ path: '(request)', message }]);
}

/** A ValidationError naming `field`. */
export function invalid(field: string, message: string): ValidationError {
  return new ValidationError(`${field} ${message}`, [{ path: field, message }]);
}

/** A row of `policies`. */
export interface PolicyRow {
  id: number;
  policy_version: string;
  text: string;
  name: string | null;
  revision: string | null;
  pushed_by: string;
  pushed_at: string;
}

/** A stored policy from its row. */
export function storedPolicyFromRow(row: PolicyRow): StoredPolicy {
  const policy: StoredPolicy = { id: Number(row.id), policyVersion: row.policy_version, text: row.text, pushedBy: row.pushed_by, pushedAt: row.pushed_at };
  if (row.name !== null) policy.name = row.name;
  if (row.revision !== null) policy.revision = row.revision;
  return policy;
}

/** `policy.changed` events as the policy history lists them (the inverse of {@link policyChangedJson}). */
export function policyHistoryOf(events: readonly AuditEvent[]): PolicyHistoryEntry[] {
  return events.map((e) => ({ ...(e.data as Omit<PolicyChangeRecord, 'at' | 'actor'>), seq: e.seq, at: e.ts, actor: e.actor }));
}

/** The audit data of `policy.changed` (the actor and time go in the event's own columns). */
export function policyChangedJson(change: PolicyChangeRecord): string {
  return json({ from: change.from, to: change.to, name: change.name, revision: change.revision, cause: change.cause, source: change.source });
}

/** A read's `limit`, checked. */
export function limitOf(limit: number): number {
  if (!Number.isInteger(limit) || limit < 0) throw invalid('limit', 'must be a non-negative integer');
  return limit;
}

/** A numeric option: `fallback` when absent; ValidationError when negative, not finite, or 0 where not allowed. */
export function positive(value: number | undefined, fallback: number, name: string, allowZero: boolean): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw invalid(name, allowZero ? 'must be a non-negative number' : 'must be a positive number');
  }
  return value;
}

/** An `audit_base` row (both stores). */
export interface AuditBaseRow {
  seq: number | string;
  hash: string;
  counts: string;
  retained: string;
  archived_at: string | null;
}

/** The store's {@link AuditBase} from its row. */
export function auditBaseFromRow(row: AuditBaseRow): AuditBase {
  const base: AuditBase = {
    seq: Number(row.seq),
    hash: row.hash,
    counts: JSON.parse(row.counts) as Record<string, number>,
    retained: JSON.parse(row.retained) as Record<string, number>,
  };
  if (row.archived_at !== null) base.archivedAt = row.archived_at;
  return base;
}

/** The SELECT that {@link auditBaseFromRow} reads, from `table`. */
export function auditBaseSql(table: string): string {
  return `SELECT seq, hash, counts, retained, archived_at FROM ${table} WHERE id = 1`;
}
