/**
 * Domain types shared by the engine, the store, the transports and the client.
 * Inputs that cross a public edge have zod schemas here; records built inside are plain types.
 */
import type { ArgumentEdit } from './argument-edits.js';

/** The three answers of the decision point. */
export const Decision = {
  ALLOWED: 'allowed',
  DENIED: 'denied',
  PENDING: 'pending',
} as const;
/** `'allowed' | 'denied' | 'pending'`. */
export type Decision = (typeof Decision)[keyof typeof Decision];

/** What the client does when the decision point cannot be reached. */
export const FailMode = {
  /** Block: the call throws and the tool never runs (default). */
  CLOSED: 'closed',
  /** Allow with condition `fail_open_mode`, spool the action and upload it later. */
  OPEN: 'open',
} as const;
/** `'closed' | 'open'`. */
export type FailMode = (typeof FailMode)[keyof typeof FailMode];

/** Risk levels: low < 30 ≤ medium < 70 ≤ high < 90 ≤ critical. */
export type RiskLevel = 'low' | 'medium' | 'high' | 'critical';

/** Through what a human (or a client standing in for one) answered an approval. */
export const APPROVAL_CHANNELS = ['cli', 'dashboard', 'api', 'callback', 'mcp-elicitation', 'app-ui', 'link', 'slack'] as const;
/** One of {@link APPROVAL_CHANNELS}. */
export type ApprovalChannel = (typeof APPROVAL_CHANNELS)[number];

/** One named contribution to a risk score. The score is the sum of `points`, capped at 100. */
export interface RiskFactor {
  /** Stable name, e.g. `verb_class`, `sql_write_without_where`, `rule_risk`. */
  name: string;
  /** Points this factor adds to the score (0–100). */
  points: number;
  /** Human-readable explanation, e.g. `"delete" is a destructive verb`. */
  detail: string;
}

/** Why a call is not (or would not be) allowed as asked. */
export interface PolicyViolation {
  /** Stable code: `resource_not_allowed`, `capability_missing`, `rule_denied`, `rate_limited`,
   * `risk_too_high`, `agent_blocked`, `policy_error`, `condition_error`, `default_deny`,
   * `approval_rejected`, `approval_timeout`, `approval_expired`. */
  code: string;
  message: string;
  ruleId?: string;
}

/** The call being governed, as the engine sees it. */
export interface ActionRequest {
  agentId: string;
  actionType: string;
  resource: string;
  parameters: Record<string, unknown>;
  context: Record<string, unknown>;
  requireHumanApproval: boolean;
}

/** What the policy engine decided, and why. Pure data, no identifiers of stored records. */
export interface PolicyDecision {
  decision: Decision;
  reason: string;
  riskScore: number;
  riskLevel: RiskLevel;
  riskFactors: RiskFactor[];
  matchedRules: string[];
  policyViolations: PolicyViolation[];
  requiredApprovers: string[];
  /** How long a pending approval waits for a person before it expires. */
  approvalTimeoutSeconds: number;
  /** `monitor` policies allow everything and report the would-be decision in `shadowDecision`. */
  mode: 'enforce' | 'monitor';
  shadowDecision?: Decision;
  /** Pending only: whether an MCP client's answer (elicitation) may approve it, by the policy's
   * `approvals.elicitationMaxRisk`. */
  elicitationAllowed?: boolean;
  /** The policy that decided: a hash of its file's content (`sha256:…`). Absent when no policy
   * decided (it failed to load; fail-open). */
  policyVersion?: string;
  /** The policy's `name` label, when it has one. */
  policyName?: string;
  /** The policy's `revision` label, when it has one. */
  policyRevision?: string;
}

/** The decision the client returns for one call. */
export interface DecisionResult extends PolicyDecision {
  actionId: string;
  agentId: string;
  actionType: string;
  resource: string;
  /** Set when the decision is, or was, pending a human. */
  approvalRequestId?: string;
  /** Extra facts about how the decision was reached, e.g. `fail_open_mode`, `monitor_mode`,
   * `approved`, `grant`, `approval_timeout`. */
  conditions: string[];
  /** Who approved, when an approval or a grant let the call through. */
  approvedBy?: { decidedBy: string; channel: ApprovalChannel; decidedAt: string; grantId?: string };
  /**
   * Allowed after a person edited the arguments (condition `edited`): the arguments to run with,
   * the agent's own (unredacted) with the person's edits applied. The tool must receive these,
   * not the ones it asked with; `govern()` and every integration hand them over. Never sent or
   * stored: the decision point records their redacted form.
   */
  editedParameters?: Record<string, unknown>;
  /** ISO time of the decision. */
  decidedAt: string;
}

