/**
 * Webhooks of an organisation (admin keys): register, list, disable, and inspect deliveries —
 * dead-lettered ones included.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import * as z from 'zod';
import { NotFoundError, ValidationError } from '../../core/errors.js';
import { privateTargetReason, type HostResolver } from '../webhooks/address-guard.js';
import { mailtoRecipients } from '../webhooks/mailer.js';
import { DEFAULT_MESSAGE_EVENTS, DEFAULT_WEBHOOK_EVENTS, WEBHOOK_EVENTS, WEBHOOK_FORMATS, type WebhookOutbox, type WebhookRecord } from '../../store/outbox.js';
import { ROLES } from '../api-keys.js';
import type { Router } from '../router.js';

const WebhookParams = z.object({ webhookId: z.string().min(1).max(256) });

/** POST /v1/webhooks */
const HttpUrl = z.url({ protocol: /^https?$/, error: 'url must be an http(s) URL' });
/** An address as people write them; the SMTP server has the last word. */
const EMAIL_ADDRESS = /^[^\s@,<>"]+@[^\s@,<>"]+\.[^\s@,<>"]+$/;
/** Most recipients of one email webhook. */
const MAX_RECIPIENTS = 20;

export const WebhookRequestSchema = z
  .object({
    /** An http(s) URL; for `format: "email"`, `mailto:` and up to 20 comma-separated addresses. */
    url: z
      .string()
      .max(2048)
      .refine((url) => url.startsWith('mailto:') || HttpUrl.safeParse(url).success, 'url must be an http(s) URL (or mailto:… with format "email")'),
    /** Default: every event but `audit.checkpoint` for `json`; requests and their ends for messages to people. */
    events: z.array(z.enum(WEBHOOK_EVENTS)).min(1, 'subscribe to at least one event').optional(),
    /** Your signing secret (at least 16 characters); omit it and one is made and shown once. */
    secret: z.string().min(16, 'secret must be at least 16 characters').max(256).optional(),
    /**
     * `json` (default): Ascend's payload. `slack`: a Block Kit message for a Slack incoming
     * webhook URL. `teams`: an Adaptive Card for a Microsoft Teams workflow webhook URL. `email`:
     * an email to the `mailto:` url's addresses (the server needs `--smtp-url`).
     */
    format: z.enum(WEBHOOK_FORMATS).default('json'),
    /**
     * Signed one-click approve / reject links in `approval.requested` payloads — buttons, in a
     * message for people. Default: on for `slack`, `teams` and `email`, off for `json`. Whoever reads the
     * payloads can approve with them.
     */
    approvalLinks: z.boolean().optional(),
    /**
     * `slack` only: buttons that decide inside Slack — the webhook URL must belong to the Slack
     * app whose interactivity goes to this server's `/slack/interactions`, and the server must know
     * that app (`ASCEND_SLACK_SIGNING_SECRET`). Default false: the buttons open one-click links.
     */
    interactive: z.boolean().default(false),
  })
  .superRefine((body, ctx) => {
    if (body.format === 'email') {
      const recipients = body.url.startsWith('mailto:') ? mailtoRecipients(body.url) : [];
      const bad = recipients.find((address) => !EMAIL_ADDRESS.test(address));
      if (recipients.length === 0 || recipients.length > MAX_RECIPIENTS || bad !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['url'], message: `an email webhook's url is mailto: and 1–${MAX_RECIPIENTS} addresses, e.g. mailto:finance@example.com,ops@example.com${bad ? ` ("${bad}" is not an address)` : ''}` });
      }
    } else if (body.url.startsWith('mailto:')) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'url must be an http(s) URL: a mailto: url needs format "email"' });
    }
  });

const WebhookViewSchema = z.object({
  webhookId: z.string(),
  org: z.string(),
  url: z.string(),
  events: z.array(z.enum(WEBHOOK_EVENTS)),
  format: z.enum(WEBHOOK_FORMATS),
  /** Its Slack buttons decide inside Slack. */
  interactive: z.boolean(),
  createdAt: z.string(),
  createdBy: z.string(),
  disabledAt: z.string().optional(),
  /** Whether `approval.requested` payloads carry one-click links. */
  approvalLinks: z.boolean(),
  /** Only in the answer to its creation, when Ascend made it. */
  secret: z.string().optional(),
});

const DeliverySchema = z.object({
  deliveryId: z.string(),
  webhookId: z.string(),
  event: z.string(),
  auditSeq: z.number(),
  status: z.enum(['pending', 'delivered', 'dead']),
  attempts: z.number(),
  nextAttemptAt: z.string(),
  lastError: z.string().optional(),
  lastStatus: z.number().optional(),
  createdAt: z.string(),
  deliveredAt: z.string().optional(),
});

function view(webhook: WebhookRecord): z.output<typeof WebhookViewSchema> {
  const { secret: _secret, linkSecret, slackInteractive, ...rest } = webhook;
  return { ...rest, format: webhook.format ?? 'json', interactive: slackInteractive === true, approvalLinks: linkSecret !== undefined };
}

