// The Activity page: totals, decisions over the last 24 hours and the risk distribution.

import { api } from './api.js';
import { bars, responsiveChart, stackedBars } from './charts.js';
import { h, levelOfScore, reportError } from './dom.js';

const DECISIONS = ['allowed', 'pending', 'denied'];
const RISK_RANGES = ['0–9', '10–19', '20–29', '30–39', '40–49', '50–59', '60–69', '70–79', '80–89', '90–100'];

let root = null;
let charts = [];
let reloadTimer = 0;

export const activityView = {
  title: 'Activity',
  mount(el) {
    root = el;
    render();
    load();
  },
  unmount() {
    root = null;
    stopCharts();
    clearTimeout(reloadTimer);
    reloadTimer = 0;
  },
  onEvent(event, shown) {
    // Evaluations change the counts: refresh at most every few seconds while shown.
    if (!shown || event.type !== 'action.evaluated' || reloadTimer) return;
    reloadTimer = setTimeout(() => {
      reloadTimer = 0;
      load();
    }, 3000);
  },
  reset() {},
};

function stopCharts() {
  for (const c of charts) c.stop();
  charts = [];
}

function render() {
  root.replaceChildren(
    h('h1', { id: 'activity-title', tabindex: '-1' }, 'Activity in the last 24 hours'),
    h('div', { class: 'activity-body' }, h('p', { class: 'empty' }, 'Loading statistics…')),
  );
}

async function load() {
  const view = root;
  try {
    const stats = await api('/v1/stats?hours=24');
    if (root === view && view) draw(stats);
  } catch (err) {
    reportError(err);
  }
}

function draw(stats) {
  stopCharts();
  const decisions = responsiveChart((w) => stackedBars(w, decisionData(stats)));
  const risk = responsiveChart((w) => bars(w, riskData(stats.risk)));
  charts = [decisions, risk];
  root.querySelector('.activity-body').replaceChildren(
    totals(stats.totals),
    h('p', { class: 'hint', hidden: !stats.truncated }, 'Very busy period: the charts count its oldest part only.'),
    h('section', { class: 'panel', 'aria-labelledby': 'chart-decisions-title' },
      h('h2', { id: 'chart-decisions-title' }, 'Decisions over time'),
      h('ul', { class: 'legend' }, DECISIONS.map((k) => h('li', {}, h('span', { class: `swatch bar-${k}` }), capital(k)))),
      decisions.box,
      decisionTable(stats)),
    h('section', { class: 'panel', 'aria-labelledby': 'chart-risk-title' },
      h('h2', { id: 'chart-risk-title' }, 'Risk distribution'),
      risk.box,
      riskTable(stats.risk)),
  );
}

const capital = (word) => word[0].toUpperCase() + word.slice(1);

function totals(t) {
  const all = DECISIONS.reduce((n, k) => n + (t[k] ?? 0), 0);
  return h('dl', { class: 'totals' },
    [['Total', all], ...DECISIONS.map((k) => [capital(k), t[k] ?? 0])].map(([label, n]) =>
      h('div', { class: `total total-${label.toLowerCase()}` }, h('dt', {}, label), h('dd', {}, String(n)))));
}

// Decisions over time

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const label = (iso) => clock.format(Date.parse(iso));

function decisionData(stats) {
  const buckets = stats.decisions;
  const sum = (b) => b.allowed + b.pending + b.denied;
  const busiest = buckets.reduce((best, b) => (!best || sum(b) > sum(best) ? b : best), null);
  const t = stats.totals;
  let summary = `Stacked bar chart of decisions in the last 24 hours, in ${buckets.length} intervals: ${t.allowed} allowed, ${t.pending} pending, ${t.denied} denied.`;
  if (busiest && sum(busiest) > 0) summary += ` Busiest interval from ${label(busiest.start)}: ${sum(busiest)} decisions.`;
  return {
    buckets,
    keys: DECISIONS,
    labels: buckets.map((b) => label(b.start)),
    titles: buckets.map((b) => `${label(b.start)}: ${b.allowed} allowed, ${b.pending} pending, ${b.denied} denied`),
    summary,
  };
}

function decisionTable(stats) {
  return dataTable('Decisions per interval', ['Interval from', 'Allowed', 'Pending', 'Denied'],
    stats.decisions.map((b) => [label(b.start), b.allowed, b.pending, b.denied]));
}

// Risk distribution

function riskData(risk) {
  const levels = RISK_RANGES.map((_, i) => levelOfScore(i * 10));
  const byLevel = {};
  risk.forEach((n, i) => { byLevel[levels[i]] = (byLevel[levels[i]] ?? 0) + n; });
  const total = risk.reduce((a, b) => a + b, 0);
  return {
    values: risk,
    labels: RISK_RANGES,
    classes: levels,
    titles: risk.map((n, i) => `Risk ${RISK_RANGES[i]}: ${n} calls`),
    summary: `Bar chart of risk scores for ${total} evaluated calls: ${byLevel.low ?? 0} low (0–29), ${byLevel.medium ?? 0} medium (30–69), ${byLevel.high ?? 0} high (70–89), ${byLevel.critical ?? 0} critical (90–100).`,
  };
}

function riskTable(risk) {
  return dataTable('Evaluated calls per risk score range', ['Risk score', 'Calls'], risk.map((n, i) => [RISK_RANGES[i], n]));
}

/** The chart's numbers for screen readers (wrapped: a table ignores the hiding box's size). */
function dataTable(caption, heads, rows) {
  return h('div', { class: 'visually-hidden' }, h('table', {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, heads.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows.map(([first, ...rest]) => h('tr', {}, h('th', { scope: 'row' }, first), rest.map((n) => h('td', {}, String(n))))))));
}