/** An agent's registration. Empty `capabilities`/`allowedResources` mean "no restriction". */
export interface AgentRecord {
  agentId: string;
  agentName: string;
  agentType: string;
  /** Globs of action types the agent may perform. */
  capabilities: string[];
  /** Globs of resources the agent may touch. */
  allowedResources: string[];
  metadata: Record<string, unknown>;
  blocked: boolean;
  blockedReason?: string;
  registeredAt: string;
  updatedAt: string;
  /** Changes with every registration, block and unblock (the audit `seq` of the latest). A
   * decision is recorded only if the version it was made on is still current. */
  version: number;
  /** What `register()` found worth saying (e.g. a capability name the policy does not define).
   * Not stored. */
  warnings?: string[];
  /** The policy's budgets that apply to this agent and how much of each is used (server
   * answers; `ascend agents list`). Not stored. */
  budgets?: AgentBudget[];
}

/** One budget (a `limit` rule) as it stands for an agent. */
export interface AgentBudget {
  ruleId: string;
  /** `agent`: the agent's own budget; `global`: one shared by every agent (of an organisation). */
  scope: 'agent' | 'global';
  /** Calls allowed within the window. */
  count: number;
  /** The window as written, e.g. `1h`. */
  per: string;
  /** Calls counted within the window now. */
  used: number;
  /** When the oldest counted call leaves the window, freeing a unit (ISO); null when none is counted. */
  resetsAt: string | null;
}

/** A governed action and its decision, as stored. Parameters are stored redacted. */
export interface ActionRecord {
  actionId: string;
  agentId: string;
  actionType: string;
  resource: string;
  parameters: Record<string, unknown>;
  context: Record<string, unknown>;
  /** sha256 of the canonical call (agent, action type, resource, parameters before redaction). */
  digest: string;
  decision: Decision;
  reason: string;
  riskScore: number;
  riskLevel: RiskLevel;
  riskFactors: RiskFactor[];
  matchedRules: string[];
  policyViolations: PolicyViolation[];
  conditions: string[];
  approvalId?: string;
  /** The policy that decided (see {@link PolicyDecision.policyVersion}). */
  policyVersion?: string;
  policyName?: string;
  policyRevision?: string;
  createdAt: string;
}

/** How an action ended. */
export interface OutcomeRecord {
  actionId: string;
  status: 'completed' | 'failed';
  /** A short summary of the result (completed) — never the full payload. */
  result?: unknown;
  /** The error message (failed). */
  error?: string;
  durationMs: number;
  recordedAt: string;
}

/** Status of an approval request. */
export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'expired';

/** A request for a human to decide one exact call. */
export interface ApprovalRecord {
  approvalId: string;
  actionId: string;
  agentId: string;
  actionType: string;
  resource: string;
  /** Parameters with redactions applied. */
  parameters: Record<string, unknown>;
  /** The exact call this approval authorizes (see {@link ActionRecord.digest}). */
  digest: string;
  status: ApprovalStatus;
  reason: string;
  riskScore: number;
  riskLevel: RiskLevel;
  riskFactors: RiskFactor[];
  matchedRules: string[];
  requiredApprovers: string[];
  requestedAt: string;
  expiresAt: string;
  decidedAt?: string;
  decidedBy?: string;
  channel?: ApprovalChannel;
  comment?: string;
  /**
   * The changes the approver made to the arguments (edit and approve): the call runs with them
   * applied, after the policy decides the edited call again. Such an approval never lets the
   * original, unedited call run.
   */
  edits?: ArgumentEdit[];
  /** Set once the approved call has run: an approval authorizes one call. */
  consumedAt?: string;
  /** Set when the approver also granted this agent + action for a while. */
  grantId?: string;
}

/** "This agent may do this action without asking, until `expiresAt`." */
export interface GrantRecord {
  grantId: string;
  agentId: string;
  actionType: string;
  createdAt: string;
  expiresAt: string;
  createdBy: string;
  channel: ApprovalChannel;
  approvalId?: string;
  revokedAt?: string;
  revokedBy?: string;
}

/** What an API key may do on `ascend serve`. An `agent` key can never approve. */
export type ApiKeyRole = 'agent' | 'approver' | 'admin';

/** An API key as stored: the secret only as a hash (it is shown once, at creation). */
export interface ApiKeyRecord {
  /** Public part of the key (`ak_<keyId>_<secret>`), safe to log. */
  keyId: string;
  name: string;
  role: ApiKeyRole;
  /** The organisation the key acts in; it never sees another's agents, actions or approvals. */
  org: string;
  /** sha256 of the secret part, hex. */
  secretHash: string;
  /** HMAC request-signing secret, when the key signs (shown once, kept for verification). */
  signingSecret?: string;
  /** Requests with this key must be signed. */
  requireSigning: boolean;
  createdAt: string;
  createdBy: string;
  revokedAt?: string;
  revokedBy?: string;
  /**
   * An agent key bound to agents: the agent ids (globs, e.g. `billing-*`) it may act as. Absent:
   * any agent of its organisation.
   */
  agentIds?: string[];
}

