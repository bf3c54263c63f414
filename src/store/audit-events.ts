/**
 * Every audit event a store appends, built in one place: its columns and its data (canonical
 * JSON). The SQLite and PostgreSQL stores must write the same bytes for the same operation, or
 * their hash chains would disagree; each store only decides *when* to append (inside which
 * transaction), never *what*. `test/store/postgres.test.ts` checks both chains byte for byte.
 */
import type { ActionRecord, ApiKeyRecord, AuditCheckpoint, ApprovalChannel, ApprovalRecord, GrantRecord, OutcomeRecord, PolicyChangeRecord } from '../core/types.js';
import type { NewAuditEvent } from './audit-chain.js';
import { approvalJson, grantJson, json, policyChangedJson } from './records.js';
import type { AgentRegistrationInput } from './store.js';
import type { ArgumentEdit } from '../core/argument-edits.js';

/** One event to append: its columns and its data. */
export interface AuditEntry {
  event: NewAuditEvent;
  data: string;
}

/** The approval an event is about, as the stores' rows name it. */
export interface ApprovalRef {
  approvalId: string;
  agentId: string;
  actionId: string;
}

/** `agent.registered`: the registration (without its id, which is the event's agent). */
export function agentRegistered(agent: AgentRegistrationInput, ts: string, columns: { capabilities: string; allowedResources: string; metadata: string }): AuditEntry {
  return {
    event: { ts, type: 'agent.registered', agentId: agent.agentId, actionId: null, approvalId: null, actor: agent.agentId },
    data:
      `{"agentName":${json(agent.agentName)},"agentType":${json(agent.agentType)},` +
      `"allowedResources":${columns.allowedResources},"capabilities":${columns.capabilities},"metadata":${columns.metadata}}`,
  };
}

/** `agent.blocked` / `agent.unblocked` (the kill switch); `created` when the agent was unknown. */
export function agentBlockChanged(agentId: string, blocked: boolean, reason: string, actor: string, ts: string, created: boolean): AuditEntry {
  return {
    event: { ts, type: blocked ? 'agent.blocked' : 'agent.unblocked', agentId, actionId: null, approvalId: null, actor },
    data: json({ created: created ? true : undefined, reason }),
  };
}

/** `action.evaluated`, whose data is the action record (`recordJson`, written once). */
export function actionEvaluated(action: ActionRecord, recordJson: string, ts: string): AuditEntry {
  return {
    event: { ts, type: 'action.evaluated', agentId: action.agentId, actionId: action.actionId, approvalId: action.approvalId ?? null, actor: action.agentId },
    data: recordJson,
  };
}

/** `action.completed` / `action.failed`, whose data is the outcome record; `agentId`: the action's. */
export function actionOutcome(outcome: OutcomeRecord, recordJson: string, ts: string, agentId: string): AuditEntry {
  return {
    event: { ts, type: outcome.status === 'failed' ? 'action.failed' : 'action.completed', agentId, actionId: outcome.actionId, approvalId: null, actor: agentId },
    data: recordJson,
  };
}

/** `approval.requested`, whose data is the new request. */
export function approvalRequested(approval: ApprovalRecord, requestedAt: string): AuditEntry {
  return {
    event: { ts: requestedAt, type: 'approval.requested', agentId: approval.agentId, actionId: approval.actionId, approvalId: approval.approvalId, actor: approval.agentId },
    data: approvalJson(approval),
  };
}

/** What a person decided about an approval request. */
export interface ApprovalVerdict {
  status: 'approved' | 'rejected';
  decidedBy: string;
  channel: ApprovalChannel;
  claimedChannel?: ApprovalChannel | undefined;
  comment?: string | undefined;
  grantId?: string | undefined;
  edits?: ArgumentEdit[] | undefined;
}

/** `approval.approved` / `approval.rejected`. */
export function approvalDecided(approval: ApprovalRef, verdict: ApprovalVerdict, ts: string): AuditEntry {
  const { status, decidedBy, channel } = verdict;
  return {
    event: { ts, type: status === 'approved' ? 'approval.approved' : 'approval.rejected', agentId: approval.agentId, actionId: approval.actionId, approvalId: approval.approvalId, actor: decidedBy },
    data: json({ channel, claimedChannel: verdict.claimedChannel, comment: verdict.comment, decidedAt: ts, decidedBy, edits: verdict.edits, grantId: verdict.grantId, status }),
  };
}

