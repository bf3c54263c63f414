/**
 * The dashboard's own routes: its page and static files, signing in and out, the local sign-in
 * link of `ascend ui`, and the pages behind one-click approval links. Everything the dashboard
 * shows comes from the `/v1` API, which accepts the session cookie (see `auth.ts`).
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as z from 'zod';
import { AuthenticationError, AuthorizationError, ConflictError } from '../../core/errors.js';
import type { WebhookOutbox } from '../../store/outbox.js';
import type { ApiKeyAuthenticator } from '../api-keys.js';
import type { RequestAuthenticator } from '../auth.js';
import { parseWire } from '../http-errors.js';
import type { OrgScope } from '../router.js';
import { PAGE_SECURITY_HEADERS, type Asset } from './assets.js';
import { checkLink, linkPath, type LinkParams } from './links.js';
import { confirmPage, messagePage, refusalPage, statusPage } from './link-page.js';
import { sessionCookie, type Session, type SessionCodec } from './sessions.js';

/** `ascend ui`'s sign-in link: whoever opens it (on this machine) signs in as `name`. */
export interface LocalSignIn {
  token: string;
  name: string;
}

/** What the dashboard routes need from the server. */
export interface DashboardDeps {
  assets: Map<string, Asset>;
  sessions: SessionCodec;
  keys: ApiKeyAuthenticator;
  auth: RequestAuthenticator;
  scopeOf(org: string): OrgScope;
  /** Where webhooks live (one-click links need their secrets); without it, links are refused. */
  outbox?: WebhookOutbox;
  localSignIn?: LocalSignIn;
  /** Mark cookies `Secure` (the server is reached over https). */
  secureCookies: boolean;
}

const SignInBody = z.object({ apiKey: z.string().min(1, 'paste an API key').max(200) });
const LinkParamsSchema = z.object({ approvalId: z.string().min(1).max(256), verdict: z.enum(['approve', 'reject']) });
const LinkQuerySchema = z.object({ w: z.string().min(1).max(256), exp: z.coerce.number().int().positive(), sig: z.string().min(1).max(128) });
const LinkFormSchema = z.object({ comment: z.string().max(4096).optional() });