/** Kinds of audit events. */
export type AuditEventType =
  | 'agent.registered'
  | 'agent.blocked'
  | 'agent.unblocked'
  | 'action.evaluated'
  | 'action.completed'
  | 'action.failed'
  | 'approval.requested'
  | 'approval.approved'
  | 'approval.rejected'
  | 'approval.expired'
  | 'approval.consumed'
  | 'grant.created'
  | 'grant.revoked'
  | 'key.created'
  | 'key.revoked'
  | 'policy.changed'
  | 'audit.checkpoint'
  | 'audit.checkpoint_key'
  | 'audit.archived';

/** A policy pushed to a server's database (`ascend policy push`): what every replica decides with. */
export interface StoredPolicy {
  /** Grows with every push: a replica only ever switches to a higher one. */
  id: number;
  policyVersion: string;
  /** The policy file's text. */
  text: string;
  name?: string;
  revision?: string;
  /** The pushing key's name. */
  pushedBy: string;
  /** ISO time. */
  pushedAt: string;
}

/** A `policy.changed` event as the policy history lists it (newest first). */
export type PolicyHistoryEntry = PolicyChangeRecord & { seq: number };

/** A decision point switched policies (audit `policy.changed`). */
export interface PolicyChangeRecord {
  /** The version decided with before; null when none had loaded. */
  from: string | null;
  /** The version in force from now on. */
  to: string;
  name?: string;
  revision?: string;
  /** What made the switch: the file changed (`file`), `SIGHUP` (`signal`), `ascend policy push` (`push`). */
  cause: 'file' | 'signal' | 'push';
  /** Where it came from: the file's path, or the key that pushed it. */
  source: string;
  /** Who or what switched: the process (`ascend serve pid 41 on web-1`), or the pushing key's name. */
  actor: string;
  /** ISO time. */
  at: string;
}

/** One row of the append-only, hash-chained audit trail. */
export interface AuditEvent {
  seq: number;
  /** ISO time. */
  ts: string;
  type: AuditEventType;
  agentId: string | null;
  actionId: string | null;
  approvalId: string | null;
  /** Who caused it: an agent id, an approver, `system`. */
  actor: string;
  data: Record<string, unknown>;
  prevHash: string;
  /** sha256(prevHash || canonical JSON of the event without `hash`), hex. */
  hash: string;
}

/** Result of recomputing the chain. */
export interface AuditVerification {
  ok: boolean;
  /** Rows checked. */
  checked: number;
  headSeq: number;
  headHash: string;
  /** Where the walk began: after seq 0 (the whole chain), or after a checkpoint's seq. */
  fromSeq: number;
  /** Events by type from seq 1 through the head (the walked rows plus the start's counts). */
  counts: Record<string, number>;
  /** The first row that does not verify, and why. */
  firstBad?: { seq: number; reason: string };
}

/**
 * A signed statement that the audit chain through event `seq`, whose hash is `hash`, verified
 * at `checkpointedAt` (`ascend audit checkpoint`). Kept in the chain itself (an
 * `audit.checkpoint` event), in files and in webhook deliveries, so copies live outside the
 * database: a chain rewritten or cut below a checkpoint no longer matches it.
 */
export interface AuditCheckpoint {
  /** Format version. */
  v: 1;
  seq: number;
  hash: string;
  /** Events by type from seq 1 through `seq`: what a verification starting here counts on. */
  counts: Record<string, number>;
  /** ISO time the chain was verified and signed. */
  checkpointedAt: string;
  /** `ck_` and 16 hex digits of the public key's sha256. */
  keyId: string;
  /** The Ed25519 public key, 32 bytes in base64. */
  publicKey: string;
  /** Ed25519 signature (base64) over the canonical JSON of the other members but `publicKey`. */
  signature: string;
}

/**
 * A verified point of the chain to start a walk from: event `seq` has hash `hash`, and the chain
 * through it held `counts` events of each type. A signed checkpoint is one.
 */
export interface ChainStart {
  seq: number;
  hash: string;
  counts: Record<string, number>;
}

/** One spooled record. */
export type SpoolEntry = { kind: 'decision'; action: ActionRecord } | { kind: 'outcome'; outcome: OutcomeRecord };

/** Level for a 0–100 score. */
export function riskLevelOf(score: number): RiskLevel {
  if (score >= 90) return 'critical';
  if (score >= 70) return 'high';
  if (score >= 30) return 'medium';
  return 'low';
}
