/**
 * The small server-rendered pages behind one-click approval links: what is asked and one
 * button, then what happened. Every value is escaped; no script runs on them.
 */
import type { ApprovalRecord } from '../../core/types.js';
import type { LinkVerdict } from './links.js';

/** Escape text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)} · Ascend</title>
<link rel="stylesheet" href="/ui/assets/link.css">
</head>
<body>
<main class="link-page">
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>
`;
}

function details(a: ApprovalRecord): string {
  const factors = a.riskFactors.map((f) => `<li><strong>${escapeHtml(f.name)}</strong> +${f.points}: ${escapeHtml(f.detail)}</li>`).join('');
  return `<dl class="facts">
<dt>Agent</dt><dd>${escapeHtml(a.agentId)}</dd>
<dt>Action</dt><dd>${escapeHtml(a.actionType)}</dd>
<dt>Resource</dt><dd>${escapeHtml(a.resource)}</dd>
<dt>Risk</dt><dd><span class="risk risk-${a.riskLevel}">${a.riskScore} · ${a.riskLevel}</span></dd>
<dt>Why it waits</dt><dd>${escapeHtml(a.reason)}</dd>
<dt>Requested</dt><dd><time datetime="${escapeHtml(a.requestedAt)}">${escapeHtml(a.requestedAt)}</time></dd>
<dt>Expires</dt><dd><time datetime="${escapeHtml(a.expiresAt)}">${escapeHtml(a.expiresAt)}</time></dd>
</dl>
${factors ? `<h2>Risk factors</h2><ul>${factors}</ul>` : ''}
<h2>Arguments</h2>
<pre>${escapeHtml(JSON.stringify(a.parameters, null, 2))}</pre>`;
}

/** "Approve this call?" with the one button that decides. */
export function confirmPage(a: ApprovalRecord, verdict: LinkVerdict, actionUrl: string): string {
  const verb = verdict === 'approve' ? 'Approve' : 'Reject';
  return page(
    `${verb} this call?`,
    `${details(a)}
<form method="post" action="${escapeHtml(actionUrl)}">
<label for="comment">Comment (optional)</label>
<textarea id="comment" name="comment" maxlength="4096" rows="3"></textarea>
<button type="submit" class="${verdict}">${verb}</button>
</form>`,
  );
}

/** What an approval is now (after a link decided it, or when it was already decided). */
export function statusPage(a: ApprovalRecord, headline: string): string {
  const who = a.decidedBy ? ` by ${escapeHtml(a.decidedBy)}` : '';
  const when = a.decidedAt ? ` at <time datetime="${escapeHtml(a.decidedAt)}">${escapeHtml(a.decidedAt)}</time>` : '';
  return page(headline, `<p class="status status-${a.status}" role="status">This request is <strong>${a.status}</strong>${who}${when}.</p>${details(a)}`);
}

/** A link that does not work (bad signature, expired, unknown approval). */
export function refusalPage(reason: string): string {
  return page('This link cannot be used', `<p class="status status-refused" role="alert">${escapeHtml(reason)}</p>`);
}

/** A plain message page (sign-in link errors). */
export function messagePage(title: string, message: string): string {
  return page(title, `<p role="alert">${escapeHtml(message)}</p>`);
}
