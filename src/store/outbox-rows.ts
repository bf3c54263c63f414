/**
 * Rows of the webhook outbox tables, the same in SQLite and PostgreSQL, and the records made
 * from them.
 */
import type { DeliveryRecord, DeliveryStatus, WebhookEvent, WebhookFormat, WebhookRecord } from './outbox.js';

export interface WebhookRow {
  webhook_id: string;
  org: string;
  url: string;
  events: string;
  secret: string;
  link_secret: string | null;
  format: string;
  slack_interactive: number | boolean;
  created_at: string;
  created_by: string;
  cursor_seq: number;
  disabled_at: string | null;
}

export interface DeliveryRow {
  delivery_id: string;
  webhook_id: string;
  event: string;
  audit_seq: number;
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  last_status: number | null;
  created_at: string;
  delivered_at: string | null;
}

/** A webhook row as its record. */
export function webhookFromRow(row: WebhookRow): WebhookRecord {
  const record: WebhookRecord = {
    webhookId: row.webhook_id,
    org: row.org,
    url: row.url,
    events: JSON.parse(row.events) as WebhookEvent[],
    secret: row.secret,
    createdAt: row.created_at,
    createdBy: row.created_by,
  };
  if (row.disabled_at !== null) record.disabledAt = row.disabled_at;
  if (row.link_secret !== null && row.link_secret !== undefined) record.linkSecret = row.link_secret;
  if (row.format !== 'json') record.format = row.format as WebhookFormat;
  if (row.slack_interactive === 1 || row.slack_interactive === true) record.slackInteractive = true;
  return record;
}

/** A delivery row as its record. */
export function deliveryFromRow(row: DeliveryRow): DeliveryRecord {
  const record: DeliveryRecord = {
    deliveryId: row.delivery_id,
    webhookId: row.webhook_id,
    event: row.event as WebhookEvent,
    auditSeq: row.audit_seq,
    payload: row.payload,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    createdAt: row.created_at,
  };
  if (row.last_error !== null) record.lastError = row.last_error;
  if (row.last_status !== null) record.lastStatus = row.last_status;
  if (row.delivered_at !== null) record.deliveredAt = row.delivered_at;
  return record;
}