/** Register the dashboard on `app`. */
export function dashboardRoutes(app: FastifyInstance, deps: DashboardDeps): void {
  const sendAsset = (reply: FastifyReply, request: FastifyRequest, asset: Asset): FastifyReply => {
    void reply.headers(PAGE_SECURITY_HEADERS).header('content-type', asset.contentType).header('etag', asset.etag).header('cache-control', 'no-cache').header('vary', 'accept-encoding');
    if (request.headers['if-none-match'] === asset.etag) return reply.status(304).send();
    if (/\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) return reply.header('content-encoding', 'gzip').send(asset.gzipped);
    return reply.send(asset.body);
  };

  app.get('/', async (request, reply) => {
    const index = deps.assets.get('index.html');
    if (!index) return reply.status(404).send({ error: { code: 'not_found', message: 'The dashboard files are missing from this installation' } });
    return sendAsset(reply, request, index);
  });

  app.get<{ Params: { file: string } }>('/ui/assets/:file', async (request, reply) => {
    const asset = deps.assets.get(request.params.file);
    if (!asset || request.params.file === 'index.html') {
      return reply.status(404).send({ error: { code: 'not_found', message: `No dashboard file ${request.params.file}` } });
    }
    return sendAsset(reply, request, asset);
  });

  const sessionAnswer = (session: Session) => ({
    name: session.name,
    role: session.role,
    org: session.org,
    csrfToken: deps.sessions.csrfToken(session),
    expiresAt: new Date(session.expiresAtMs).toISOString(),
  });

  // Who is signed in (and the CSRF token the page sends with every change).
  app.get('/ui/session', async (request, reply) => {
    void reply.header('cache-control', 'no-store');
    const caller = await deps.auth.authenticate({ method: 'GET', url: request.url, headers: withoutAuthorization(request), rawBody: undefined });
    if (!caller.session) throw new AuthenticationError('Not signed in');
    return sessionAnswer(caller.session);
  });

  app.post('/ui/session', async (request, reply) => {
    deps.auth.checkOrigin(request.headers);
    const { apiKey } = parseWire(SignInBody, request.body, 'body');
    const key = await deps.keys.authenticate(`Bearer ${apiKey.trim()}`);
    if (key.role === 'agent') {
      throw new AuthorizationError('An agent key cannot sign in to the dashboard: use an approver or admin key', {});
    }
    deps.auth.refuseSessionIfSigningRequired(key);
    const { value, session } = deps.sessions.issue({ keyId: key.keyId, name: key.name, role: key.role, org: key.org });
    request.log.info({ keyId: key.keyId, name: key.name, org: key.org }, 'dashboard sign-in');
    void reply.header('set-cookie', sessionCookie(value, deps.sessions.ttlMs, deps.secureCookies)).header('cache-control', 'no-store');
    return sessionAnswer(session);
  });

  app.post('/ui/session/end', async (request, reply) => {
    const caller = await deps.auth.authenticate({ method: 'POST', url: request.url, headers: withoutAuthorization(request), rawBody: undefined });
    if (caller.session) await deps.auth.endSession(caller.session);
    return reply.header('set-cookie', sessionCookie('', 0, deps.secureCookies)).status(204).send();
  });

  app.get<{ Querystring: { token?: string } }>('/ui/login', async (request, reply) => {
    void reply.headers(PAGE_SECURITY_HEADERS).header('cache-control', 'no-store');
    const local = deps.localSignIn;
    const given = Buffer.from(String(request.query.token ?? ''));
    if (!local || given.length !== Buffer.byteLength(local.token) || !timingSafeEqual(given, Buffer.from(local.token))) {
      return reply.status(401).type('text/html; charset=utf-8').send(messagePage('Sign-in link not valid', 'This sign-in link is not valid: use the one `ascend ui` printed, or sign in with an approver key.'));
    }
    const { value } = deps.sessions.issue({ name: local.name, role: 'admin', org: 'default' });
    return reply.header('set-cookie', sessionCookie(value, deps.sessions.ttlMs, deps.secureCookies)).redirect('/', 303);
  });

  // One-click links take a form post (the confirmation button), so this scope parses forms.
  void app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
    scope.get('/ui/links/:approvalId/:verdict', async (request, reply) => answerLink(request, reply, false));
    scope.post('/ui/links/:approvalId/:verdict', async (request, reply) => answerLink(request, reply, true));
  });

  async function answerLink(request: FastifyRequest, reply: FastifyReply, decide: boolean): Promise<FastifyReply> {
    void reply.headers(PAGE_SECURITY_HEADERS).header('cache-control', 'no-store').type('text/html; charset=utf-8');
    const params = LinkParamsSchema.safeParse(request.params);
    const query = LinkQuerySchema.safeParse(request.query);
    if (!params.success || !query.success) return reply.status(400).send(refusalPage('This link is incomplete: open the whole link from the message.'));
    const link: LinkParams = { approvalId: params.data.approvalId, verdict: params.data.verdict, webhookId: query.data.w, expMs: query.data.exp, signature: query.data.sig };
    const webhook = deps.outbox ? await deps.outbox.getWebhook(link.webhookId) : undefined;
    const check = checkLink(webhook, link, Date.now());
    if (!check.ok) return reply.status(check.status).send(refusalPage(check.reason));
    const { decisionPoint, store } = deps.scopeOf(webhook!.org);
    const approval = await store.getApproval(link.approvalId);
    if (!approval) return reply.status(404).send(refusalPage('This approval request does not exist.'));
    if (approval.status !== 'pending') return reply.status(409).send(statusPage(approval, 'Already decided'));
    if (!decide) return reply.send(confirmPage(approval, link.verdict, linkPath(link)));
    const form = LinkFormSchema.safeParse(request.body ?? {});
    // Refused rather than dropped: the person meant the comment to be on the record.
    if (!form.success) return reply.status(400).send(refusalPage('The comment is too long (at most 4096 characters): go back, shorten it and send again.'));
    const comment = form.data.comment?.trim();
    try {
      const decided = await decisionPoint.decideApproval({
        approvalId: link.approvalId,
        status: link.verdict === 'approve' ? 'approved' : 'rejected',
        // Whoever holds the link decides; the record says it was the link of this webhook.
        decidedBy: `one-click link (webhook ${link.webhookId})`,
        channel: 'link',
        ...(comment ? { comment } : {}),
      });
      request.log.info({ approvalId: link.approvalId, status: decided.status, webhookId: link.webhookId }, 'approval decided through a one-click link');
      return reply.send(statusPage(decided, decided.status === 'approved' ? 'Approved' : 'Rejected'));
    } catch (err) {
      if (err instanceof ConflictError) {
        const now = await store.getApproval(link.approvalId);
        if (now) return reply.status(409).send(statusPage(now, 'Already decided'));
      }
      throw err;
    }
  }
}

/** A session route reads only the cookie, even if a key is also sent. */
function withoutAuthorization(request: FastifyRequest): FastifyRequest['headers'] {
  const { authorization: _ignored, ...headers } = request.headers;
  return headers;
}
