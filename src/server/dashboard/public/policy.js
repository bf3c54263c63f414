// The Policy page: the version in force (and its labels), the last change of the policy file
// that did not load (the policy in force stayed), the history of switches — read again every few
// seconds while shown: a switch is the server's, not one organisation's event — and "what if":
// a candidate pasted here is replayed over the organisation's recorded calls before anyone
// pushes it.

import { api } from './api.js';
import { announce, field, h, localTime, reportError } from './dom.js';

const REFRESH_MS = 3000;

let root = null;
let body = null;
let timer = 0;

export const policyView = {
  title: 'Policy',
  mount(el) {
    root = el;
    // The heading stays put (it takes focus after a nav click) and so does "what if" (it is
    // being typed in); only the status between them is redrawn.
    body = h('div', { id: 'policy-body' }, h('p', { class: 'muted' }, 'Loading the policy…'));
    root.replaceChildren(h('h1', { id: 'policy-title', tabindex: '-1' }, 'Policy'), body, whatIf());
    load();
  },
  unmount() {
    root = null;
    body = null;
    clearTimeout(timer);
    timer = 0;
  },
  onEvent() {},
  reset() {},
};

async function load() {
  const view = root;
  try {
    // The history is the server operators' (the default organisation's): others see the status.
    const [status, history] = await Promise.all([api('/v1/policy'), api('/v1/policy/history?limit=50').catch((err) => (err.status === 403 ? null : Promise.reject(err)))]);
    if (root === view && view) render(status, history?.changes ?? null);
  } catch (err) {
    reportError(err);
  }
  if (root === view && view) timer = setTimeout(load, REFRESH_MS);
}

const short = (version) => (version ? version.slice(0, 'sha256:'.length + 12) : '—');
const labelsOf = (o) => [o.name, o.revision ? `revision ${o.revision}` : null].filter(Boolean).join(', ');

