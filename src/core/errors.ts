/**
 * Error classes. Every error Ascend throws extends {@link AscendError} and carries a stable
 * `code` that scripts and integrations can switch on; messages are for people and may change.
 */

/** Stable machine-readable error codes. */
export type AscendErrorCode =
  | 'validation_error'
  | 'policy_error'
  | 'authentication_error'
  | 'authorization_error'
  | 'circuit_breaker_open'
  | 'connection_error'
  | 'timeout'
  | 'rate_limited'
  | 'approval_timeout'
  | 'store_error'
  | 'native_binding_unavailable'
  | 'not_found'
  | 'conflict'
  | 'protocol_error'
  | 'server_error'
  | 'audit_chain_broken'
  | 'unsupported';

/** Base class of every error thrown by Ascend. */
export class AscendError extends Error {
  /** Stable code, e.g. `policy_error`. */
  readonly code: AscendErrorCode;
  /** Structured details safe to log (never secrets). */
  readonly details: Record<string, unknown>;

  constructor(code: AscendErrorCode, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** One problem found in an input: where (`path`, dotted) and why. */
export interface ValidationIssue {
  path: string;
  message: string;
}

/**
 * Issues as a schema library reports them (a path of keys and indexes, a message), each path
 * dotted after `prefix`, or `root` when it is empty; and their one-line summary.
 */
export function validationIssues(
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>,
  options: { prefix?: string; root?: string } = {},
): { issues: ValidationIssue[]; summary: string } {
  const out = issues.map((i) => {
    const path = [...(options.prefix === undefined ? [] : [options.prefix]), ...i.path.map(String)].join('.');
    return { path: path === '' ? (options.root ?? '') : path, message: i.message };
  });
  return { issues: out, summary: issuesSummary(out) };
}

/** Issues in one line: `path: message; path: message`. */
export function issuesSummary(issues: readonly ValidationIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}

/** Bad input to a public method: names the field at fault and why. */
export class ValidationError extends AscendError {
  readonly issues: ValidationIssue[];
  constructor(message: string, issues: ValidationIssue[]) {
    super('validation_error', message, { issues });
    this.issues = issues;
  }
}

/** Where a policy problem is. `line`/`column` are 1-based when known. */
export interface PolicyErrorLocation {
  file: string;
  line?: number;
  column?: number;
  ruleId?: string;
}

/** A policy file that does not load, or a condition that cannot compile or errors at run time. */
export class PolicyError extends AscendError {
  readonly file: string;
  readonly line: number | undefined;
  readonly column: number | undefined;
  readonly ruleId: string | undefined;
  /** A short hint on how to fix it. */
  readonly fix: string | undefined;
  /** Further problems after the first, each naming its line: `line 9 (rule "b"): …`. */
  readonly otherProblems: readonly string[];
  constructor(problem: string, location: PolicyErrorLocation, fix?: string, otherProblems: readonly string[] = []) {
    const where = [location.file, location.line, location.column].filter((p) => p !== undefined).join(':');
    const rule = location.ruleId ? ` (rule "${location.ruleId}")` : '';
    const also = otherProblems.length > 0 ? `. Also ${otherProblems.join('; ')}` : '';
    super('policy_error', `${where}${rule}: ${problem}${fix ? `. Fix: ${fix}` : ''}${also}`, {
      file: location.file,
      line: location.line,
      column: location.column,
      ruleId: location.ruleId,
      fix,
    });
    this.file = location.file;
    this.line = location.line;
    this.column = location.column;
    this.ruleId = location.ruleId;
    this.fix = fix;
    this.otherProblems = otherProblems;
  }
}

/** The decision point refused the credentials. */
export class AuthenticationError extends AscendError {
  constructor(message = 'Authentication failed', details: Record<string, unknown> = {}) {
    super('authentication_error', message, details);
  }
}

/** An action was denied (by policy, by a person, or by a timeout), or a caller lacks the role. */
export class AuthorizationError extends AscendError {
  readonly decision: string | undefined;
  readonly policyViolations: ReadonlyArray<{ code: string; message: string; ruleId?: string }>;
  readonly riskScore: number | undefined;
  readonly actionId: string | undefined;
  constructor(
    message: string,
    info: {
      decision?: string;
      policyViolations?: ReadonlyArray<{ code: string; message: string; ruleId?: string }>;
      riskScore?: number;
      actionId?: string;
    } = {},
  ) {
    super('authorization_error', message, { ...info });
    this.decision = info.decision;
    this.policyViolations = info.policyViolations ?? [];
    this.riskScore = info.riskScore;
    this.actionId = info.actionId;
  }
}

/** The circuit breaker is open: the decision point is considered down. */
export class CircuitBreakerOpenError extends AscendError {
  /** Milliseconds until the breaker lets a trial call through. */
  readonly recoveryTimeMs: number;
  constructor(recoveryTimeMs: number) {
    super('circuit_breaker_open', `Circuit breaker is open; retry in ${recoveryTimeMs} ms`, { recoveryTimeMs });
    this.recoveryTimeMs = recoveryTimeMs;
  }
}

/** The decision point could not be reached. */
export class ConnectionError extends AscendError {
  constructor(message: string, options?: ErrorOptions) {
    super('connection_error', message, {}, options);
  }
}

/** An operation did not finish within its deadline. */
export class TimeoutError extends AscendError {
  readonly timeoutMs: number;
  constructor(message: string, timeoutMs: number) {
    super('timeout', message, { timeoutMs });
    this.timeoutMs = timeoutMs;
  }
}

/** The decision point asked us to slow down. */
export class RateLimitError extends AscendError {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs?: number) {
    super('rate_limited', message, { retryAfterMs });
    this.retryAfterMs = retryAfterMs;
  }
}

/** Nobody decided a pending action in time; the action is denied. */
export class ApprovalTimeoutError extends AscendError {
  readonly approvalRequestId: string;
  readonly timeoutMs: number;
  constructor(approvalRequestId: string, timeoutMs: number) {
    super('approval_timeout', `Approval ${approvalRequestId} was not decided within ${timeoutMs} ms; the action is denied`, {
      approvalRequestId,
      timeoutMs,
    });
    this.approvalRequestId = approvalRequestId;
    this.timeoutMs = timeoutMs;
  }
}

/** The local store (SQLite file) failed: cannot open, corrupt, disk full, locked too long. */
export class StoreError extends AscendError {
  constructor(message: string, options?: ErrorOptions) {
    super('store_error', message, {}, options);
  }
}

/** Why better-sqlite3's native binding could not be used. */
export type NativeBindingProblem = 'unsupported_node' | 'missing' | 'abi_mismatch' | 'load_failed';

/** What {@link NativeBindingError} knows about the binding and the running Node.js. */
export interface NativeBindingInfo {
  problem: NativeBindingProblem;
  /** The running Node.js, e.g. `v22.23.3`. */
  nodeVersion: string;
  /** Its native-module ABI (`process.versions.modules`), e.g. `127`. */
  nodeAbi: string;
  /** `process.platform`-`process.arch`, e.g. `linux-x64`. */
  platform: string;
  /** The better-sqlite3 package folder searched. */
  packageRoot: string;
  /** The binding file that failed to load, when one was found. */
  bindingPath?: string;
  /** The ABI the binding was built for, when Node.js reported it. */
  bindingAbi?: string;
  /** The loader's own first line, when the failure was neither missing nor a version mismatch. */
  loaderMessage?: string;
}

/** How to get a Node.js that better-sqlite3 runs on. */
export const NODE_VERSION_FIX = 'use Node.js 22 or 24 (`npm install node@24` in a tools folder gives one from the npm registry)';

/** How to build the binding where no prebuilt one fits. */
export const NATIVE_BINDING_FIX =
  'compile it with `npm explore better-sqlite3 -- npm run build-release` (needs python3, make and a C++ compiler; about 90 s), or reinstall with `npm ci` if the package was damaged';

/**
 * The SQLite store cannot open: this Node.js is older than better-sqlite3 supports, or
 * better-sqlite3's native binding is missing for this platform or does not load. The message
 * says which, for which Node.js and platform, and what fixes it.
 */
export class NativeBindingError extends StoreError {
  override readonly code: AscendErrorCode = 'native_binding_unavailable';
  readonly problem: NativeBindingProblem;
  /** What fixes it, in words. */
  readonly fix: string;
  constructor(info: NativeBindingInfo, options?: ErrorOptions) {
    const node = `Node.js ${info.nodeVersion} (ABI ${info.nodeAbi}, ${info.platform})`;
    const binding = info.bindingPath ? ` (${info.bindingPath})` : '';
    const fix = info.problem === 'unsupported_node' ? NODE_VERSION_FIX : NATIVE_BINDING_FIX;
    const what =
      info.problem === 'unsupported_node'
        ? `the SQLite driver (better-sqlite3) needs Node.js 22 or later; this is ${node}`
        : info.problem === 'missing'
          ? `better-sqlite3 in ${info.packageRoot} has no native binding for ${node}: no prebuilt binary for ${info.platform}, and none compiled`
          : info.problem === 'abi_mismatch'
            ? `better-sqlite3's native binding${binding} was compiled for ${info.bindingAbi ? `ABI ${info.bindingAbi}` : 'another Node.js'}, not for ${node}`
            : `better-sqlite3's native binding${binding} could not be loaded in ${node}: ${info.loaderMessage ?? 'unknown error'}`;
    super(`${what}: ${fix}`, options);
    Object.assign(this.details, info, { fix });
    this.problem = info.problem;
    this.fix = fix;
  }
}

/**
 * `batched` durability: acknowledged records a commit could not write (a full disk). They are kept
 * in memory and retried, never dropped; this says how many and which.
 */
export class UnwrittenRecordsError extends StoreError {
  /** What is still waiting: decision and outcome counts, and their action ids. */
  readonly unwritten: { decisions: number; outcomes: number; actionIds: string[] };
  constructor(message: string, unwritten: { decisions: number; outcomes: number; actionIds: string[] }, cause: unknown) {
    super(message, { cause });
    this.unwritten = unwritten;
  }
}

/** A referenced record (action, approval, grant, agent) does not exist. */
export class NotFoundError extends AscendError {
  constructor(kind: string, id: string) {
    super('not_found', `${kind} "${id}" not found`, { kind, id });
  }
}

/** The request conflicts with the record's state, e.g. approving an approval already decided. */
export class ConflictError extends AscendError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('conflict', message, details);
  }
}

