// The Pending page: the approval queue (kept current by live events even while another page is
// shown, for the nav badge) and the active grants below it.

import { api, seg } from './api.js';
import { announce, asObject, byId, clearAlert, field, focusOn, h, localTime, prettyJson, refreshTimes, relTime, reportError, riskBadge, riskLevel, showAlert } from './dom.js';
import { editsBetween } from './edits.js';

const MAX_GRANT_MINUTES = 10080;

const queue = new Map(); // approvalId → pending ApprovalRecord
const cards = new Map(); // approvalId → its <article>, kept across page changes so typed comments survive
const decided = new Set(); // ids seen approved/rejected/expired: a late list answer must not bring them back
const unconfirmed = new Set(); // ids added by a live event that no list answer has included yet
let loaded = false;
let grants = [];
let root = null;
let cardCount = 0;

export const pendingView = {
  title: 'Pending',
  mount(el) {
    root = el;
    render();
    refreshQueue();
    loadGrants();
  },
  unmount() {
    root = null;
  },
  onEvent,
  reset() {
    queue.clear();
    cards.clear();
    decided.clear();
    unconfirmed.clear();
    loaded = false;
    grants = [];
    updateCount();
  },
};

const titleOf = (a) => `${a.actionType} on ${a.resource}`;

// Data

/** Reload the queue; merged with what live events said meanwhile. */
let refreshes = 0;

export async function refreshQueue() {
  const generation = ++refreshes;
  try {
    const { approvals } = await api('/v1/approvals?status=pending&limit=200');
    if (generation !== refreshes) return; // a newer read was started: only the latest answer counts
    const next = new Map();
    for (const a of approvals) if (a.status === 'pending' && !decided.has(a.approvalId)) next.set(a.approvalId, a);
    // A request announced live after the list was read is not in it yet: keep it.
    for (const id of unconfirmed) {
      if (next.has(id)) unconfirmed.delete(id);
      else if (queue.has(id)) next.set(id, queue.get(id));
    }
    queue.clear();
    for (const [id, a] of next) queue.set(id, a);
    loaded = true;
    sync();
  } catch (err) {
    reportError(err);
  }
}

async function loadGrants() {
  try {
    ({ grants } = await api('/v1/grants?active=true'));
    renderGrants();
  } catch (err) {
    reportError(err);
  }
}

function onEvent(event) {
  const id = event.approvalId ?? asObject(event.data).approvalId;
  switch (event.type) {
    case 'approval.requested': {
      const a = asObject(event.data);
      if (!a.approvalId || decided.has(a.approvalId) || queue.has(a.approvalId)) return;
      queue.set(a.approvalId, a);
      unconfirmed.add(a.approvalId);
      sync();
      announce(`New request: ${titleOf(a)} from ${a.agentId}, risk ${a.riskScore} (${a.riskLevel}).`);
      return;
    }
    case 'approval.approved':
    case 'approval.rejected':
    case 'approval.expired':
      settled(id, event);
      return;
    case 'grant.created':
    case 'grant.revoked':
      if (root) loadGrants();
  }
}

/** A request left the queue; `event` says who decided it when it was not us. */
function settled(id, event) {
  decided.add(id);
  unconfirmed.delete(id);
  const a = queue.get(id);
  if (!a) return;
  const ours = cards.get(id)?.classList.contains('is-busy'); // our own answer announces itself
  queue.delete(id);
  sync();
  if (!event || ours) return;
  if (event.type === 'approval.expired') announce(`Request ${titleOf(a)} expired.`);
  else announce(`${titleOf(a)} was ${event.type === 'approval.approved' ? 'approved' : 'rejected'} by ${event.actor ?? 'someone'}.`);
}

// Queue

function render() {
  root.replaceChildren(
    h('h1', { id: 'pending-title', tabindex: '-1' }, 'Pending requests'),
    h('p', { class: 'empty queue-empty' }),
    h('div', { class: 'queue' }),
    h('section', { class: 'grants', 'aria-labelledby': 'grants-title' },
      h('h2', { id: 'grants-title', tabindex: '-1' }, 'Active grants'),
      h('p', { class: 'hint' }, 'A grant lets an agent repeat one action without asking, until it expires.'),
      h('div', { class: 'grants-body' })),
  );
  sync();
  renderGrants();
}

