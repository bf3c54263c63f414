/**
 * Webhook deliveries as messages for people: a Slack incoming webhook's Block Kit message, a
 * Microsoft Teams workflow's Adaptive Card, or an email (text and HTML). An `approval.requested`
 * shows the agent, the action, the resource, the arguments (as recorded: redactions applied), the
 * risk score with its factors and the expiry, with the one-click approve / reject links as
 * buttons; other events are one line.
 *
 * Everything the call carries is the model's or the agent's words, so none of it is ever read as
 * markup: Slack gets it in `plain_text` objects (no links, no mentions), Teams in `TextRun`s
 * (which take no Markdown), email HTML-escaped. Only the buttons link anywhere, and only to the
 * signed links.
 */
import { escapeHtml } from '../dashboard/link-page.js';
import type { ApprovalLinks } from '../dashboard/links.js';
import type { WebhookEvent } from '../../store/outbox.js';
import type { ApprovalRecord } from '../../core/types.js';

/** One event, as a chat message describes it (ids as the organisation's agents know them). */
export interface ChatEvent {
  event: WebhookEvent;
  occurredAt: string;
  agentId: string | null;
  actionId: string | null;
  approvalId: string | null;
  actor: string;
  data: Record<string, unknown>;
  /** The approve / reject links of an `approval.requested`. */
  links?: ApprovalLinks | undefined;
  /**
   * Slack only: the buttons decide inside Slack (the server's Slack app), carrying this webhook's
   * id and the approval's instead of a link.
   */
  interactiveWebhookId?: string | undefined;
}

/** Longest text put in one Slack text object (Slack refuses a section text over 3,000). */
const SLACK_TEXT_MAX = 2900;
/** Longest argument dump shown; the rest is cut with a note (the dashboard shows it all). */
const ARGUMENTS_MAX = 1500;

/** A line of the message: a label and a value from the call. */
interface Line {
  label: string;
  value: string;
}

/** What both formats show. */
interface MessageContent {
  title: string;
  lines: Line[];
  /** The arguments, pretty-printed, or null. */
  argumentsText: string | null;
  links: ApprovalLinks | undefined;
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : value === undefined || value === null ? '' : JSON.stringify(value);
}

function riskLine(data: Record<string, unknown>): Line | null {
  if (typeof data.riskScore !== 'number') return null;
  const factors = Array.isArray(data.riskFactors)
    ? data.riskFactors
        .filter((f): f is { points: number; detail: string } => typeof f === 'object' && f !== null && typeof (f as { detail?: unknown }).detail === 'string')
        .map((f) => `+${f.points} ${f.detail}`)
    : [];
  const level = typeof data.riskLevel === 'string' ? ` (${data.riskLevel})` : '';
  return { label: 'Risk', value: `${data.riskScore}/100${level}${factors.length > 0 ? ': ' + factors.join('; ') : ''}` };
}

/** The parts of a message, whatever the format. */
function contentOf(e: ChatEvent): MessageContent {
  const d = e.data;
  const lines: Line[] = [];
  const add = (label: string, value: unknown): void => {
    const shown = text(value);
    if (shown !== '') lines.push({ label, value: cut(shown, 500) });
  };
  let title: string;
  let argumentsText: string | null = null;
  switch (e.event) {
    case 'approval.requested': {
      title = 'Approval needed: an agent asks to run a tool call';
      add('Agent', e.agentId);
      add('Action', d.actionType);
      add('Resource', d.resource);
      const risk = riskLine(d);
      if (risk) lines.push({ label: risk.label, value: cut(risk.value, 500) });
      add('Why', d.reason);
      add('Expires', d.expiresAt);
      add('Approval', e.approvalId);
      argumentsText = cut(JSON.stringify(d.parameters ?? {}, null, 2), ARGUMENTS_MAX);
      break;
    }
    case 'action.approved':
      title = 'Approved';
      add('By', `${text(d.decidedBy)}${d.channel ? ` (${text(d.channel)})` : ''}`);
      add('Comment', d.comment);
      add('Agent', e.agentId);
      add('Approval', e.approvalId);
      break;
    case 'action.denied':
      title = d.status === 'rejected' ? 'Rejected' : typeof d.expiresAt === 'string' && d.decision === undefined ? 'Expired: nobody decided in time' : 'Denied';
      add('By', d.status === 'rejected' ? `${text(d.decidedBy)}${d.channel ? ` (${text(d.channel)})` : ''}` : undefined);
      add('Comment', d.comment);
      add('Agent', e.agentId);
      add('Action', d.actionType);
      add('Resource', d.resource);
      add('Why', d.reason);
      break;
    case 'action.evaluated':
      title = `Decided: ${text(d.decision)}`;
      add('Agent', e.agentId);
      add('Action', d.actionType);
      add('Resource', d.resource);
      add('Risk', typeof d.riskScore === 'number' ? `${d.riskScore}/100` : undefined);
      add('Why', d.reason);
      break;
    case 'action.completed':
    case 'action.failed':
      title = e.event === 'action.completed' ? 'Completed' : 'Failed';
      add('Agent', e.agentId);
      add('Action id', e.actionId);
      add('Error', e.event === 'action.failed' ? d.error : undefined);
      break;
    case 'audit.checkpoint':
      title = 'Audit checkpoint signed';
      add('Through event', d.seq);
      add('Head hash', d.hash);
      add('Key', d.keyId);
      break;
  }
  return { title, lines, argumentsText, links: e.links };
}

