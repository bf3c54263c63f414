/**
 * HMAC-SHA256 request signing, shared by the HTTP transport (signs) and `ascend serve`
 * (verifies). What is signed: the method, the path with its query, a timestamp, a nonce and the
 * sha256 of the exact body bytes sent — not a re-serialisation, and bodiless requests too, so a
 * signature cannot be moved to another route, replayed later, or kept across a changed body.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Header names (lower case, as Node reports them). */
export const SIGNATURE_HEADERS = {
  timestamp: 'x-ascend-timestamp',
  nonce: 'x-ascend-nonce',
  signature: 'x-ascend-signature',
} as const;

/** Default window a signed request's timestamp must fall in, either side of the server's clock. */
export const DEFAULT_MAX_SKEW_MS = 300_000;

const EMPTY_BODY_SHA256 = createHash('sha256').update('').digest('hex');

/** The exact text the HMAC covers (the idempotency key too: it decides which action a retry answers). */
export function signaturePayload(method: string, pathWithQuery: string, timestampSeconds: string, nonce: string, bodySha256Hex: string, idempotencyKey = ''): string {
  return `v1\n${method.toUpperCase()}\n${pathWithQuery}\n${timestampSeconds}\n${nonce}\n${bodySha256Hex}\n${idempotencyKey}`;
}

/** sha256 (hex) of the body bytes; an absent body hashes as empty. */
export function bodySha256(body: string | Uint8Array | undefined): string {
  if (body === undefined || body.length === 0) return EMPTY_BODY_SHA256;
  return createHash('sha256').update(body).digest('hex');
}

/** What to sign. */
export interface SignableRequest {
  method: string;
  /** Path and query exactly as sent, e.g. `/v1/approvals?status=pending`. */
  pathWithQuery: string;
  body?: string | Uint8Array;
  /** The `Idempotency-Key` header sent with it, if any. */
  idempotencyKey?: string;
}

/** The headers that sign `request` with `secret`. */
export function signRequest(secret: string, request: SignableRequest, nowMs: number = Date.now()): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const nonce = randomBytes(16).toString('hex');
  const payload = signaturePayload(request.method, request.pathWithQuery, timestamp, nonce, bodySha256(request.body), request.idempotencyKey);
  return {
    [SIGNATURE_HEADERS.timestamp]: timestamp,
    [SIGNATURE_HEADERS.nonce]: nonce,
    [SIGNATURE_HEADERS.signature]: `v1=${createHmac('sha256', secret).update(payload).digest('hex')}`,
  };
}

/** Why a signature was refused, or the nonce it used (for replay detection). */
export type SignatureCheck = { ok: true; nonce: string; timestampMs: number } | { ok: false; reason: string };

/** Check a signed request. Does not remember nonces: the caller refuses replays. */
export function verifyRequestSignature(
  secret: string,
  request: SignableRequest & { headers: Record<string, string | string[] | undefined> },
  options: { nowMs?: number; maxSkewMs?: number } = {},
): SignatureCheck {
  const timestamp = single(request.headers[SIGNATURE_HEADERS.timestamp]);
  const nonce = single(request.headers[SIGNATURE_HEADERS.nonce]);
  const signature = single(request.headers[SIGNATURE_HEADERS.signature]);
  if (!timestamp || !nonce || !signature) {
    return { ok: false, reason: `a signed request needs ${Object.values(SIGNATURE_HEADERS).join(', ')}` };
  }
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: `${SIGNATURE_HEADERS.timestamp} must be unix seconds` };
  if (!/^[0-9a-f]{16,64}$/.test(nonce)) return { ok: false, reason: `${SIGNATURE_HEADERS.nonce} must be 16–64 hex characters` };
  const timestampMs = Number(timestamp) * 1000;
  const skew = Math.abs((options.nowMs ?? Date.now()) - timestampMs);
  if (skew > (options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS)) {
    return { ok: false, reason: `the signature timestamp is ${Math.round(skew / 1000)} s away from the server's clock` };
  }
  const match = /^v1=([0-9a-f]{64})$/.exec(signature);
  if (!match) return { ok: false, reason: `${SIGNATURE_HEADERS.signature} must be v1=<64 hex>` };
  const idempotencyKey = single(request.headers['idempotency-key']) ?? request.idempotencyKey;
  const payload = signaturePayload(request.method, request.pathWithQuery, timestamp, nonce, bodySha256(request.body), idempotencyKey);
  const expected = createHmac('sha256', secret).update(payload).digest();
  if (!timingSafeEqual(expected, Buffer.from(match[1]!, 'hex'))) return { ok: false, reason: 'the signature does not match the request' };
  return { ok: true, nonce, timestampMs };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

// Webhooks -------------------------------------------------------------------------------------

/** Headers of a webhook delivery. */
export const WEBHOOK_HEADERS = {
  event: 'x-ascend-event',
  delivery: 'x-ascend-delivery',
  timestamp: 'x-ascend-timestamp',
  signature: 'x-ascend-signature',
} as const;

/** The signature header value of a webhook body: `v1=` HMAC-SHA256(secret, `${timestamp}.${body}`) in hex. */
export function webhookSignature(secret: string, timestampSeconds: string, body: string | Uint8Array): string {
  const hmac = createHmac('sha256', secret).update(`${timestampSeconds}.`);
  hmac.update(body);
  return `v1=${hmac.digest('hex')}`;
}

/**
 * For webhook receivers: check a delivery's signature over the exact body bytes received, and
 * that its timestamp is within `toleranceMs` (default 5 minutes) of now. Pass the raw body, not
 * a re-serialised object.
 */
export function verifyWebhookSignature(input: {
  secret: string;
  body: string | Uint8Array;
  headers: Record<string, string | string[] | undefined> | Headers;
  toleranceMs?: number;
  nowMs?: number;
}): { ok: true } | { ok: false; reason: string } {
  const get = (name: string): string | undefined =>
    input.headers instanceof Headers ? (input.headers.get(name) ?? undefined) : single(input.headers[name] ?? input.headers[name.toLowerCase()]);
  const timestamp = get(WEBHOOK_HEADERS.timestamp);
  const signature = get(WEBHOOK_HEADERS.signature);
  if (!timestamp || !signature) return { ok: false, reason: `missing ${WEBHOOK_HEADERS.timestamp} or ${WEBHOOK_HEADERS.signature}` };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'the timestamp must be unix seconds' };
  const skew = Math.abs((input.nowMs ?? Date.now()) - Number(timestamp) * 1000);
  if (skew > (input.toleranceMs ?? DEFAULT_MAX_SKEW_MS)) return { ok: false, reason: 'the timestamp is outside the tolerance (a replay?)' };
  const expected = Buffer.from(webhookSignature(input.secret, timestamp, input.body));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'the signature does not match the body' };
  return { ok: true };
}