/**
 * What a decision was made on changed before the decision could be recorded: the agent's
 * registration (a block, an unblock, a new registration), or an approval it meant to spend was
 * spent by another call. Nothing was recorded: decide again. The embedded transport does this
 * by itself.
 */
export class StaleDecisionError extends ConflictError {}

/**
 * The decision point answered something this client does not understand (a malformed body, an
 * unknown status). Never treated as "unreachable": fail-open does not apply, nothing runs.
 */
export class ProtocolError extends AscendError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('protocol_error', message, details);
  }
}

/**
 * The server was reached and answered that it failed on this request (an HTTP 500 in Ascend's
 * error shape). Not "unreachable": fail-open does not apply and the circuit breaker does not
 * count it, so no request — whatever a model put in it — can open the breaker or turn fail-open
 * on. An outage is what the server reports as one (a 503 `store_error`), or no answer at all.
 */
export class ServerError extends AscendError {
  /** The HTTP status. */
  readonly status: number;
  constructor(message: string, status: number, details: Record<string, unknown> = {}) {
    super('server_error', message, { ...details, status });
    this.status = status;
  }
}

/**
 * The audit chain does not verify, so it was not checkpointed or archived: a signature would
 * vouch for a broken chain. `firstBad` names the first bad row (as `ascend audit verify` does).
 */
export class AuditChainError extends AscendError {
  readonly firstBad: { seq: number; reason: string };
  constructor(message: string, firstBad: { seq: number; reason: string }) {
    super('audit_chain_broken', message, { firstBad });
    this.firstBad = firstBad;
  }
}

/**
 * The decision point does not offer this (the hosted ASCEND platform has no policy file, grants,
 * replay or audit chain of ours, and approvals are decided in its own console): thrown rather
 * than doing nothing, so no caller believes something happened that did not.
 */
export class UnsupportedError extends AscendError {
  constructor(what: string, hint: string) {
    super('unsupported', `${what} is not available with protocol "ascend-platform": ${hint}`, { what });
  }
}