/** `grant.created`, made with an approval (same columns as its `approval.approved`). */
export function grantCreated(approval: ApprovalRef, grant: GrantRecord, decidedBy: string, ts: string): AuditEntry {
  return {
    event: { ts, type: 'grant.created', agentId: approval.agentId, actionId: approval.actionId, approvalId: approval.approvalId, actor: decidedBy },
    data: grantJson(grant),
  };
}

/** `approval.consumed`: the approved call ran (bound to its digest). */
export function approvalConsumed(approval: ApprovalRef, digest: string, ts: string): AuditEntry {
  return {
    event: { ts, type: 'approval.consumed', agentId: approval.agentId, actionId: approval.actionId, approvalId: approval.approvalId, actor: approval.agentId },
    data: json({ consumedAt: ts, digest }),
  };
}

/** `approval.expired`, by the system. */
export function approvalExpired(approval: ApprovalRef, expiresAt: string, ts: string, why: string): AuditEntry {
  return {
    event: { ts, type: 'approval.expired', agentId: approval.agentId, actionId: approval.actionId, approvalId: approval.approvalId, actor: 'system' },
    data: json({ expiresAt, reason: why }),
  };
}

/** `grant.revoked`. */
export function grantRevoked(grant: { grantId: string; agentId: string; approvalId: string | null; actionType: string }, actor: string, ts: string): AuditEntry {
  return {
    event: { ts, type: 'grant.revoked', agentId: grant.agentId, actionId: null, approvalId: grant.approvalId, actor },
    data: json({ actionType: grant.actionType, grantId: grant.grantId, revokedAt: ts, revokedBy: actor }),
  };
}

/** `key.created`: never a secret, only whether the key signs. */
export function keyCreated(key: ApiKeyRecord, ts: string): AuditEntry {
  return {
    event: { ts, type: 'key.created', agentId: null, actionId: null, approvalId: null, actor: key.createdBy },
    data: json({ keyId: key.keyId, name: key.name, role: key.role, org: key.org, signs: key.signingSecret !== undefined, requireSigning: key.requireSigning, agentIds: key.agentIds }),
  };
}

/** `key.revoked`. */
export function keyRevoked(key: { keyId: string; name: string; role: string; org: string }, actor: string, ts: string): AuditEntry {
  return {
    event: { ts, type: 'key.revoked', agentId: null, actionId: null, approvalId: null, actor },
    data: json({ keyId: key.keyId, name: key.name, role: key.role, org: key.org, revokedAt: ts }),
  };
}

/** `policy.changed`: a decision point switched policies (or one was pushed). */
export function policyChanged(change: PolicyChangeRecord, ts: string): AuditEntry {
  return {
    event: { ts, type: 'policy.changed', agentId: null, actionId: null, approvalId: null, actor: change.actor },
    data: policyChangedJson(change),
  };
}

/** `audit.checkpoint`: the signed checkpoint, whole (webhooks carry it out of the database). */
export function checkpointRecorded(checkpoint: AuditCheckpoint, actor: string, ts: string): AuditEntry {
  return {
    event: { ts, type: 'audit.checkpoint', agentId: null, actionId: null, approvalId: null, actor },
    data: json(checkpoint),
  };
}

/** `audit.checkpoint_key`: a public key whose checkpoints this trail trusts. */
export function checkpointKeyRegistered(key: { keyId: string; publicKey: string }, actor: string, ts: string): AuditEntry {
  return {
    event: { ts, type: 'audit.checkpoint_key', agentId: null, actionId: null, approvalId: null, actor },
    data: json({ keyId: key.keyId, publicKey: key.publicKey }),
  };
}

/** `audit.archived`: the events through `throughSeq` were written to an archive and removed from the live store. */
export function auditArchived(archive: { afterSeq: number; throughSeq: number; throughHash: string; events: number }, actor: string, ts: string): AuditEntry {
  return {
    event: { ts, type: 'audit.archived', agentId: null, actionId: null, approvalId: null, actor },
    data: json({ afterSeq: archive.afterSeq, events: archive.events, throughHash: archive.throughHash, throughSeq: archive.throughSeq }),
  };
}
