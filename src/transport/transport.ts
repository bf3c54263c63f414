/**
 * A Transport is how the client reaches the decision point: in process (`LocalTransport`, engine
 * + Store) or over HTTP. Fail mode, logging and the lifecycle sit above it and behave the same on
 * both, so a transport only answers questions and reports failures; it never decides what to do
 * when it cannot answer.
 */
import type {
  ActionRecord,
  AgentRecord,
  ApprovalRecord,
  DecisionResult,
  OutcomeRecord,
  PolicyDecision,
} from '../core/types.js';
import type { ApprovalDecision } from '../store/store.js';
import type { WebhookFormat } from '../store/outbox.js';
import type { SpoolEntry } from '../core/types.js';
import type { AgentRegistration, EvaluationRequest } from '../decision/request.js';

/** A webhook to register. */
export interface WebhookInput {
  url: string;
  events?: string[];
  secret?: string;
  /**
   * Put signed one-click approve / reject links in `approval.requested` payloads (default
   * false). Whoever can read the payloads can then approve: turn it on only for a channel where
   * the people who may approve read them.
   */
  approvalLinks?: boolean;
  /**
   * `json` (default), or a message for people: `slack` (a Slack incoming webhook URL), `teams` (a
   * Microsoft Teams workflow webhook URL) or `email` (a `mailto:` url; the server needs
   * `--smtp-url`), with approve / reject buttons (approvalLinks defaults to true for these).
   */
  format?: WebhookFormat;
  /**
   * `slack` only: buttons that decide inside Slack, for the approvers the server names (it needs
   * its Slack app: `ASCEND_SLACK_SIGNING_SECRET` and `--slack-approvers`). Default false.
   */
  interactive?: boolean;
}

/** A registered webhook as the server describes it. */
export interface WebhookInfo {
  webhookId: string;
  url: string;
  events: string[];
  createdAt: string;
  secret?: string;
  approvalLinks?: boolean;
  format?: WebhookFormat;
  interactive?: boolean;
}

/** The decision point cannot be reached: the client applies its fail mode. */
export interface UnreachableInfo {
  /**
   * What the decision point had already decided before it failed, when it knows (the embedded
   * engine decides before it writes). A known denial is never turned into an allow.
   */
  knownDecision?: PolicyDecision;
}

/** The transport contract. Rejections are AscendErrors; see `isUnreachable` in fail-mode.ts. */
export interface Transport {
  readonly kind: 'local' | 'http' | 'platform';
  register(agent: AgentRegistration): Promise<AgentRecord>;
  /**
   * Decide one call and record the decision (and, when pending, the approval request). An
   * approved-but-unused approval or an active grant for this exact call turns pending into allowed.
   */
  evaluate(request: EvaluationRequest): Promise<DecisionResult>;
  recordOutcome(outcome: OutcomeRecord): Promise<void>;
  getAction(actionId: string): Promise<ActionRecord | undefined>;
  getApproval(approvalId: string): Promise<ApprovalRecord | undefined>;
  decideApproval(decision: Omit<ApprovalDecision, 'now'>): Promise<ApprovalRecord>;
  /** Expire a still-pending request; returns it as it now stands (a person may have won the race). */
  expireApproval(approvalId: string): Promise<ApprovalRecord>;
  /** Spend an approved request on the call with this digest, once. */
  consumeApproval(approvalId: string, digest: string): Promise<boolean>;
  /** Upload a record spooled in fail-open mode while the decision point was unreachable.
   * Idempotent: a record already present is skipped. */
  uploadFailOpen(entry: SpoolEntry): Promise<void>;
  /**
   * Long-poll: resolve with the approval once it is no longer pending, or as it stands after
   * at most `maxWaitMs`. Transports without it are polled with {@link getApproval} + {@link watch}.
   */
  awaitApproval?(approvalId: string, maxWaitMs: number, signal?: AbortSignal): Promise<ApprovalRecord | undefined>;
  /** Register a webhook (servers only). Returns it; `secret` only when the server made it. */
  configureWebhook?(input: WebhookInput): Promise<WebhookInfo>;
  /** Notified when approvals may have changed (push or poll). Returns unsubscribe. */
  watch(listener: () => void): () => void;
  flush(): Promise<void>;
  close(): Promise<void>;
}
