/**
 * Which webhook events an audit event is, for one webhook: only its organisation's agents, only
 * the events it subscribed to. The body is built once here and signed and sent as these bytes.
 */
import type { DeliveryMapper, WebhookEvent, WebhookFormat, WebhookRecord } from '../../store/outbox.js';
import type { AuditEvent } from '../../core/types.js';
import { DEFAULT_ORG, orgOfAgentId } from '../tenant-store.js';
import { approvalLinksFor } from '../dashboard/links.js';
import { emailMessage, slackMessage, teamsMessage, type ChatEvent } from './chat-messages.js';

/** The webhook events an audit event stands for. */
export function webhookEventsOf(event: AuditEvent): WebhookEvent[] {
  switch (event.type) {
    case 'action.evaluated':
      return event.data.decision === 'denied' ? ['action.evaluated', 'action.denied'] : ['action.evaluated'];
    case 'approval.requested':
      return ['approval.requested'];
    case 'approval.approved':
      return ['action.approved'];
    case 'approval.rejected':
    case 'approval.expired':
      return ['action.denied'];
    case 'action.completed':
      return ['action.completed'];
    case 'action.failed':
      return ['action.failed'];
    default:
      return [];
  }
}

/** Options of {@link deliveryMapper}. */
export interface DeliveryMapperOptions {
  /**
   * The server's address as approvers reach it (e.g. `https://ascend.example.com`): with it,
   * `approval.requested` payloads carry signed one-click approve / reject links.
   */
  publicUrl?: () => string | undefined;
}

/** The delivery mapper the dispatcher uses. */
export function deliveryMapper(options: DeliveryMapperOptions = {}): DeliveryMapper {
  return (event, webhook) => {
    if (event.type === 'audit.checkpoint') return checkpointDelivery(event, webhook);
    if (event.agentId === null || orgOfAgentId(event.agentId) !== webhook.org) return [];
    const prefix = `${webhook.org}::`;
    const agentId = event.agentId.startsWith(prefix) ? event.agentId.slice(prefix.length) : event.agentId;
    // Action ids are qualified like agent ids: the receiver gets the id its agents know.
    const actionId = event.actionId !== null && event.actionId.startsWith(prefix) ? event.actionId.slice(prefix.length) : event.actionId;
    const base = options.publicUrl?.();
    const links =
      base !== undefined && event.type === 'approval.requested' && event.approvalId !== null
        ? approvalLinksFor(base, webhook, { approvalId: event.approvalId, expiresAt: String(event.data.expiresAt) }, Date.now())
        : undefined;
    return webhookEventsOf(event)
      .filter((name) => webhook.events.includes(name))
      .map((name) => {
        if (webhook.format !== undefined && webhook.format !== 'json') {
          const interactiveWebhookId = webhook.slackInteractive ? webhook.webhookId : undefined;
          const described: ChatEvent = { event: name, occurredAt: event.ts, agentId, actionId, approvalId: event.approvalId, actor: event.actor, data: event.data, links, interactiveWebhookId };
          return { event: name, payload: chatPayload(webhook.format, described) };
        }
        const payload = { event: name, auditSeq: event.seq, auditType: event.type, occurredAt: event.ts, agentId, actionId, approvalId: event.approvalId, actor: event.actor, data: event.data };
        return { event: name, payload: JSON.stringify(links ? { ...payload, links } : payload) };
      });
  };
}

function chatPayload(format: Exclude<WebhookFormat, 'json'>, event: ChatEvent): string {
  return JSON.stringify(format === 'slack' ? slackMessage(event) : format === 'teams' ? teamsMessage(event) : emailMessage(event));
}

/**
 * A signed checkpoint of the chain goes to the default organisation's webhooks that asked for
 * it: a copy of the chain's head kept outside the database (`ascend audit verify --against`).
 */
function checkpointDelivery(event: AuditEvent, webhook: WebhookRecord): { event: WebhookEvent; payload: string }[] {
  if (webhook.org !== DEFAULT_ORG || !webhook.events.includes('audit.checkpoint')) return [];
  const format = webhook.format ?? 'json';
  if (format !== 'json') {
    return [{ event: 'audit.checkpoint', payload: chatPayload(format, { event: 'audit.checkpoint', occurredAt: event.ts, agentId: null, actionId: null, approvalId: null, actor: event.actor, data: event.data }) }];
  }
  const payload = { event: 'audit.checkpoint', auditSeq: event.seq, auditType: event.type, occurredAt: event.ts, actor: event.actor, checkpoint: event.data };
  return [{ event: 'audit.checkpoint', payload: JSON.stringify(payload) }];
}