/** Options of the webhook routes. */
export interface WebhookRouteOptions {
  /** Allow targets on private, loopback and link-local addresses (an operator's choice). */
  allowPrivateTargets: boolean;
  /** Resolves target host names (default: the system resolver). */
  resolveHost?: HostResolver;
  /** Whether the server knows a Slack app (interactive Slack webhooks need it). */
  slackApp: boolean;
  /** Whether the server can send email (email webhooks need it). */
  email: boolean;
}

export function webhookRoutes(router: Router, outbox: WebhookOutbox, onChange: () => void, options: WebhookRouteOptions): void {
  const mine = async (org: string, webhookId: string): Promise<WebhookRecord> => {
    const webhook = await outbox.getWebhook(webhookId);
    if (!webhook || webhook.org !== org) throw new NotFoundError('webhook', webhookId);
    return webhook;
  };

  router.add({
    method: 'POST',
    url: '/v1/webhooks',
    summary: 'Register a webhook for this organisation: signed deliveries of the chosen events, retried, dead-lettered after the last try',
    roles: ROLES.admin,
    what: 'configure webhooks',
    body: WebhookRequestSchema,
    response: WebhookViewSchema,
    async handler(ctx) {
      if (ctx.body.format === 'email' && !options.email) {
        throw new ValidationError('this server sends no email', [{ path: 'body.format', message: 'start the server with --smtp-url (or ASCEND_SMTP_URL) to use "email"' }]);
      }
      if (!options.allowPrivateTargets && ctx.body.format !== 'email') {
        const reason = await privateTargetReason(ctx.body.url, options.resolveHost);
        if (reason !== undefined) {
          throw new ValidationError(`Webhook targets must be public addresses: ${reason} (the operator can allow private ones with --allow-private-webhooks)`, [
            { path: 'body.url', message: 'not a public address (private, loopback, link-local or reserved)' },
          ]);
        }
      }
      if (ctx.body.interactive && ctx.body.format !== 'slack') {
        throw new ValidationError('interactive buttons are a Slack feature', [{ path: 'body.interactive', message: 'only with format "slack"' }]);
      }
      if (ctx.body.interactive && !options.slackApp) {
        throw new ValidationError('this server knows no Slack app, so a button pressed in Slack could not be checked', [
          { path: 'body.interactive', message: 'start the server with ASCEND_SLACK_SIGNING_SECRET and --slack-approvers, or leave interactive off (link buttons)' },
        ]);
      }
      const made = ctx.body.secret === undefined ? randomBytes(32).toString('base64url') : undefined;
      const webhook = await outbox.createWebhook({
        webhookId: randomUUID(),
        org: ctx.caller.org,
        url: ctx.body.url,
        events: ctx.body.events ?? [...(ctx.body.format === 'json' ? DEFAULT_WEBHOOK_EVENTS : DEFAULT_MESSAGE_EVENTS)],
        secret: ctx.body.secret ?? made!,
        ...(ctx.body.format !== 'json' ? { format: ctx.body.format } : {}),
        ...(ctx.body.interactive ? { slackInteractive: true } : {}),
        ...((ctx.body.approvalLinks ?? ctx.body.format !== 'json') ? { linkSecret: randomBytes(32).toString('base64url') } : {}),
        createdAt: new Date().toISOString(),
        createdBy: ctx.caller.key.name,
      });
      onChange();
      return made ? { ...view(webhook), secret: made } : view(webhook);
    },
  });

  router.add({
    method: 'GET',
    url: '/v1/webhooks',
    summary: "This organisation's webhooks (secrets are never shown again)",
    roles: ROLES.admin,
    what: 'list webhooks',
    response: z.object({ webhooks: z.array(WebhookViewSchema) }),
    async handler(ctx) {
      return { webhooks: (await outbox.listWebhooks(ctx.caller.org)).map(view) };
    },
  });

  router.add({
    method: 'DELETE',
    url: '/v1/webhooks/:webhookId',
    summary: 'Stop delivering to a webhook (its delivery history stays)',
    roles: ROLES.admin,
    what: 'remove webhooks',
    params: WebhookParams,
    response: WebhookViewSchema,
    async handler(ctx) {
      await mine(ctx.caller.org, ctx.params.webhookId);
      return view(await outbox.disableWebhook(ctx.params.webhookId, new Date().toISOString()));
    },
  });

  router.add({
    method: 'GET',
    url: '/v1/webhooks/:webhookId/deliveries',
    summary: 'Deliveries of a webhook, newest first; status=dead lists the dead-lettered',
    roles: ROLES.admin,
    what: 'inspect webhook deliveries',
    params: WebhookParams,
    query: z.object({ status: z.enum(['pending', 'delivered', 'dead']).optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) }),
    response: z.object({ deliveries: z.array(DeliverySchema) }),
    async handler(ctx) {
      await mine(ctx.caller.org, ctx.params.webhookId);
      const deliveries = await outbox.listDeliveries({ webhookId: ctx.params.webhookId, limit: ctx.query.limit, ...(ctx.query.status ? { status: ctx.query.status } : {}) });
      return { deliveries: deliveries.map(({ payload: _payload, ...rest }) => rest) };
    },
  });
}
