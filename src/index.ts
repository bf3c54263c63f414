/**
 * ascend-sdk — governance for AI agents' tool calls.
 *
 * ```ts
 * const client = new AscendClient({ agentId: 'agent-001' });
 * const rows = await client.govern({ actionType: 'database.query', resource: 'prod', parameters: { query } }, () => db.query(query));
 * ```
 */
export { AscendClient, type AscendClientOptions, type ApprovalVerdict, type OnApprovalRequired } from './client.js';
export { governCall, isRefusal, type ApprovalAnswer, type GovernedCall, type LifecycleClient } from './govern.js';
export { terminalApprover, describePending, type TerminalApproverOptions } from './approvers/terminal.js';
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
  ApprovalTimeoutError,
  StoreError,
  NativeBindingError,
  UnwrittenRecordsError,
  NotFoundError,
  ConflictError,
  ProtocolError,
  ServerError,
  type AscendErrorCode,
  type PolicyErrorLocation,
  type NativeBindingInfo,
  type NativeBindingProblem,
  type ValidationIssue,
} from './errors.js';
export {
  Decision,
  FailMode,
  riskLevelOf,
  type ActionRequest,
  type ActionCompletedInput,
  type ActionFailedInput,
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
  type AuditVerification,
  type DecisionResult,
  type EvaluateActionInput,
  type GrantRecord,
  type OutcomeRecord,
  type PolicyDecision,
  type PolicyChangeRecord,
  type PolicyViolation,
  type StoredPolicy,
  type RegisterAgentInput,
  type RiskFactor,
  type RiskLevel,
} from './types.js';
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
export { parsePolicyCases, runPolicyCases, policyCasesJsonSchema, type PolicyCase, type PolicyCaseResult } from './engine/index.js';
export { loadPolicyFile } from './policy-file.js';
export { openSqliteStore, defaultDbPath, type SqliteStore, type SqliteStoreOptions } from './store/sqlite.js';
export type { FlushReport } from './store/batch.js';
export type { FrozenAgent } from './store/chain-view.js';
export { LivePolicy, type LivePolicyOptions, type PolicyInForce, type PolicyLoadFailure, type PolicySwitch } from './policy-live.js';
export type {
  AgentRegistrationInput,
  ApprovalDecision,
  ApprovalFilter,
  AuditQuery,
  BudgetSpend,
  BudgetUse,
  BudgetWindow,
  DurabilityOptions,
  RecordDecisionOptions,
  Store,
} from './store/store.js';
export { createLogger, type LoggingOptions } from './logging.js';
export { Redactor, REDACTED, type RedactorOptions } from './redact.js';
export { canonicalJson, callDigest } from './canonical.js';
export { HttpTransport, type HttpTransportOptions } from './transport/http.js';
export type { BreakerState, CircuitBreakerOptions } from './transport/resilience.js';
export {
  signRequest,
  verifyRequestSignature,
  verifyWebhookSignature,
  webhookSignature,
  SIGNATURE_HEADERS,
  WEBHOOK_HEADERS,
  type SignatureCheck,
  type SignableRequest,
} from './signing.js';
export type { AgentRegistration, EvaluationRequest, Transport, WebhookInput, WebhookInfo } from './transport/transport.js';
export type { SpoolEntry } from './transport/spool.js';
export { WEBHOOK_EVENTS, type WebhookEvent } from './store/outbox.js';
