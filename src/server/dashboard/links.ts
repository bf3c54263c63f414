/**
 * One-click approval links for chat bots and email. An `approval.requested` webhook payload
 * carries an approve and a reject link, each bound to one approval, one verdict and one expiry,
 * and signed with a secret the server made for that webhook and never shows (so a receiver that
 * can verify deliveries still cannot mint links). A link works once: the first verdict decides
 * the approval and every other link to it then only reports what was decided.
 *
 * Opening a link shows what is asked and one button; only that button's POST decides. Link
 * previews, mail scanners and unfurling bots fetch GETs, and must never approve anything.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { WebhookRecord } from '../../store/outbox.js';

/** What a link does. */
export type LinkVerdict = 'approve' | 'reject';

/** The links put in a payload. */
export interface ApprovalLinks {
  approve: string;
  reject: string;
  /** When the links stop working (the approval's expiry, or sooner). */
  expiresAt: string;
}

/** The parts of a link, as received. */
export interface LinkParams {
  approvalId: string;
  verdict: LinkVerdict;
  webhookId: string;
  expMs: number;
  signature: string;
}

/** Longest a link lives, whatever the approval's expiry. */
export const DEFAULT_LINK_TTL_MS = 24 * 60 * 60 * 1000;

function signature(secret: string, org: string, p: Omit<LinkParams, 'signature'>): string {
  return createHmac('sha256', secret)
    .update(`ascend-approval-link-v1\n${p.webhookId}\n${org}\n${p.approvalId}\n${p.verdict}\n${p.expMs}`)
    .digest('base64url');
}

/** The path (and query) of a link. */
export function linkPath(p: LinkParams): string {
  const query = new URLSearchParams({ w: p.webhookId, exp: String(p.expMs), sig: p.signature });
  return `/ui/links/${encodeURIComponent(p.approvalId)}/${p.verdict}?${query}`;
}

/**
 * The approve and reject links of an approval for one webhook, or undefined when the webhook
 * has no link secret (made before links existed) or the approval has already expired.
 */
export function approvalLinksFor(
  baseUrl: string,
  webhook: WebhookRecord,
  approval: { approvalId: string; expiresAt: string },
  nowMs: number,
  maxTtlMs = DEFAULT_LINK_TTL_MS,
): ApprovalLinks | undefined {
  if (!webhook.linkSecret) return undefined;
  const expMs = Math.min(Date.parse(approval.expiresAt), nowMs + maxTtlMs);
  if (!(expMs > nowMs)) return undefined;
  const base = baseUrl.replace(/\/+$/, '');
  const link = (verdict: LinkVerdict): string => {
    const unsigned = { approvalId: approval.approvalId, verdict, webhookId: webhook.webhookId, expMs };
    return base + linkPath({ ...unsigned, signature: signature(webhook.linkSecret!, webhook.org, unsigned) });
  };
  return { approve: link('approve'), reject: link('reject'), expiresAt: new Date(expMs).toISOString() };
}

/** Why a link does not work, if it does not. */
export type LinkCheck = { ok: true } | { ok: false; status: 403 | 410; reason: string };

/** Check a received link against the webhook it names. */
export function checkLink(webhook: WebhookRecord | undefined, p: LinkParams, nowMs: number): LinkCheck {
  const bad: LinkCheck = { ok: false, status: 403, reason: 'This link is not valid (it was altered, or its webhook no longer exists).' };
  if (!webhook || !webhook.linkSecret) return bad;
  const expected = Buffer.from(signature(webhook.linkSecret, webhook.org, p));
  const given = Buffer.from(p.signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return bad;
  if (webhook.disabledAt) return { ok: false, status: 410, reason: 'This link no longer works: its webhook was disabled.' };
  if (p.expMs <= nowMs) return { ok: false, status: 410, reason: 'This link has expired.' };
  return { ok: true };
}