function render(status, changes) {
  const inForce = status.policyVersion
    ? h('dl', { class: 'policy-in-force' },
        h('dt', {}, 'In force'), h('dd', {}, h('code', { id: 'policy-version', title: status.policyVersion }, status.policyVersion)),
        labelsOf(status) ? [h('dt', {}, 'Labels'), h('dd', {}, labelsOf(status))] : null,
        h('dt', {}, 'File'), h('dd', {}, h('code', {}, status.file ?? '—')))
    : h('p', { class: 'error-text', id: 'policy-error' }, `No policy is in force, so every call is denied: ${status.error ?? 'unknown error'}`);
  const failure = status.lastLoadError
    ? h('div', { class: 'load-error', role: 'status', id: 'policy-load-error' },
        h('h2', {}, 'The latest change did not load'),
        h('p', {}, `At ${localTime(status.lastLoadError.at)}; the policy above stays in force.`),
        h('pre', { class: 'error-text' }, status.lastLoadError.message))
    : null;
  const rows = (changes ?? []).map((c) =>
    h('tr', { 'data-seq': String(c.seq) },
      h('td', { class: 'nowrap' }, localTime(c.at)),
      h('td', {}, h('code', { title: c.from ?? '' }, short(c.from)), ' → ', h('code', { title: c.to }, short(c.to)), labelsOf(c) ? h('div', { class: 'small' }, labelsOf(c)) : null),
      h('td', {}, c.cause === 'signal' ? 'SIGHUP' : c.cause),
      h('td', {}, c.actor)));
  body.replaceChildren(
    inForce,
    failure,
    h('h2', { id: 'policy-history-title' }, 'History'),
    changes === null
      ? h('p', { class: 'muted' }, "The policy is shared by every organisation on this server; its history is shown to the server's operators.")
      : changes.length === 0
      ? h('p', { class: 'muted' }, 'No switch since the audit trail began: the policy the server started with is in force.')
      : h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-labelledby': 'policy-history-title' },
          h('table', { class: 'policy-history' },
            h('thead', {}, h('tr', {}, ['When', 'Version', 'Cause', 'By'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', {}, rows))),
  );
}

const PERIODS = [
  ['1', 'the last 24 hours'],
  ['7', 'the last 7 days'],
  ['30', 'the last 30 days'],
  ['', 'all recorded history'],
];

/** "What if": paste a candidate, replay it over a period, see what would change. */
function whatIf() {
  const text = h('textarea', { id: 'whatif-text', name: 'text', rows: '12', spellcheck: 'false', autocomplete: 'off', required: true });
  const period = h('select', { id: 'whatif-period', name: 'period' }, PERIODS.map(([days, label]) => h('option', { value: days }, label)));
  const result = h('div', { id: 'whatif-result', 'aria-live': 'polite' });
  const button = h('button', { type: 'submit' }, 'Replay');
  const submit = async (e) => {
    e.preventDefault();
    button.disabled = true;
    result.replaceChildren(h('p', { class: 'muted' }, 'Replaying…'));
    const days = period.value;
    const body = { text: text.value, source: 'candidate (dashboard)' };
    if (days) body.since = new Date(Date.now() - Number(days) * 86_400_000).toISOString();
    try {
      const r = await api('/v1/policy/replay', { method: 'POST', body });
      result.replaceChildren(...replayView(r));
      announce(`Replayed ${r.replayed} calls: ${r.changed} would change.`);
    } catch (err) {
      if (err.status === 400) result.replaceChildren(h('pre', { class: 'error-text', id: 'whatif-error' }, err.message));
      else {
        result.replaceChildren();
        reportError(err);
      }
    } finally {
      button.disabled = false;
    }
  };
  return h('section', { class: 'what-if', 'aria-labelledby': 'whatif-title' },
    h('h2', { id: 'whatif-title' }, 'What if'),
    h('p', { class: 'muted' }, 'Paste a candidate policy to see what it would have decided for the calls your agents made, before it is pushed. Nothing is changed.'),
    h('form', { onsubmit: submit },
      field('Candidate policy', text),
      field('Calls made in', period),
      h('div', { class: 'buttons' }, button)),
    result);
}

function replayView(r) {
  const summary = h('p', { id: 'whatif-summary' },
    `Replayed ${r.replayed} recorded call${r.replayed === 1 ? '' : 's'}: ${r.changed} would change` +
    (r.unreplayable ? `, ${r.unreplayable} could not be replayed (their decision reads a redacted argument)` : '') +
    (r.skipped ? `, ${r.skipped} skipped (fail-open)` : '') + '.');
  const transitions = Object.entries(r.transitions).sort((a, b) => b[1] - a[1]);
  if (transitions.length === 0) return [summary];
  const table = (id, caption, heads, rows) =>
    h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-labelledby': `${id}-caption` },
      h('table', { id },
        h('caption', { id: `${id}-caption` }, caption),
        h('thead', {}, h('tr', {}, heads.map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rows)));
  return [
    summary,
    table('whatif-transitions', 'By change', ['Change', 'Calls'], transitions.map(([t, n]) => h('tr', {}, h('td', {}, t.replace('->', ' → ')), h('td', {}, String(n))))),
    table('whatif-rules', 'By rule of the candidate', ['Rule', 'Calls'], Object.entries(r.byRule).sort((a, b) => b[1] - a[1]).map(([rule, n]) => h('tr', {}, h('td', {}, h('code', {}, rule)), h('td', {}, String(n))))),
    table('whatif-examples', 'Examples', ['When', 'Agent', 'Action', 'Change', 'Reason'], r.examples.map((e) =>
      h('tr', {},
        h('td', { class: 'nowrap' }, localTime(e.at)),
        h('td', {}, h('code', {}, e.agentId)),
        h('td', {}, e.actionType),
        h('td', {}, `${e.from} → ${e.to}`),
        h('td', {}, e.reason)))),
  ];
}
