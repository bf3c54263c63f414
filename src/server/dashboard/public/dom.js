// DOM building and small formatting helpers. Every server value is untrusted, so nothing here
// ever parses HTML: elements are created one by one and text goes in as text nodes.

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Create an HTML element: `h('p', { class: 'x' }, 'text', child)`. `on…` functions become listeners. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** Same as `h`, for SVG elements. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const byId = (id) => document.getElementById(id);

/** A label (and hint) above its control; the control must carry an `id`. */
export function field(label, control, hint) {
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), hint ?? null, control);
}

/** Audit data may arrive as an object or as its JSON text: accept both. */
export function asObject(value) {
  if (typeof value === 'string') {
    try {
      return asObject(JSON.parse(value));
    } catch {
      return {};
    }
  }
  return value !== null && typeof value === 'object' ? value : {};
}

export const prettyJson = (value) => JSON.stringify(value ?? {}, null, 2);

// Risk

const LEVELS = ['low', 'medium', 'high', 'critical'];

/** low < 30 ≤ medium < 70 ≤ high < 90 ≤ critical. */
export function levelOfScore(score) {
  return score >= 90 ? 'critical' : score >= 70 ? 'high' : score >= 30 ? 'medium' : 'low';
}

/** The server's level when it sends a known one, else the level of the score. */
export const riskLevel = (score, level) => (LEVELS.includes(level) ? level : levelOfScore(Number(score) || 0));

/** "72 high", coloured by level. */
export function riskBadge(score, level) {
  const n = Math.round(Number(score) || 0);
  const lvl = riskLevel(n, level);
  return h('span', { class: `risk-badge risk-${lvl}` }, h('span', { class: 'visually-hidden' }, 'Risk '), `${n} ${lvl}`);
}

// Time

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** An ISO time in the browser's zone (the raw text if it does not parse). */
export function localTime(iso) {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? String(iso ?? '—') : dateTime.format(ms);
}

/** "12 s", "3 min", "5 h", "2 d". */
export function span(ms) {
  const sec = Math.max(0, Math.round(ms / 1000));
  if (sec < 60) return `${sec} s`;
  const min = Math.floor(sec / 60);
  if (min < 60) return `${min} min`;
  const hours = Math.floor(min / 60);
  return hours < 48 ? `${hours} h` : `${Math.floor(hours / 24)} d`;
}

/** Text of a ticking time: `ago` → "3 min", `until` → "expires in 4 min" / "expired". */
function relText(kind, ms, now) {
  if (kind === 'until') return ms <= now ? 'expired' : `expires in ${span(ms - now)}`;
  return span(now - ms);
}

/** A `<time>` that `refreshTimes` keeps current. */
export function relTime(iso, kind) {
  const el = h('time', { datetime: iso, 'data-rel': kind, title: localTime(iso) });
  updateTime(el, Date.now());
  return el;
}

function updateTime(el, now) {
  const ms = Date.parse(el.getAttribute('datetime'));
  if (Number.isNaN(ms)) return;
  el.textContent = relText(el.dataset.rel, ms, now);
  el.toggleAttribute('data-expired', el.dataset.rel === 'until' && ms <= now);
}

/** Re-render every ticking time under `root` (called every few seconds). */
export function refreshTimes(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll('time[data-rel]')) updateTime(el, now);
}

// Messages

/** Tell screen-reader users what happened (new requests, decisions). Keeps the last few lines. */
export function announce(message) {
  const region = byId('announcer');
  region.append(h('p', {}, message));
  while (region.childElementCount > 5) region.firstElementChild.remove();
}

/** Show an error in the alert region (role="alert" makes screen readers say it at once). */
export function showAlert(message) {
  byId('alert').textContent = message;
  byId('alert-box').classList.add('has-alert');
  byId('alert-dismiss').hidden = false;
}

export function clearAlert() {
  byId('alert').textContent = '';
  byId('alert-box').classList.remove('has-alert');
  byId('alert-dismiss').hidden = true;
}

/** Show a failed call's message; a 401 is left alone (the app is already back at sign-in). */
export function reportError(err) {
  if (err?.status === 401) return;
  showAlert(err?.message || String(err));
}

/** Move focus to `el` (making it focusable by script only when it is not already). */
export function focusOn(el) {
  if (!el) return;
  if (!el.matches('a[href], button, input, select, textarea, [tabindex]')) el.setAttribute('tabindex', '-1');
  el.focus();
}

// Organisations

let orgPrefix = '';

/**
 * The signed-in organisation. The audit trail stores its agents as `ORG::AGENT` (the default
 * organisation's unqualified); the page shows and compares them as the agents name themselves.
 */
export function setOrganisation(org) {
  orgPrefix = org && org !== 'default' ? `${org}::` : '';
}

const localId = (id) => (orgPrefix && typeof id === 'string' && id.startsWith(orgPrefix) ? id.slice(orgPrefix.length) : id);

/** An audit event with its agent ids as this organisation names them. */
export function localEvent(event) {
  if (!orgPrefix || !event || typeof event !== 'object') return event;
  const data = asObject(event.data);
  return { ...event, agentId: localId(event.agentId), data: 'agentId' in data ? { ...data, agentId: localId(data.agentId) } : data };
}
