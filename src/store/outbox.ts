/**
 * The webhook outbox: registered webhooks and their deliveries. Deliveries are made from the
 * audit trail (each webhook keeps a cursor: the last audit `seq` it has turned into
 * deliveries), so an event committed before a crash is delivered after it, and the cursor moves
 * in the same transaction that writes the deliveries — nothing is lost, nothing enqueued twice.
 * Replicas claim due deliveries with a lease, so each is delivered by one of them.
 */
import type { AuditEvent } from '../core/types.js';

/** Events a webhook can subscribe to. */
export const WEBHOOK_EVENTS = ['action.evaluated', 'action.approved', 'action.denied', 'action.completed', 'action.failed', 'approval.requested', 'audit.checkpoint'] as const;
/**
 * What a webhook registered without `events` receives: every event about its agents.
 * `audit.checkpoint` (signed checkpoints of the chain, for the server's default organisation)
 * is asked for by name.
 */
export const DEFAULT_WEBHOOK_EVENTS = WEBHOOK_EVENTS.filter((e) => e !== 'audit.checkpoint');
/**
 * What a message for people (`slack`, `teams`, `email`) receives without `events`: the requests
 * and how they ended (and other denials), not every call.
 */
export const DEFAULT_MESSAGE_EVENTS: readonly WebhookEvent[] = ['approval.requested', 'action.approved', 'action.denied'];
/** One of {@link WEBHOOK_EVENTS}. */
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/**
 * What a webhook's deliveries look like: `json` (Ascend's own payload, signed), or a chat
 * message for a Slack incoming webhook (`slack`, Block Kit) or a Microsoft Teams workflow
 * (`teams`, an Adaptive Card), or an email to the `mailto:` URL's recipients (`email`), with the
 * one-click approve / reject links as buttons.
 */
export const WEBHOOK_FORMATS = ['json', 'slack', 'teams', 'email'] as const;
/** One of {@link WEBHOOK_FORMATS}. */
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

/** A registered webhook. */
export interface WebhookRecord {
  webhookId: string;
  org: string;
  url: string;
  events: WebhookEvent[];
  /** What its deliveries look like; `json` when absent (webhooks made before formats existed). */
  format?: WebhookFormat;
  /**
   * `slack` only: its buttons decide inside Slack (the server's Slack app receives the press)
   * instead of opening the one-click links.
   */
  slackInteractive?: boolean;
  /** Signs each delivery (HMAC-SHA256); the customer's own secret, never derived. */
  secret: string;
  /** Signs the one-click approval links in this webhook's payloads; made by the server, never shown. */
  linkSecret?: string;
  createdAt: string;
  createdBy: string;
  disabledAt?: string;
}

/** Delivery states: `dead` after the last attempt failed (dead-lettered, kept for inspection). */
export type DeliveryStatus = 'pending' | 'delivered' | 'dead';

/** One event for one webhook. */
export interface DeliveryRecord {
  deliveryId: string;
  webhookId: string;
  event: WebhookEvent;
  auditSeq: number;
  /** The exact JSON body sent. */
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: string;
  lastError?: string;
  lastStatus?: number;
  createdAt: string;
  deliveredAt?: string;
}

/** A delivery claimed for sending, with where and how to sign it. */
export interface ClaimedDelivery extends DeliveryRecord {
  url: string;
  secret: string;
}

/** What the dispatcher makes of one audit event for one webhook: zero or more deliveries. */
export type DeliveryMapper = (event: AuditEvent, webhook: WebhookRecord) => Array<{ event: WebhookEvent; payload: string }>;

/** Persistence of webhooks and deliveries. */
export interface WebhookOutbox {
  /** Register a webhook; it receives events appended from now on. */
  createWebhook(webhook: Omit<WebhookRecord, 'disabledAt'>): Promise<WebhookRecord>;
  listWebhooks(org?: string): Promise<WebhookRecord[]>;
  getWebhook(webhookId: string): Promise<WebhookRecord | undefined>;
  /** Stop delivering to it (its history stays). NotFoundError if unknown. */
  disableWebhook(webhookId: string, now: string): Promise<WebhookRecord>;
  /** Turn audit events after each enabled webhook's cursor (at most `limit` per webhook) into deliveries. */
  enqueueDeliveries(map: DeliveryMapper, now: string, limit: number): Promise<number>;
  /** Take up to `limit` due deliveries, leased for `leaseMs` so no other dispatcher sends them meanwhile. */
  claimDeliveries(now: string, limit: number, leaseMs: number): Promise<ClaimedDelivery[]>;
  markDelivered(deliveryId: string, now: string, httpStatus: number): Promise<void>;
  /** A failed attempt: retried at `nextAttemptAt`, or dead-lettered when it is undefined. */
  markFailed(deliveryId: string, now: string, error: string, httpStatus: number | undefined, nextAttemptAt: string | undefined): Promise<void>;
  listDeliveries(filter?: { webhookId?: string; status?: DeliveryStatus; limit?: number }): Promise<DeliveryRecord[]>;
  /** Deliveries per status (for `/metrics`). */
  countDeliveries(): Promise<Record<DeliveryStatus, number>>;
  close(): Promise<void>;
}