/** Bring the badge and (when shown) the cards in line with `queue`, newest first. */
function sync() {
  for (const id of [...cards.keys()]) if (!queue.has(id)) dropCard(id);
  updateCount();
  const list = root?.querySelector('.queue');
  if (!list) return;
  const ordered = [...queue.values()].sort((a, b) => Date.parse(b.requestedAt) - Date.parse(a.requestedAt));
  // Only insert where needed: moving a card that holds focus would lose it.
  ordered.forEach((a, i) => {
    const card = cards.get(a.approvalId) ?? makeCard(a);
    if (list.children[i] !== card) list.insertBefore(card, list.children[i] ?? null);
  });
  const empty = root.querySelector('.queue-empty');
  empty.textContent = loaded ? 'No requests are waiting.' : 'Loading requests…';
  empty.hidden = queue.size > 0;
  refreshTimes(list);
}

function updateCount() {
  const badge = byId('pending-count');
  badge.textContent = String(queue.size);
  badge.hidden = queue.size === 0;
}

/** Remove a card; if focus was in it, hand focus to the next card (or the page heading). */
function dropCard(id) {
  const card = cards.get(id);
  cards.delete(id);
  if (!card) return;
  const next = card.contains(document.activeElement) ? (card.nextElementSibling ?? card.previousElementSibling ?? byId('pending-title')) : null;
  card.remove();
  focusOn(next);
}

function makeCard(a) {
  const n = ++cardCount;
  const ids = { title: `approval-${n}-title`, comment: `approval-${n}-comment`, minutes: `approval-${n}-minutes`, edit: `approval-${n}-edit` };
  const comment = h('textarea', { id: ids.comment, rows: '2', maxlength: '4096' });
  const edit = h('textarea', { id: ids.edit, rows: '6', spellcheck: 'false', 'aria-describedby': `${ids.edit}-hint` }, prettyJson(a.parameters));
  const minutes = h('input', { id: ids.minutes, type: 'number', min: '1', max: String(MAX_GRANT_MINUTES), step: '1', inputmode: 'numeric', 'aria-describedby': `${ids.minutes}-hint` });
  const card = h('article', { class: `approval level-${riskLevel(a.riskScore, a.riskLevel)}`, 'data-approval-id': a.approvalId, 'aria-labelledby': ids.title, tabindex: '-1' },
    h('header', { class: 'approval-head' },
      h('h2', { id: ids.title }, titleOf(a)),
      riskBadge(a.riskScore, a.riskLevel)),
    h('p', { class: 'meta' },
      h('span', {}, 'Agent ', h('strong', { class: 'agent' }, a.agentId)),
      h('span', {}, 'waiting ', relTime(a.requestedAt, 'ago')),
      h('span', {}, relTime(a.expiresAt, 'until'))),
    a.reason ? h('p', { class: 'reason' }, a.reason) : null,
    factorList(a.riskFactors),
    tagLine('Matched rules', a.matchedRules),
    tagLine('Required approvers', a.requiredApprovers),
    h('h3', {}, 'Arguments'),
    h('pre', { class: 'args', tabindex: '0' }, prettyJson(a.parameters)),
    h('fieldset', { class: 'decide' },
      h('legend', { class: 'visually-hidden' }, 'Decision'),
      h('details', { class: 'edit-args' },
        h('summary', {}, 'Edit arguments before approving'),
        field('Arguments to run with (JSON)', edit,
          h('p', { id: `${ids.edit}-hint`, class: 'hint' }, 'Approve runs the call with these; the policy decides it again. Redacted values cannot change.'))),
      field('Comment', comment),
      h('div', { class: 'decide-row' },
        field('Grant minutes', minutes, h('p', { id: `${ids.minutes}-hint`, class: 'hint' }, 'Empty: approve this call only.')),
        h('div', { class: 'buttons' },
          h('button', { type: 'button', class: 'approve', onclick: () => decide(a, 'approve', card, comment, minutes, edit) }, 'Approve'),
          h('button', { type: 'button', class: 'reject', onclick: () => decide(a, 'reject', card, comment, minutes, edit) }, 'Reject')))),
  );
  cards.set(a.approvalId, card);
  return card;
}

function factorList(factors) {
  if (!Array.isArray(factors) || factors.length === 0) return null;
  return h('div', { class: 'factors' },
    h('h3', {}, 'Risk factors'),
    h('ul', {}, factors.map((f) => h('li', {},
      h('span', { class: 'factor-name' }, f.name), ' ',
      h('span', { class: 'points' }, `+${f.points}`),
      f.detail ? h('span', { class: 'detail' }, ` ${f.detail}`) : null))));
}

function tagLine(label, values) {
  if (!Array.isArray(values) || values.length === 0) return null;
  return h('p', { class: 'tags' }, `${label}: `, values.map((v) => h('code', {}, v)));
}

