/**
 * `ascend webhooks create|list|remove`: a server's webhooks (an admin key), including chat
 * messages for Slack and Microsoft Teams with approve / reject buttons.
 */
import * as z from 'zod';
import { WEBHOOK_EVENTS, WEBHOOK_FORMATS, type WebhookFormat } from '../../store/outbox.js';
import type { CommandGroup, CommandSpec } from '../command.js';
import { UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { formatTime, jsonDocument, renderTable } from '../format.js';
import { withServer } from '../store-access.js';

const WebhookViewSchema = z.object({
  webhookId: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  format: z.enum(WEBHOOK_FORMATS).optional(),
  interactive: z.boolean().optional(),
  approvalLinks: z.boolean().optional(),
  createdAt: z.string(),
  createdBy: z.string().optional(),
  disabledAt: z.string().optional(),
  secret: z.string().optional(),
});
type WebhookView = z.output<typeof WebhookViewSchema>;

const createCommand: CommandSpec = {
  name: 'create',
  summary: 'register a webhook on the server (its signing secret is printed once)',
  details:
    '--format slack posts each approval request to a Slack incoming webhook URL as a message with Approve / Reject buttons; --format teams does the same as an Adaptive Card for a Microsoft Teams workflow webhook URL; --format email sends it to a mailto: URL\'s addresses (the server needs --smtp-url). ' +
    'The buttons are signed one-click links to the server (its --public-url): each opens a page that asks once more, and works once. ' +
    'Whoever reads the channel can press them: use a channel of the people who may approve. --no-links leaves them out.',
  options: {
    url: { type: 'string', valueName: 'URL', description: 'where to POST, or mailto:a@example.com,b@example.com with --format email (required)' },
    format: { type: 'string', valueName: 'FORMAT', description: `${WEBHOOK_FORMATS.join(' | ')} (default json)` },
    event: {
      type: 'string',
      valueName: 'EVENT',
      multiple: true,
      description: `events to send (repeat it, or a comma list; default: all but audit.checkpoint for json; approval.requested, action.approved and action.denied for slack, teams and email): ${WEBHOOK_EVENTS.join(', ')}`,
    },
    links: { type: 'boolean', description: 'one-click approve / reject links in json payloads (chat formats have them unless --no-links)' },
    'no-links': { type: 'boolean', description: 'no approve / reject buttons in a chat format' },
    interactive: { type: 'boolean', description: 'slack: the buttons decide inside Slack (the server needs its Slack app: ASCEND_SLACK_SIGNING_SECRET, --slack-approvers)' },
  },
  positionals: [],
  examples: [
    'ascend webhooks create --url https://hooks.slack.com/services/T0AB12CD3/B0EF45GH6/your-webhook-token --format slack --event approval.requested --event action.denied',
    'ascend webhooks create --url https://prod.westeurope.logic.azure.com/workflows/… --format teams',
    'ascend webhooks create --url mailto:finance@example.com,ops@example.com --format email',
  ],
  async run(ctx) {
    const url = ctx.string('url');
    if (url === undefined) throw new UsageError('--url is required', ctx.commandPath);
    const format = ctx.string('format') ?? 'json';
    if (!(WEBHOOK_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format must be one of ${WEBHOOK_FORMATS.join(', ')}`, ctx.commandPath);
    if (ctx.flag('links') && ctx.flag('no-links')) throw new UsageError('--links and --no-links contradict each other', ctx.commandPath);
    const events = ctx.strings('event').flatMap((list) => list.split(',').map((e) => e.trim())).filter((e) => e !== '');
    const body = {
      url,
      format: format as WebhookFormat,
      ...(events.length > 0 ? { events } : {}),
      ...(ctx.flag('links') ? { approvalLinks: true } : ctx.flag('no-links') ? { approvalLinks: false } : {}),
      ...(ctx.flag('interactive') ? { interactive: true } : {}),
    };
    const made = await withServer(ctx, 'A webhook', (server) => server.call('POST', '/v1/webhooks', body, WebhookViewSchema, false));
    if (ctx.json) {
      await ctx.out(jsonDocument(made));
    } else {
      const secret = made.secret === undefined ? '' : `signing secret (shown once; deliveries carry its HMAC): ${made.secret}\n`;
      await ctx.out(`registered ${made.webhookId}: ${made.format ?? 'json'} to ${made.url} (${made.events.join(', ')})${made.interactive ? ', buttons that decide in Slack' : made.approvalLinks ? ', with approve / reject links' : ''}\n${secret}`);
    }
    return ExitCode.OK;
  },
};

const listCommand: CommandSpec = {
  name: 'list',
  summary: "the server's webhooks of this key's organisation",
  options: {},
  positionals: [],
  async run(ctx) {
    const { webhooks } = await withServer(ctx, 'A webhook', (server) => server.call('GET', '/v1/webhooks', undefined, z.object({ webhooks: z.array(WebhookViewSchema) }), true));
    if (ctx.json) {
      await ctx.out(jsonDocument(webhooks));
    } else if (webhooks.length === 0) {
      await ctx.out('no webhooks\n');
    } else {
      await ctx.out(
        renderTable<WebhookView>(
          webhooks,
          [
            { header: 'ID', cell: (w) => w.webhookId },
            { header: 'FORMAT', cell: (w) => w.format ?? 'json' },
            { header: 'URL', cell: (w) => w.url, maxChars: 48 },
            { header: 'EVENTS', cell: (w) => w.events.join(','), maxChars: 48 },
            { header: 'BUTTONS', cell: (w) => (w.interactive ? 'in slack' : w.approvalLinks ? 'links' : 'none') },
            { header: 'CREATED', cell: (w) => formatTime(w.createdAt) },
            { header: 'REMOVED', cell: (w) => (w.disabledAt ? formatTime(w.disabledAt) : '') },
          ],
          ctx.style,
        ),
      );
    }
    return ExitCode.OK;
  },
};

const removeCommand: CommandSpec = {
  name: 'remove',
  summary: 'stop delivering to a webhook (its delivery history stays)',
  options: {},
  positionals: [{ name: 'ID', description: 'webhook id' }],
  async run(ctx) {
    const webhookId = ctx.arg('ID');
    const removed = await withServer(ctx, 'A webhook', (server) => server.call('DELETE', `/v1/webhooks/${encodeURIComponent(webhookId)}`, undefined, WebhookViewSchema, false));
    await ctx.out(ctx.json ? jsonDocument(removed) : `removed ${removed.webhookId} (${removed.url})\n`);
    return ExitCode.OK;
  },
};

/** `ascend webhooks …`. */
export const webhooksGroup: CommandGroup = {
  name: 'webhooks',
  summary: "register, list and remove a server's webhooks (Slack, Teams, email, or signed JSON)",
  commands: [createCommand, listCommand, removeCommand],
};
