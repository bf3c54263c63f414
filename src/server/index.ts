/**
 * `ascend-sdk/server`: run the HTTP API in your own process (the `ascend serve` command uses the
 * same pieces).
 */
export { buildServer, type AscendServer, type AscendServerOptions } from './app.js';
export { startServer, type RunningServer, type StartServerOptions } from './serve.js';
export { generateApiKey, keyIdOf, type ApiKeySpec, type NewApiKey } from './api-keys.js';
export { parseDatabaseTarget, openDatabase, type DatabaseTarget } from './database.js';
export { DEFAULT_ORG, qualifyAgentId, orgOfAgentId } from './tenant-store.js';
export type { DashboardOptions } from './app.js';
export type { NonceStore } from './nonces.js';
export type { PushedPolicyFollower } from './policy-follower.js';
export type { ServerPolicy } from './policy-status.js';
export type { WebhookDispatcherOptions } from './webhooks/dispatcher.js';
export type { ClaimedDelivery, DeliveryMapper, DeliveryRecord, DeliveryStatus, WebhookFormat, WebhookOutbox, WebhookRecord } from '../store/outbox.js';
export type { DeliveryMapperOptions } from './webhooks/events.js';
export type { HostResolver } from './webhooks/address-guard.js';
export type { SlackAppOptions } from './slack/interactions.js';
export type { SlackApproverOptions } from './slack/approvers.js';
export { SmtpMailer, type EmailMessage, type SmtpOptions } from './webhooks/mailer.js';
export type { LocalSignIn } from './dashboard/routes.js';
