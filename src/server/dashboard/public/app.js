// Start-up, session, routing and the live stream. The pages live in their own modules; each
// exports { title, mount(root, ctx), unmount(), onEvent(event, shown), reset() }.

import { api, onSessionLost, setCsrfToken } from './api.js';
import { activityView } from './activity.js';
import { agentsView } from './agents.js';
import { auditView } from './audit.js';
import { announce, byId, clearAlert, h, localEvent, refreshTimes, reportError, setOrganisation, showAlert } from './dom.js';
import { connectLive } from './live.js';
import { pendingView, refreshQueue } from './pending.js';
import { policyView } from './policy.js';
import { webhooksView } from './webhooks.js';

const VIEWS = { pending: pendingView, audit: auditView, agents: agentsView, activity: activityView, policy: policyView, webhooks: webhooksView };
const TICK_MS = 5000;

const SIGNED_IN_PARTS = ['who', 'sign-out', 'live-status', 'main-nav', 'view'];

let session = null;
let live = null;
let current = null; // { name, view }

// Session

async function start() {
  wireControls();
  onSessionLost(() => signedOut('Your session has ended. Sign in again.'));
  setInterval(() => refreshTimes(), TICK_MS);
  try {
    signedIn(await api('/ui/session', { quiet401: true }));
  } catch (err) {
    showSignIn();
    if (err.status !== 401) showAlert(err.message);
  }
}

/** Show the app; `fromForm`: the user just signed in, so focus moves to the page heading. */
function signedIn(answer, fromForm = false) {
  session = answer;
  setCsrfToken(answer.csrfToken);
  setOrganisation(answer.org);
  byId('who-name').textContent = answer.name;
  byId('who-role').textContent = answer.role;
  byId('who-org').textContent = answer.org;
  showParts(true);
  setLive('connecting');
  live = connectLive({
    onEvent: dispatch,
    onStatus: setLive,
    // Stream refused: if the session is gone this 401s (→ sign-in); otherwise the stream retries.
    onClosed: () => api('/ui/session').catch(() => {}),
    onAuthLost: () => signedOut('Your session has ended. Sign in again.'),
  });
  route(fromForm);
}

/** Back to the sign-in form, forgetting everything the last user saw. */
function signedOut(message) {
  if (!session) return;
  session = null;
  live?.stop();
  live = null;
  setCsrfToken('');
  current?.view.unmount();
  current = null;
  for (const view of Object.values(VIEWS)) view.reset();
  byId('view').replaceChildren();
  showSignIn();
  if (message) showAlert(message);
}

/** Signed in: header details, nav and page; signed out: the sign-in form only. */
function showParts(signedIn) {
  for (const id of SIGNED_IN_PARTS) byId(id).hidden = !signedIn;
  byId('signin').hidden = signedIn;
  byId('loading').hidden = true;
}

function showSignIn() {
  showParts(false);
  document.title = 'Sign in · Ascend';
  byId('api-key').focus();
}

async function signIn(e) {
  e.preventDefault();
  const input = byId('api-key');
  const button = e.currentTarget.querySelector('button');
  button.disabled = true;
  try {
    const answer = await api('/ui/session', { method: 'POST', body: { apiKey: input.value.trim() }, quiet401: true });
    input.value = '';
    clearAlert();
    signedIn(answer, true);
    announce(`Signed in as ${answer.name}.`);
  } catch (err) {
    showAlert(err.message);
    input.focus();
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  try {
    await api('/ui/session/end', { method: 'POST', quiet401: true });
  } catch (err) {
    if (err.status !== 401) {
      reportError(err);
      return;
    }
  }
  signedOut();
  announce('Signed out.');
}

// Live

const LIVE_TEXT = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…' };

function setLive(state) {
  const el = byId('live-status');
  // On each (re)connection reread the queue (it also feeds the nav badge): it may have moved
  // while the stream was down, or before it started. 'live' comes with the stream's `ready`
  // event, sent once the server has fixed where the stream starts: a request made after that
  // arrives on the stream, one made before is in the list read now.
  if (state === 'live' && el.dataset.state !== 'live') refreshQueue();
  el.dataset.state = state;
  el.textContent = LIVE_TEXT[state];
}

function dispatch(event) {
  if (!session || typeof event?.type !== 'string') return;
  const local = localEvent(event);
  for (const view of Object.values(VIEWS)) view.onEvent(local, current?.view === view);
}

// Routing

function routeName() {
  const name = /^#\/(\w+)/.exec(location.hash)?.[1];
  return name && Object.hasOwn(VIEWS, name) ? name : 'pending';
}

/** Show the page the hash names; `moveFocus` puts focus on its heading (after a nav click). */
function route(moveFocus) {
  if (!session) return;
  const name = routeName();
  if (location.hash !== `#/${name}`) history.replaceState(null, '', `#/${name}`);
  current?.view.unmount();
  clearAlert();
  const root = h('section', { class: 'page', 'aria-labelledby': `${name}-title` });
  byId('view').replaceChildren(root);
  current = { name, view: VIEWS[name] };
  current.view.mount(root, { session });
  for (const link of document.querySelectorAll('#main-nav a')) {
    if (link.dataset.route === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${current.view.title} · Ascend`;
  if (moveFocus) byId(`${name}-title`)?.focus();
}

// Controls in index.html

function wireControls() {
  byId('signin-form').addEventListener('submit', signIn);
  byId('sign-out').addEventListener('click', signOut);
  byId('alert-dismiss').addEventListener('click', clearAlert);
  window.addEventListener('hashchange', () => route(true));
  // The skip link must not change the hash: the hash is the router's.
  byId('skip-link').addEventListener('click', (e) => {
    e.preventDefault();
    byId('main').focus();
  });
}

start();
