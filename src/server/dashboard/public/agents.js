// The Agents page: who is registered, who is blocked, how much of each budget (a policy's
// `limit` rule) is used; admins can block (with a reason, asked in a small inline form) and unblock.

import { api, seg } from './api.js';
import { announce, focusOn, h, localTime, reportError, showAlert } from './dom.js';

let root = null;
let isAdmin = false;
let agents = [];
let reloadTimer = 0;

export const agentsView = {
  title: 'Agents',
  mount(el, ctx) {
    root = el;
    isAdmin = ctx.session.role === 'admin';
    render();
    load();
  },
  unmount() {
    root = null;
    clearTimeout(reloadTimer);
    reloadTimer = 0;
  },
  onEvent(event, shown) {
    if (!shown) return;
    if (event.type.startsWith('agent.')) {
      // Registrations and blocks by others: reload once a burst of events is over.
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(load, 500);
    } else if (event.type === 'action.evaluated' && reloadTimer === 0) {
      // Calls spend budgets: reload at most every two seconds while they come.
      reloadTimer = setTimeout(load, 2000);
    }
  },
  reset() {
    agents = [];
  },
};

function render() {
  const heads = ['Agent ID', 'Name', 'Type', 'Capabilities', 'Status', 'Budgets', 'Registered'];
  root.replaceChildren(
    h('h1', { id: 'agents-title', tabindex: '-1' }, 'Agents'),
    h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-labelledby': 'agents-title' },
      h('table', { class: 'agents' },
        h('thead', {}, h('tr', {}, heads.map((t) => h('th', { scope: 'col' }, t)), isAdmin ? h('th', { scope: 'col' }, 'Kill switch') : null)),
        h('tbody', {}, h('tr', {}, h('td', { colspan: '8', class: 'empty' }, 'Loading agents…'))))),
  );
}

async function load() {
  reloadTimer = 0;
  const view = root;
  try {
    ({ agents } = await api('/v1/agents'));
    if (root === view && view) renderRows();
  } catch (err) {
    reportError(err);
  }
}

/**
 * Bring the rows in line with `agents`, touching only rows that changed: removing a row (even to
 * put it back) would drop keyboard focus, and a row with an open block form is being typed in.
 */
function renderRows() {
  const body = root.querySelector('tbody');
  const old = new Map([...body.querySelectorAll('tr[data-agent-id]')].map((tr) => [tr.dataset.agentId, tr]));
  for (const tr of body.querySelectorAll('tr:not([data-agent-id])')) tr.remove();
  agents.forEach((a, i) => {
    let tr = old.get(a.agentId);
    old.delete(a.agentId);
    if (!tr || (drawn.get(tr) !== stateOf(a) && !tr.querySelector('.block-form'))) {
      const fresh = row(a);
      if (tr) tr.replaceWith(fresh);
      tr = fresh;
    }
    if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] ?? null);
  });
  for (const tr of old.values()) tr.remove();
  if (agents.length === 0) body.append(h('tr', {}, h('td', { colspan: '8', class: 'empty' }, 'No agents are registered yet.')));
}

/** What a row shows (`drawn`: row → what it showed), to tell whether it needs redrawing. */
const drawn = new WeakMap();
const stateOf = (a) => JSON.stringify([a.agentName, a.agentType, a.capabilities, a.blocked, a.blockedReason, a.registeredAt, a.budgets]);

/** One line per budget: rule, used / count per window, and when a used-up one frees a unit. */
function budgetsOf(a) {
  if (!Array.isArray(a.budgets) || a.budgets.length === 0) return '—';
  return a.budgets.map((b) =>
    h('div', { class: b.used >= b.count ? 'budget budget-spent' : 'budget', 'data-rule-id': b.ruleId },
      h('code', {}, b.ruleId), ` ${b.used} / ${b.count} per ${b.per}${b.scope === 'global' ? ' (all agents)' : ''}`,
      b.used >= b.count && b.resetsAt ? h('div', { class: 'small' }, `next unit at ${localTime(b.resetsAt)}`) : null));
}

function row(a) {
  const tr = h('tr', { 'data-agent-id': a.agentId },
    h('td', {}, h('code', {}, a.agentId)),
    h('td', {}, a.agentName),
    h('td', {}, a.agentType),
    h('td', {}, Array.isArray(a.capabilities) && a.capabilities.length ? a.capabilities.join(', ') : '—'),
    h('td', {}, a.blocked
      ? [h('span', { class: 'status status-blocked' }, 'Blocked'), a.blockedReason ? h('div', { class: 'small' }, a.blockedReason) : null]
      : h('span', { class: 'status status-active' }, 'Active')),
    h('td', {}, budgetsOf(a)),
    h('td', { class: 'nowrap' }, localTime(a.registeredAt)),
    isAdmin ? h('td', { class: 'controls' }, controlsFor(a)) : null);
  drawn.set(tr, stateOf(a));
  return tr;
}

function controlsFor(a) {
  return a.blocked
    ? h('button', { type: 'button', class: 'secondary', onclick: () => setBlocked(a, false) }, 'Unblock')
    : h('button', { type: 'button', class: 'reject', onclick: (e) => askReason(a, e.currentTarget.parentElement) }, 'Block');
}

/** Swap the Block button for a reason field + confirm / cancel. */
function askReason(a, cell) {
  const id = `block-reason-${cell.closest('tr').rowIndex}`;
  const input = h('input', { id, name: 'reason', type: 'text', required: true, maxlength: '1024', autocomplete: 'off' });
  const cancel = () => {
    cell.replaceChildren(controlsFor(a));
    cell.querySelector('button').focus();
  };
  const submit = (e) => {
    e.preventDefault();
    if (input.value.trim()) setBlocked(a, true, input.value.trim());
    else showAlert('Give a reason for blocking the agent.');
  };
  const form = h('form', { class: 'block-form', onsubmit: submit },
    h('label', { for: id }, 'Reason'),
    input,
    h('div', { class: 'buttons' },
      h('button', { type: 'submit', class: 'reject' }, 'Block agent'),
      h('button', { type: 'button', class: 'secondary', onclick: cancel }, 'Cancel')));
  form.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') cancel();
  });
  cell.replaceChildren(form);
  input.focus();
}

async function setBlocked(a, blocked, reason) {
  try {
    const updated = await api(`/v1/agents/${seg(a.agentId)}/${blocked ? 'block' : 'unblock'}`, { method: 'POST', body: blocked ? { reason } : {} });
    agents = agents.map((x) => (x.agentId === a.agentId ? updated : x));
    const old = root?.querySelector(`tr[data-agent-id="${CSS.escape(a.agentId)}"]`);
    if (old) {
      const fresh = row(updated);
      old.replaceWith(fresh);
      focusOn(fresh.querySelector('.controls button'));
    }
    announce(blocked ? `Blocked ${a.agentId}: its calls are denied from now on.` : `Unblocked ${a.agentId}.`);
  } catch (err) {
    reportError(err);
  }
}
