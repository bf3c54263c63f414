/**
 * ascend-sdk — governance for AI agents' tool calls.
 *
 * ```ts
 * const client = new AscendClient({ agentId: 'agent-001' });
 * const rows = await client.govern({ actionType: 'database.query', resource: 'prod', parameters: { query } }, () => db.query(query));
 * ```
 */

// The client and the governed-call lifecycle
export { AscendClient, type AscendClientOptions, type ApprovalVerdict, type OnApprovalRequired } from './client/client.js';
export { governCall, isRefusal, type ApprovalAnswer, type GovernedCall, type LifecycleClient } from './client/govern.js';
export { terminalApprover, describePending, type TerminalApproverOptions } from './client/approvers/terminal.js';
export { argumentEdits, applyEdits, type ArgumentEdit } from './core/argument-edits.js';
export type { ActionCompletedInput, ActionFailedInput, EvaluateActionInput, RegisterAgentInput } from './core/inputs.js';

// Errors: one class per failure, each with a stable `code`
export {
  AscendError,
  ValidationError,
  PolicyError,
  AuthenticationError,
  AuthorizationError,
  CircuitBreakerOpenError,
  ConnectionError,
  TimeoutError,
  RateLimitError,
  UnsupportedError,
  ApprovalTimeoutError,
  StoreError,
  NativeBindingError,
  UnwrittenRecordsError,
  NotFoundError,
  ConflictError,
  ProtocolError,
  ServerError,
  AuditChainError,
  type AscendErrorCode,
  type PolicyErrorLocation,
  type NativeBindingInfo,
  type NativeBindingProblem,
  type ValidationIssue,
} from './core/errors.js';

// Records and decisions: what is decided, stored and sent
export {
  Decision,
  FailMode,
  riskLevelOf,
  type ActionRequest,
  type ActionRecord,
  type AgentBudget,
  type AgentRecord,
  type ApiKeyRecord,
  type ApiKeyRole,
  type ApprovalChannel,
  type ApprovalRecord,
  type ApprovalStatus,
  type AuditEvent,
  type AuditEventType,
  type AuditCheckpoint,
  type AuditVerification,
  type ChainStart,
  type DecisionResult,
  type GrantRecord,
  type OutcomeRecord,
  type PolicyDecision,
  type PolicyChangeRecord,
  type PolicyViolation,
  type StoredPolicy,
  type RiskFactor,
  type RiskLevel,
} from './core/types.js';

// The policy engine (pure): loading, deciding, counting
export { parsePolicy, evaluatePolicy, policyJsonSchema, UsageTracker, GlobSet, type CompiledPolicy } from './engine/index.js';
export type {
  CompiledCondition,
  ConditionVariables,
  CompiledLimit,
  CompiledRule,
  Effect,
  EvaluationInput,
  PolicyDocument,
  RecordedDecision,
  UsageTrackerOptions,
  VelocitySample,
} from './engine/index.js';

// The policy lifecycle: files, live reload, test cases
export { loadPolicyFile, type LoadPolicyFileOptions } from './policy/file.js';
export { LivePolicy, type LivePolicyOptions, type PolicyInForce, type PolicyLoadFailure, type PolicySwitch } from './policy/live.js';
export { parsePolicyCases, runPolicyCases, policyCasesJsonSchema, type PolicyCase, type PolicyCaseResult } from './engine/index.js';

// Stores: where Ascend remembers (SQLite here; PostgreSQL from `ascend-sdk/server`)
export { openSqliteStore, defaultDbPath, type SqliteStore, type SqliteStoreOptions } from './store/sqlite.js';
export type {
  AgentRegistrationInput,
  ApprovalDecision,
  ApprovalFilter,
  ArchivePlan,
  AuditBase,
  AuditQuery,
  BudgetSpend,
  BudgetUse,
  BudgetWindow,
  ChainLockStats,
  DurabilityOptions,
  RecordDecisionOptions,
  Store,
} from './store/store.js';
export type { FlushReport } from './store/batch.js';
export type { FrozenAgent } from './store/chain-view.js';

// The audit trail over time: signed checkpoints, archives, and verification from them
export {
  createCheckpointKey,
  loadCheckpointKey,
  parseCheckpoint,
  takeCheckpoint,
  verifyAuditTrail,
  type CheckpointKey,
  type NewCheckpointKey,
  type SkippedCheckpoint,
  type TrailVerification,
  type TrailVerificationOptions,
} from './store/audit-checkpoints.js';
export {
  archiveAudit,
  verifyArchives,
  ARCHIVE_FORMAT,
  type ArchiveHeader,
  type ArchiveReport,
  type ArchiveSummary,
  type ArchivesVerification,
} from './store/audit-archives.js';

// Transports: how a client reaches a decision point
export { HttpTransport, type HttpTransportOptions } from './transport/http.js';
export type { BreakerState, CircuitBreakerOptions } from './transport/resilience.js';
export type { Transport, WebhookInput, WebhookInfo } from './transport/transport.js';
export type { AgentRegistration, EvaluationRequest } from './decision/request.js';
export type { SpoolEntry } from './core/types.js';

// Signing, webhooks, canonical JSON
export {
  signRequest,
  verifyRequestSignature,
  verifyWebhookSignature,
  webhookSignature,
  SIGNATURE_HEADERS,
  WEBHOOK_HEADERS,
  type SignatureCheck,
  type SignableRequest,
} from './core/signing.js';
export { DEFAULT_WEBHOOK_EVENTS, WEBHOOK_EVENTS, WEBHOOK_FORMATS, type WebhookEvent, type WebhookFormat } from './store/outbox.js';
export { canonicalJson } from './core/canonical.js';
export { callDigest } from './core/call-digest.js';

// Logging and redaction
export { createLogger, type LoggingOptions } from './client/logging.js';
export { Redactor, REDACTED, type RedactorOptions } from './core/redact.js';
