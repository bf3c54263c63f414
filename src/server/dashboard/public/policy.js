// The Policy page: the version in force (and its labels), the last change of the policy file
// that did not load (the policy in force stayed), and the history of switches. Read again every
// few seconds while shown: a switch is the server's, not one organisation's event.

import { api } from './api.js';
import { h, localTime, reportError } from './dom.js';

const REFRESH_MS = 3000;

let root = null;
let body = null;
let timer = 0;

export const policyView = {
  title: 'Policy',
  mount(el) {
    root = el;
    // The heading stays put (it takes focus after a nav click); the body below it is redrawn.
    body = h('div', { id: 'policy-body' }, h('p', { class: 'muted' }, 'Loading the policy…'));
    root.replaceChildren(h('h1', { id: 'policy-title', tabindex: '-1' }, 'Policy'), body);
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
    const [status, { changes }] = await Promise.all([api('/v1/policy'), api('/v1/policy/history?limit=50')]);
    if (root === view && view) render(status, changes);
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
  const rows = changes.map((c) =>
    h('tr', { 'data-seq': String(c.seq) },
      h('td', { class: 'nowrap' }, localTime(c.at)),
      h('td', {}, h('code', { title: c.from ?? '' }, short(c.from)), ' → ', h('code', { title: c.to }, short(c.to)), labelsOf(c) ? h('div', { class: 'small' }, labelsOf(c)) : null),
      h('td', {}, c.cause === 'signal' ? 'SIGHUP' : c.cause),
      h('td', {}, c.actor)));
  body.replaceChildren(
    inForce,
    failure,
    h('h2', { id: 'policy-history-title' }, 'History'),
    changes.length === 0
      ? h('p', { class: 'muted' }, 'No switch since the audit trail began: the policy the server started with is in force.')
      : h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-labelledby': 'policy-history-title' },
          h('table', { class: 'policy-history' },
            h('thead', {}, h('tr', {}, ['When', 'Version', 'Cause', 'By'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', {}, rows))),
  );
}
