// The Audit page: filtered events newest first, older pages on demand, new matching events
// prepended live, and the hash-chain check.

import { AUDIT_TYPES, api } from './api.js';
import { localEvent, announce, asObject, field, focusOn, h, localTime, prettyJson, reportError, riskBadge, showAlert } from './dom.js';

const PAGE = 100;
const NO_FILTERS = Object.freeze({ agentId: '', actionType: '', decision: '', type: '', since: '', until: '' });
const DECISIONS = ['allowed', 'denied', 'pending'];

/** Filters survive page changes; the form shows them again. */
let filters = { ...NO_FILTERS };
let events = []; // shown, newest first
let root = null;

export const auditView = {
  title: 'Audit',
  mount(el) {
    root = el;
    render();
    load();
    verify();
  },
  unmount() {
    root = null;
  },
  onEvent(event, shown) {
    if (shown && root && matches(event) && event.seq > (events[0]?.seq ?? 0)) prepend(event);
  },
  reset() {
    filters = { ...NO_FILTERS };
    events = [];
  },
};

// Layout

function render() {
  const typeSelect = h('select', { id: 'audit-type', name: 'type' },
    h('option', { value: '' }, 'All events'),
    AUDIT_TYPES.map((t) => h('option', { value: t, selected: t === filters.type }, t)));
  root.replaceChildren(
    h('h1', { id: 'audit-title', tabindex: '-1' }, 'Audit trail'),
    h('div', { class: 'chain-line' },
      h('p', { id: 'chain-status', class: 'chain', role: 'status' }, 'Verifying the chain…'),
      h('button', { type: 'button', class: 'secondary', onclick: verify }, 'Verify again')),
    h('form', { class: 'filters', 'aria-label': 'Filter events', onsubmit: apply },
      field('Agent', h('input', { id: 'audit-agent', name: 'agentId', type: 'text', value: filters.agentId, autocomplete: 'off', spellcheck: 'false' })),
      field('Action', h('input', { id: 'audit-action', name: 'actionType', type: 'text', value: filters.actionType, autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. payments.transfer' })),
      field('Decision', h('select', { id: 'audit-decision', name: 'decision' },
        h('option', { value: '' }, 'Any'),
        DECISIONS.map((d) => h('option', { value: d, selected: d === filters.decision }, d)))),
      field('Event type', typeSelect),
      field('Since', h('input', { id: 'audit-since', name: 'since', type: 'datetime-local', step: '1', value: filters.since })),
      field('Until', h('input', { id: 'audit-until', name: 'until', type: 'datetime-local', step: '1', value: filters.until })),
      h('div', { class: 'buttons' },
        h('button', { type: 'submit' }, 'Apply'),
        h('button', { type: 'button', class: 'secondary', onclick: clearFilters }, 'Clear'))),
    h('div', { id: 'audit-table', class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Audit events' },
      h('table', { class: 'audit' },
        h('thead', {}, h('tr', {}, ['Seq', 'Time', 'Event', 'Agent', 'Action', 'Who', 'Details'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, h('tr', {}, h('td', { colspan: '7', class: 'empty' }, 'Loading events…'))))),
    h('p', { class: 'more' },
      h('button', { type: 'button', id: 'audit-older', class: 'secondary', hidden: true, onclick: () => load(true) }, 'Load older')),
  );
}

function apply(e) {
  e.preventDefault();
  const form = new FormData(e.currentTarget);
  const next = {
    agentId: String(form.get('agentId')).trim(),
    actionType: String(form.get('actionType')).trim(),
    decision: String(form.get('decision')),
    type: String(form.get('type')),
    since: String(form.get('since')),
    until: String(form.get('until')),
  };
  if (next.since && next.until && toIso(next.since) > toIso(next.until)) {
    showAlert('“Since” must be before “Until”.');
    return;
  }
  filters = next;
  load();
}

function clearFilters() {
  filters = { ...NO_FILTERS };
  for (const el of root.querySelectorAll('.filters input, .filters select')) el.value = '';
  load();
}

// Data

/** `datetime-local` values are local wall-clock times; the API wants ISO with an offset. */
const toIso = (local) => new Date(local).toISOString();

function url(beforeSeq) {
  const q = new URLSearchParams({ order: 'desc', limit: String(PAGE) });
  if (filters.agentId) q.set('agentId', filters.agentId);
  if (filters.actionType) q.set('actionType', filters.actionType);
  if (filters.decision) q.set('decision', filters.decision);
  if (filters.type) q.append('type', filters.type);
  if (filters.since) q.set('since', toIso(filters.since));
  if (filters.until) q.set('until', toIso(filters.until));
  if (beforeSeq !== undefined) q.set('beforeSeq', String(beforeSeq));
  return `/v1/audit?${q}`;
}

/** First page (replacing the table), or with `older` the page before the oldest row shown. */
async function load(older = false) {
  const view = root;
  try {
    const page = (await api(url(older ? events[events.length - 1]?.seq : undefined))).events.map(localEvent);
    if (root !== view) return; // the user left the page meanwhile
    const known = new Set(events.map((e) => e.seq));
    events = older ? events.concat(page.filter((e) => !known.has(e.seq))) : page;
    renderRows();
    const button = root.querySelector('#audit-older');
    const more = page.length >= PAGE;
    if (older) {
      announce(more ? `Loaded ${page.length} older events.` : `Loaded ${page.length} older events; there are no more.`);
      if (!more) focusOn(root.querySelector('#audit-table')); // the button is about to hide
    }
    button.hidden = !more;
  } catch (err) {
    reportError(err);
  }
}

async function verify() {
  const badge = root?.querySelector('#chain-status');
  if (!badge) return;
  badge.className = 'chain';
  badge.textContent = 'Verifying the chain…';
  try {
    // The status is shared by every viewer and re-checked at most every few seconds.
    const r = await api('/v1/audit/status');
    if (!badge.isConnected) return;
    badge.classList.add(r.ok ? 'chain-ok' : 'chain-bad');
    badge.textContent = r.ok ? `Chain verified (checked ${new Date(r.checkedAt).toLocaleTimeString()})` : await brokenAt();
  } catch (err) {
    if (!badge.isConnected || err.status === 401) return;
    badge.classList.add('chain-unknown');
    badge.textContent = `Chain not verified: ${err.message}`;
  }
}

/** Where the chain breaks: admins may ask (the details span every organisation). */
async function brokenAt() {
  try {
    const d = await api('/v1/audit/verify');
    return `Chain broken at seq ${d.firstBad?.seq}: ${d.firstBad?.reason ?? 'unknown reason'}`;
  } catch {
    return 'Chain broken: an admin can see where (ascend audit verify)';
  }
}

/** Whether a live event passes the current filters. */
function matches(e) {
  if (filters.agentId && e.agentId !== filters.agentId) return false;
  if (filters.type && e.type !== filters.type) return false;
  const data = asObject(e.data);
  if (filters.actionType && data.actionType !== filters.actionType) return false;
  if (filters.decision && (e.type !== 'action.evaluated' || data.decision !== filters.decision)) return false;
  const ts = Date.parse(e.ts);
  if (filters.since && ts < Date.parse(toIso(filters.since))) return false;
  return !(filters.until && ts > Date.parse(toIso(filters.until)));
}

// Rows

function renderRows() {
  const body = root.querySelector('tbody');
  if (events.length === 0) body.replaceChildren(h('tr', {}, h('td', { colspan: '7', class: 'empty' }, 'No events match these filters.')));
  else body.replaceChildren(...events.map(row));
}

function prepend(event) {
  const body = root.querySelector('tbody');
  if (events.length === 0) body.replaceChildren();
  events.unshift(event);
  body.prepend(row(event));
}

function row(e) {
  const d = asObject(e.data);
  return h('tr', { 'data-seq': e.seq },
    h('td', { class: 'num' }, String(e.seq)),
    h('td', { class: 'nowrap' }, h('time', { datetime: e.ts }, localTime(e.ts))),
    h('td', {}, h('span', { class: `event-type ${eventTone(e.type, d)}` }, e.type)),
    h('td', {}, e.agentId ?? '—'),
    h('td', { class: 'action' }, actionCell(e, d)),
    h('td', {}, e.actor ?? '—'),
    h('td', { class: 'details' }, details(e, d), rawData(d)));
}

/** Colour hint for an event: good, bad or neutral. */
function eventTone(type, d) {
  if (type === 'approval.approved' || type === 'action.completed' || (type === 'action.evaluated' && d.decision === 'allowed')) return 'tone-good';
  if (/rejected|failed|blocked|revoked|expired/.test(type) || d.decision === 'denied') return 'tone-bad';
  return d.decision === 'pending' || type === 'approval.requested' ? 'tone-wait' : '';
}

function actionCell(e, d) {
  const what = d.actionType ? `${d.actionType}${d.resource ? ` on ${d.resource}` : ''}` : null;
  const id = e.actionId ?? d.actionId;
  if (!what && !id) return '—';
  return [what, id ? h('div', { class: 'muted small' }, id) : null];
}

function details(e, d) {
  switch (e.type) {
    case 'action.evaluated':
      return [h('span', { class: `decision decision-${d.decision}` }, d.decision ?? '?'), ' ', riskBadge(d.riskScore, d.riskLevel), line(d.reason), policyLine(d)];
    case 'approval.requested':
      return [riskBadge(d.riskScore, d.riskLevel), line(d.reason)];
    case 'approval.approved':
    case 'approval.rejected':
      return [`via ${d.channel ?? 'unknown channel'}`, d.grantId ? ' (with a grant)' : '', d.comment ? line(`“${d.comment}”`) : null];
    case 'action.completed':
      return `completed in ${d.durationMs ?? '?'} ms`;
    case 'action.failed':
      return [h('span', { class: 'error-text' }, errorText(d.error)), line(d.durationMs !== undefined ? `after ${d.durationMs} ms` : null)];
    default:
      return summary(d);
  }
}

const line = (text) => (text ? h('div', {}, text) : null);

/** Which policy decided: its labels and the start of its version (the full one on hover). */
function policyLine(d) {
  if (!d.policyVersion) return null;
  const labels = [d.policyName, d.policyRevision ? `revision ${d.policyRevision}` : null].filter(Boolean).join(', ');
  return h('div', { class: 'muted small policy-version', title: d.policyVersion },
    `policy ${labels ? `${labels} · ` : ''}${d.policyVersion.slice(0, 'sha256:'.length + 12)}`);
}

function errorText(error) {
  if (typeof error === 'string') return error;
  return asObject(error).message ?? JSON.stringify(error ?? 'failed');
}

/** "key: value" for the simple fields of an event we have no special layout for. */
function summary(d) {
  const text = Object.entries(d)
    .filter(([, v]) => v !== null && typeof v !== 'object')
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

function rawData(d) {
  if (Object.keys(d).length === 0) return null;
  return h('details', { class: 'raw' }, h('summary', {}, 'Data'), h('pre', {}, prettyJson(d)));
}
