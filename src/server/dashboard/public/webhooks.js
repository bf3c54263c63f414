// The Webhooks page (admins): the organisation's webhooks, one form to add one — JSON for
// programs, or a message for people in Slack, Microsoft Teams or email with approve / reject
// buttons — and Remove. Events default to the server's list; the CLI and the API choose others.

import { api, seg } from './api.js';
import { announce, field, focusOn, h, localTime, reportError, showAlert, clearAlert } from './dom.js';

const FORMATS = [
  ['json', 'JSON (for programs, signed)'],
  ['slack', 'Slack message (incoming webhook URL)'],
  ['teams', 'Microsoft Teams card (workflow webhook URL)'],
  ['email', 'Email (mailto:addresses)'],
];

let root = null;
let isAdmin = false;
let list = null;

export const webhooksView = {
  title: 'Webhooks',
  mount(el, ctx) {
    root = el;
    isAdmin = ctx.session.role === 'admin';
    list = h('div', { id: 'webhooks-list' }, h('p', { class: 'muted' }, 'Loading webhooks…'));
    if (!isAdmin) {
      root.replaceChildren(h('h1', { id: 'webhooks-title', tabindex: '-1' }, 'Webhooks'), h('p', { class: 'muted' }, 'Webhooks are configured by admins: sign in with an admin key.'));
      return;
    }
    root.replaceChildren(h('h1', { id: 'webhooks-title', tabindex: '-1' }, 'Webhooks'), list, createForm());
    load();
  },
  unmount() {
    root = null;
    list = null;
  },
  onEvent() {},
  reset() {},
};

async function load() {
  const view = root;
  try {
    const { webhooks } = await api('/v1/webhooks');
    if (root === view && view) renderList(webhooks);
  } catch (err) {
    reportError(err);
  }
}

function renderList(all) {
  // A removed webhook keeps its delivery history on the server; the page lists those in use.
  const webhooks = all.filter((w) => !w.disabledAt);
  if (webhooks.length === 0) {
    list.replaceChildren(h('p', { class: 'empty' }, 'No webhooks yet.'));
    return;
  }
  list.replaceChildren(h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-labelledby': 'webhooks-title' },
    h('table', { class: 'webhooks' },
      h('thead', {}, h('tr', {}, ['Target', 'Format', 'Buttons', 'Events', 'Created'].map((t) => h('th', { scope: 'col' }, t)), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Remove')))),
      h('tbody', {}, webhooks.map((w) =>
        h('tr', { 'data-webhook-id': w.webhookId },
          h('td', { class: 'target' }, h('code', {}, w.url)),
          h('td', {}, w.format),
          h('td', {}, w.interactive ? 'decide in Slack' : w.approvalLinks ? 'one-click links' : '—'),
          h('td', { class: 'small' }, w.events.join(', ')),
          h('td', { class: 'nowrap' }, localTime(w.createdAt), h('div', { class: 'small' }, w.createdBy)),
          h('td', {}, h('button', { type: 'button', class: 'secondary', onclick: (e) => remove(w, e.currentTarget) }, 'Remove'))))))));
}

function createForm() {
  const url = h('input', { id: 'webhook-url', name: 'url', type: 'text', required: true, maxlength: '2048', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'webhook-url-hint' });
  const format = h('select', { id: 'webhook-format', name: 'format' }, FORMATS.map(([value, label]) => h('option', { value }, label)));
  const interactive = h('input', { id: 'webhook-interactive', name: 'interactive', type: 'checkbox', disabled: true });
  const secretBox = h('div', { id: 'webhook-secret', role: 'status' });
  format.addEventListener('change', () => {
    interactive.disabled = format.value !== 'slack';
    if (interactive.disabled) interactive.checked = false;
  });
  const submit = async (e) => {
    e.preventDefault();
    const button = e.currentTarget.querySelector('button[type=submit]');
    const body = { url: url.value.trim(), format: format.value };
    if (interactive.checked) body.interactive = true;
    if (!body.url) {
      showAlert('Give the webhook URL (or mailto: addresses for email).');
      url.focus();
      return;
    }
    button.disabled = true;
    try {
      const made = await api('/v1/webhooks', { method: 'POST', body });
      clearAlert();
      url.value = '';
      // A program checks JSON deliveries with the secret; chat services and mail do not.
      secretBox.replaceChildren(made.secret && made.format === 'json'
        ? h('p', {}, 'Signing secret (shown once; your endpoint checks deliveries with it): ', h('code', { class: 'secret' }, made.secret))
        : h('p', {}, `Webhook added: approval requests now reach it as ${made.format === 'email' ? 'emails' : 'messages'} with approve / reject buttons.`));
      announce(`Added a ${made.format} webhook.`);
      await load();
    } catch (err) {
      // The server names the field at fault (body.url, body.interactive, …): say it plainly.
      const fields = (err.details?.issues ?? []).map((i) => `${String(i.path).replace(/^body\./, '')}: ${i.message}`);
      showAlert(fields.length ? `${err.message} (${fields.join('; ')})` : err.message);
      url.focus();
    } finally {
      button.disabled = false;
    }
  };
  return h('form', { class: 'webhook-form', onsubmit: submit, 'aria-labelledby': 'webhook-form-title' },
    h('h2', { id: 'webhook-form-title' }, 'Add a webhook'),
    field('URL', url, h('p', { id: 'webhook-url-hint', class: 'hint' }, 'A Slack incoming webhook, a Teams workflow URL, your endpoint, or mailto:a@example.com,b@example.com. Messages for people carry approve / reject buttons.')),
    field('Format', format),
    h('div', { class: 'field checkbox' }, interactive, h('label', { for: 'webhook-interactive' }, 'Slack: buttons decide inside Slack (the server needs its Slack app)')),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Add webhook')),
    secretBox);
}

async function remove(w, button) {
  button.disabled = true;
  try {
    await api(`/v1/webhooks/${seg(w.webhookId)}`, { method: 'DELETE' });
    announce(`Removed the webhook to ${w.url}.`);
    await load();
    focusOn(document.getElementById('webhooks-title'));
  } catch (err) {
    button.disabled = false;
    reportError(err);
  }
}
