/**
 * Deciding inside Slack: the Approve / Reject buttons of an interactive Slack webhook's message
 * send Slack's interaction request to `POST /slack/interactions`, which decides the approval in
 * place and replaces the message with who decided.
 *
 * A request counts only when Slack signed it: `X-Slack-Signature` is `v0=` + HMAC-SHA256 of
 * `v0:<timestamp>:<raw body>` under the Slack app's signing secret, and `X-Slack-Request-Timestamp`
 * is within five minutes of now (so a captured request cannot be replayed later). Anything else is
 * a 401 and decides nothing. Only the Slack users configured as approvers, or members of the user
 * groups configured (see approvers.ts), decide; anyone else gets a refusal only they see. The approval is recorded with channel `slack` and the Slack user.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as z from 'zod';
import { ConflictError } from '../../core/errors.js';
import type { WebhookOutbox } from '../../store/outbox.js';
import type { ApprovalRecord } from '../../core/types.js';
import type { OrgScope } from '../router.js';
import { postToTarget } from '../webhooks/post.js';
import type { HostResolver } from '../webhooks/address-guard.js';
import { decidedSlackMessage } from '../webhooks/chat-messages.js';
import { SlackApprovers, type SlackApproverOptions } from './approvers.js';

/** The server's Slack app: its signing secret, and who may decide (user ids and user groups). */
export interface SlackAppOptions extends SlackApproverOptions {
  /** The app's signing secret (Slack: Basic Information → App Credentials). */
  signingSecret: string;
}

/** What the routes need from the server. */
export interface SlackInteractionDeps {
  slack: SlackAppOptions;
  outbox: WebhookOutbox;
  scopeOf: (org: string) => OrgScope;
  /** Answer to `response_url`s on private addresses too (the operator's `--allow-private-webhooks`). */
  allowPrivateTargets: boolean;
  resolveHost?: HostResolver;
}

/** How far a request's timestamp may be from now. */
export const SLACK_SIGNATURE_WINDOW_S = 300;

/** The one interaction this endpoint answers: a press of one of our buttons. */
const PayloadSchema = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: z.string().min(1).max(64), username: z.string().max(256).optional(), name: z.string().max(256).optional() }),
  response_url: z.url({ protocol: /^https?$/ }).max(2048),
  actions: z
    .array(z.object({ action_id: z.enum(['ascend_approve', 'ascend_reject']), value: z.string().max(2000) }))
    .min(1),
});

/** Whether Slack signed `rawBody` at `timestamp` (seconds) with `secret`, within the window of `nowMs`. */
export function slackSignatureValid(secret: string, timestamp: string | undefined, signature: string | undefined, rawBody: string, nowMs: number): boolean {
  if (timestamp === undefined || signature === undefined || !/^\d{1,12}$/.test(timestamp)) return false;
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > SLACK_SIGNATURE_WINDOW_S) return false;
  const expected = Buffer.from(`v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${rawBody}`).digest('hex')}`);
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** `POST /slack/interactions`. */
export function slackInteractionRoutes(app: FastifyInstance, deps: SlackInteractionDeps): void {
  const approvers = new SlackApprovers(deps.slack);
  void app.register(async (scope) => {
    // The signature covers the raw body: keep it as the string Slack sent.
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) => done(null, body));
    scope.post('/slack/interactions', async (request, reply) => answer(request, reply, deps, approvers));
  });
}

async function answer(request: FastifyRequest, reply: FastifyReply, deps: SlackInteractionDeps, approvers: SlackApprovers): Promise<FastifyReply> {
  const raw = typeof request.body === 'string' ? request.body : '';
  const header = (name: string): string | undefined => {
    const value = request.headers[name];
    return typeof value === 'string' ? value : undefined;
  };
  if (!slackSignatureValid(deps.slack.signingSecret, header('x-slack-request-timestamp'), header('x-slack-signature'), raw, Date.now())) {
    request.log.warn('a Slack interaction without a valid signature was refused');
    return reply.status(401).send({ error: { code: 'unauthorized', message: 'not signed by the Slack app, or signed more than 5 minutes ago' } });
  }
  let payload: z.output<typeof PayloadSchema>;
  try {
    payload = PayloadSchema.parse(JSON.parse(new URLSearchParams(raw).get('payload') ?? ''));
  } catch {
    // Slack sends other interactions too (e.g. a message shortcut): nothing of ours to do.
    return reply.status(200).send();
  }
  const action = payload.actions[0]!;
  const say = (text: string): Promise<void> => respond(deps, payload.response_url, { response_type: 'ephemeral', replace_original: false, text }, request);
  const slash = action.value.indexOf('/'); // see slackButtonValue
  const webhookId = action.value.slice(0, Math.max(0, slash));
  const approvalId = action.value.slice(slash + 1);
  const webhook = slash > 0 ? await deps.outbox.getWebhook(webhookId) : undefined;
  if (!webhook || webhook.format !== 'slack' || !webhook.slackInteractive || webhook.disabledAt) {
    await say('This button no longer works: its webhook was removed.');
    return reply.status(200).send();
  }
  const user = payload.user.username ?? payload.user.name;
  const standing = await approvers.check(payload.user.id);
  if (standing === 'unknown') {
    request.log.warn({ slackUser: payload.user.id, approvalId }, 'could not read the Slack user groups of the approvers; nothing decided');
    await say('Ascend could not check whether you are an approver (Slack did not list the approvers\' user groups), so nothing was decided. Try again in a moment.');
    return reply.status(200).send();
  }
  if (standing === 'not-approver') {
    request.log.warn({ slackUser: payload.user.id, approvalId }, 'a Slack user who is not an approver pressed a button; nothing decided');
    await say('You are not among the approvers of this Ascend server, so nothing was decided. Ask one of them.');
    return reply.status(200).send();
  }
  const { decisionPoint, store } = deps.scopeOf(webhook.org);
  const decidedBy = `slack:${payload.user.id}${user ? ` (${user})` : ''}`;
  let decided: ApprovalRecord;
  try {
    decided = await decisionPoint.decideApproval({ approvalId, status: action.action_id === 'ascend_approve' ? 'approved' : 'rejected', decidedBy, channel: 'slack' });
  } catch (err) {
    const now = await store.getApproval(approvalId).catch(() => undefined);
    if (err instanceof ConflictError && now) {
      await say(`Already decided: ${now.status}${now.decidedBy ? ` by ${now.decidedBy}` : ''}.`);
      return reply.status(200).send();
    }
    if (!now) {
      await say('This approval request does not exist.');
      return reply.status(200).send();
    }
    throw err;
  }
  request.log.info({ approvalId, status: decided.status, slackUser: payload.user.id }, 'approval decided in Slack');
  await respond(deps, payload.response_url, { replace_original: true, ...decidedSlackMessage(decided) }, request);
  return reply.status(200).send();
}

/** Post to an interaction's `response_url` (best effort: the decision stands either way). */
async function respond(deps: SlackInteractionDeps, url: string, body: Record<string, unknown>, request: FastifyRequest): Promise<void> {
  try {
    const guard = { allowPrivateTargets: deps.allowPrivateTargets, ...(deps.resolveHost ? { resolveHost: deps.resolveHost } : {}) };
    const status = await postToTarget(url, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) }, guard);
    if (status < 200 || status >= 300) throw new Error(`response_url answered ${status}`);
  } catch (err) {
    request.log.warn({ err: { message: err instanceof Error ? err.message : String(err) } }, 'could not update the Slack message');
  }
}