/** The edits typed in a card's argument editor; null when unchanged, undefined (alert shown) when not JSON. */
function typedEdits(a, edit) {
  let wanted;
  try {
    wanted = JSON.parse(edit.value);
  } catch (err) {
    showAlert(`The edited arguments are not JSON (${err.message}). Fix them, or close the editor to approve the call as it is.`);
    edit.focus();
    return undefined;
  }
  if (typeof wanted !== 'object' || wanted === null || Array.isArray(wanted)) {
    showAlert('The edited arguments must be a JSON object, like the ones shown.');
    edit.focus();
    return undefined;
  }
  const edits = editsBetween(a.parameters ?? {}, wanted);
  return edits.length === 0 ? null : edits;
}

/** Approve or reject one request with the card's comment, grant minutes and edited arguments. */
async function decide(a, verb, card, comment, minutes, edit) {
  if (card.classList.contains('is-busy')) return;
  const body = { channel: 'dashboard' };
  if (comment.value.trim()) body.comment = comment.value.trim();
  // Edits count only while the editor is open: what the person sees is what they approve.
  if (verb === 'approve' && edit.closest('details').open) {
    const edits = typedEdits(a, edit);
    if (edits === undefined) return;
    if (edits !== null) body.edits = edits;
  }
  if (verb === 'approve' && (minutes.value !== '' || minutes.validity.badInput)) {
    const m = Number(minutes.value);
    if (!Number.isInteger(m) || m < 1 || m > MAX_GRANT_MINUTES) {
      showAlert(`Grant minutes must be a whole number from 1 to ${MAX_GRANT_MINUTES}, or empty to approve this call only.`);
      minutes.focus();
      return;
    }
    body.grantMinutes = m;
  }
  // A class, not `disabled`: disabling the focused button would drop keyboard focus.
  card.classList.add('is-busy');
  card.setAttribute('aria-busy', 'true');
  try {
    await api(`/v1/approvals/${seg(a.approvalId)}/${verb}`, { method: 'POST', body });
    clearAlert();
    settled(a.approvalId);
    const grant = body.grantMinutes ? ` and granted ${a.agentId} “${a.actionType}” for ${body.grantMinutes} min` : '';
    const edited = body.edits ? ' with your edits' : '';
    announce(`${verb === 'approve' ? 'Approved' : 'Rejected'} ${titleOf(a)}${edited}${grant}.`);
    if (grant) loadGrants();
  } catch (err) {
    card.classList.remove('is-busy');
    card.removeAttribute('aria-busy');
    reportError(err);
    if (err.status === 409 || err.status === 404) refreshQueue(); // decided elsewhere: show the truth
  }
}

// Grants

function renderGrants(focusAfter) {
  const box = root?.querySelector('.grants-body');
  if (!box) return;
  const now = Date.now();
  const active = grants.filter((g) => !g.revokedAt && Date.parse(g.expiresAt) > now);
  if (active.length === 0) {
    box.replaceChildren(h('p', { class: 'empty' }, 'No active grants.'));
  } else {
    box.replaceChildren(h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-labelledby': 'grants-title' },
      h('table', {},
        h('thead', {}, h('tr', {}, ['Agent', 'Action', 'Expires', 'Granted by'].map((t) => h('th', { scope: 'col' }, t)),
          h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Revoke')))),
        h('tbody', {}, active.map(grantRow)))));
  }
  if (focusAfter === undefined) return;
  const buttons = box.querySelectorAll('button');
  focusOn(buttons[Math.min(focusAfter, buttons.length - 1)] ?? byId('grants-title'));
}

function grantRow(g) {
  return h('tr', { 'data-grant-id': g.grantId },
    h('td', {}, g.agentId),
    h('td', {}, g.actionType),
    h('td', {}, relTime(g.expiresAt, 'until')),
    h('td', {}, `${g.createdBy} (${g.channel}), ${localTime(g.createdAt)}`),
    h('td', {}, h('button', { type: 'button', class: 'secondary', onclick: (e) => revoke(g, e.currentTarget) }, 'Revoke')));
}

async function revoke(g, button) {
  const index = [...root.querySelectorAll('.grants-body button')].indexOf(button);
  try {
    await api(`/v1/grants/${seg(g.grantId)}`, { method: 'DELETE' });
    grants = grants.filter((x) => x.grantId !== g.grantId);
    renderGrants(index);
    announce(`Revoked the grant for ${g.agentId} to ${g.actionType}.`);
  } catch (err) {
    reportError(err);
  }
}
