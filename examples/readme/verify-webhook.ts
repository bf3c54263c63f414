/**
 * The README's webhook-receiver excerpt as a whole program, run by test/readme.test.ts. The lines
 * between the README markers are the README's block, verbatim; around them, stand-ins for what a
 * receiver has: the webhook's secret and a delivery (its raw body, and headers signed as
 * `ascend serve` signs them).
 */
import { WEBHOOK_HEADERS, webhookSignature } from 'ascend-sdk';

const secret = 'the-secret-you-gave-configureWebhook';
const rawBodyText = JSON.stringify({ event: 'approval.requested', auditSeq: 42, agentId: 'billing-bot' });
const timestamp = String(Math.floor(Date.now() / 1000));
const req = { headers: { [WEBHOOK_HEADERS.timestamp]: timestamp, [WEBHOOK_HEADERS.signature]: webhookSignature(secret, timestamp, rawBodyText) } };

// ---- README.md, verbatim ----
import { verifyWebhookSignature } from 'ascend-sdk';
const check = verifyWebhookSignature({ secret, body: rawBodyText, headers: req.headers }); // { ok: true } or { ok: false, reason }
// ---- end of the README's block ----

console.log('delivery:', check);
console.log('altered body:', verifyWebhookSignature({ secret, body: rawBodyText.replace('42', '43'), headers: req.headers }));
