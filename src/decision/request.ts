/**
 * What a decision point is asked: one call to decide (with what only the client knows: the
 * unredacted arguments and their digest), or an agent to register.
 */
import type { AgentRecord } from '../core/types.js';

/** One call to decide: the caller's request plus what only the client knows. */
export interface EvaluationRequest {
  agentId: string;
  actionType: string;
  resource: string;
  /** Parameters exactly as the tool will receive them (used for the digest and detectors). */
  parameters: Record<string, unknown>;
  /** The same, with redactions applied: what is stored, logged and sent. */
  redactedParameters: Record<string, unknown>;
  /** `callDigest` of the exact call (unredacted): what an approval is bound to. */
  digest: string;
  context: Record<string, unknown>;
  requireHumanApproval: boolean;
  /**
   * The action id to record the decision under, chosen by the caller so a retried request is
   * recognised (the HTTP `Idempotency-Key`): when an action with this id exists, its recorded
   * decision is returned and nothing new is recorded. Default: a fresh UUID.
   */
  actionId?: string;
  /**
   * This call is a pending call as a person edited it (edit and approve): the approval they
   * approved with edits, and the original call's digest it is bound to. The decision point
   * checks that the call's redacted arguments are the recorded ones with the edits applied,
   * decides the edited call by the policy again, and spends the approval with an allow.
   */
  editOf?: { approvalId: string; digest: string };
}

/** Registration as sent to the decision point: the agent's record without what the store keeps of it. */
export type AgentRegistration = Pick<AgentRecord, 'agentId' | 'agentName' | 'agentType' | 'capabilities' | 'allowedResources' | 'metadata'>;