/** A Slack incoming webhook's message (Block Kit). */
export function slackMessage(e: ChatEvent): Record<string, unknown> {
  const c = contentOf(e);
  const plain = (value: string): { type: 'plain_text'; text: string; emoji: false } => ({ type: 'plain_text', text: cut(value, SLACK_TEXT_MAX), emoji: false });
  const blocks: Record<string, unknown>[] = [{ type: 'header', text: plain(cut(c.title, 150)) }];
  // Fields go two to a row; Slack takes at most ten in a section.
  for (let i = 0; i < c.lines.length; i += 10) {
    blocks.push({ type: 'section', fields: c.lines.slice(i, i + 10).map((line) => plain(`${line.label}: ${line.value}`)) });
  }
  if (c.argumentsText !== null) blocks.push({ type: 'section', text: plain(`Arguments:\n${c.argumentsText}`) });
  if (e.interactiveWebhookId !== undefined && e.event === 'approval.requested' && e.approvalId !== null) {
    const value = slackButtonValue(e.interactiveWebhookId, e.approvalId);
    blocks.push({
      type: 'actions',
      elements: [
        { type: 'button', action_id: 'ascend_approve', style: 'primary', text: plain('Approve'), value },
        { type: 'button', action_id: 'ascend_reject', style: 'danger', text: plain('Reject'), value },
      ],
    });
    blocks.push({ type: 'context', elements: [plain('Pressing a button decides here, for the approvers this server names; the message then shows who decided.')] });
  } else if (c.links) {
    blocks.push({
      type: 'actions',
      elements: [
        { type: 'button', action_id: 'ascend_approve', style: 'primary', text: plain('Approve…'), url: c.links.approve },
        { type: 'button', action_id: 'ascend_reject', style: 'danger', text: plain('Reject…'), url: c.links.reject },
      ],
    });
    blocks.push({ type: 'context', elements: [plain(`Each button opens a page that asks once more; the links stop working at ${c.links.expiresAt}.`)] });
  }
  // `text` is the notification and the fallback: Slack reads it as mrkdwn, so nothing in it may
  // be markup (`<…>` makes links and mentions, `&` entities).
  const summary = [c.title, ...c.lines.slice(0, 3).map((l) => `${l.label}: ${l.value}`)].join(' · ');
  return { text: escapeSlack(cut(summary, SLACK_TEXT_MAX)), blocks };
}

/**
 * The request's message once it is decided in Slack: the same lines, no buttons, and who
 * decided (what replaces the message through the interaction's `response_url`).
 */
export function decidedSlackMessage(approval: ApprovalRecord): { text: string; blocks: Record<string, unknown>[] } {
  const request = slackMessage({
    event: 'approval.requested',
    occurredAt: approval.requestedAt,
    agentId: approval.agentId,
    actionId: approval.actionId,
    approvalId: approval.approvalId,
    actor: approval.agentId,
    data: { ...approval },
  }) as { text: string; blocks: Record<string, unknown>[] };
  const verdict = `${approval.status === 'approved' ? 'Approved' : 'Rejected'} by ${approval.decidedBy ?? 'unknown'} at ${approval.decidedAt ?? 'unknown time'}`;
  return {
    text: escapeSlack(cut(verdict, SLACK_TEXT_MAX)),
    blocks: [...request.blocks, { type: 'context', elements: [{ type: 'plain_text', text: cut(verdict, SLACK_TEXT_MAX), emoji: false }] }],
  };
}

/** What an interactive button carries: its webhook, then the approval (split at the first `/`). */
export function slackButtonValue(webhookId: string, approvalId: string): string {
  return `${webhookId}/${approvalId}`;
}

/**
 * An email: plain text and HTML with the same lines, the approve / reject links as the only
 * links. Every value is HTML-escaped, and the subject holds no line breaks (no header can be
 * added through it).
 */
export function emailMessage(e: ChatEvent): { subject: string; text: string; html: string } {
  const c = contentOf(e);
  const subjectDetail = e.event === 'approval.requested' ? `: ${text(e.data.actionType)} by ${e.agentId ?? 'an agent'}` : e.agentId ? ` (${e.agentId})` : '';
  const subject = cut(`${c.title}${subjectDetail}`.replace(/[\r\n\t\u2028\u2029]+/g, ' '), 200);
  const lines = c.lines.map((l) => `${l.label}: ${l.value}`);
  const textParts = [c.title, '', ...lines];
  if (c.argumentsText !== null) textParts.push('', 'Arguments:', c.argumentsText);
  if (c.links) textParts.push('', `Approve: ${c.links.approve}`, `Reject: ${c.links.reject}`, '', `Each link opens a page that asks once more; they stop working at ${c.links.expiresAt}.`);
  const html = [
    `<h2>${escapeHtml(c.title)}</h2>`,
    `<table>${c.lines.map((l) => `<tr><th align="left">${escapeHtml(l.label)}</th><td>${escapeHtml(l.value)}</td></tr>`).join('')}</table>`,
    c.argumentsText === null ? '' : `<p><b>Arguments</b></p><pre>${escapeHtml(c.argumentsText)}</pre>`,
    c.links
      ? `<p><a href="${escapeHtml(c.links.approve)}">Approve…</a> &nbsp; <a href="${escapeHtml(c.links.reject)}">Reject…</a></p>` +
        `<p><small>Each link opens a page that asks once more; they stop working at ${escapeHtml(c.links.expiresAt)}.</small></p>`
      : '',
  ].join('\n');
  return { subject, text: textParts.join('\n') + '\n', html };
}

/** Slack's three control characters, escaped as its documentation asks. */
export function escapeSlack(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A Microsoft Teams workflow webhook's message: one Adaptive Card. */
export function teamsMessage(e: ChatEvent): Record<string, unknown> {
  const c = contentOf(e);
  // TextRuns take no Markdown: what the call carries is shown as written.
  const run = (value: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ type: 'TextRun', text: value, ...extra });
  const body: Record<string, unknown>[] = [{ type: 'RichTextBlock', inlines: [run(c.title, { size: 'Medium', weight: 'Bolder' })] }];
  for (const line of c.lines) body.push({ type: 'RichTextBlock', inlines: [run(`${line.label}: `, { weight: 'Bolder' }), run(line.value)] });
  if (c.argumentsText !== null) {
    body.push({ type: 'RichTextBlock', inlines: [run('Arguments:', { weight: 'Bolder' })] });
    body.push({ type: 'RichTextBlock', inlines: [run(c.argumentsText, { fontType: 'Monospace' })] });
  }
  const card: Record<string, unknown> = { $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.4', body };
  if (c.links) {
    card.actions = [
      { type: 'Action.OpenUrl', title: 'Approve…', url: c.links.approve, style: 'positive' },
      { type: 'Action.OpenUrl', title: 'Reject…', url: c.links.reject, style: 'destructive' },
    ];
    body.push({ type: 'RichTextBlock', inlines: [run(`Each button opens a page that asks once more; the links stop working at ${c.links.expiresAt}.`, { isSubtle: true })] });
  }
  return { type: 'message', attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: card }] };
}
