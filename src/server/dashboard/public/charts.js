// Two small SVG bar charts, drawn to the width of their box (and redrawn when it changes).
// Colours come from CSS classes; the SVG is one image to assistive technology (role="img" with
// a summary) and the numbers are also given as a table by the caller.

import { h, s } from './dom.js';

const HEIGHT = 220;
const M = { top: 12, right: 8, bottom: 26, left: 40 };

/** A box whose chart `draw(width)` is redrawn whenever the box changes width. */
export function responsiveChart(draw) {
  const box = h('div', { class: 'chart' });
  let width = 0;
  const observer = new ResizeObserver(([entry]) => {
    const w = Math.floor(entry.contentRect.width);
    if (w > 0 && w !== width) {
      width = w;
      box.replaceChildren(draw(w));
    }
  });
  observer.observe(box);
  return { box, stop: () => observer.disconnect() };
}

/** A round step giving about four gridlines up to `max` (whole numbers only: these are counts). */
function scale(max) {
  const rough = Math.max(1, max / 4);
  const p = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * p).find((v) => v >= rough);
  return { step, top: Math.max(step, Math.ceil(max / step) * step) };
}

/** Frame: gridlines with their values, and the x labels (every `every`-th). */
function frame(width, top, step, labels, every) {
  const innerH = HEIGHT - M.top - M.bottom;
  const slot = (width - M.left - M.right) / labels.length;
  const parts = [];
  for (let v = 0; v <= top; v += step) {
    const y = M.top + innerH - (v / top) * innerH;
    parts.push(s('line', { class: 'grid', x1: M.left, x2: width - M.right, y1: y, y2: y }),
      s('text', { class: 'tick', x: M.left - 6, y: y + 4, 'text-anchor': 'end' }, String(v)));
  }
  labels.forEach((label, i) => {
    if (i % every === 0) parts.push(s('text', { class: 'tick', x: M.left + slot * (i + 0.5), y: HEIGHT - 8, 'text-anchor': 'middle' }, label));
  });
  return parts;
}

/**
 * Stacked bars: one per bucket, segments in `keys` order from the bottom.
 * `buckets[i][key]` are counts; `labels[i]` names bucket i; `titles[i]` is its tooltip.
 */
export function stackedBars(width, { buckets, keys, labels, titles, summary }) {
  const count = (b, k) => Number(b[k]) || 0;
  const { step, top } = scale(Math.max(0, ...buckets.map((b) => keys.reduce((n, k) => n + count(b, k), 0))));
  const innerH = HEIGHT - M.top - M.bottom;
  const slot = (width - M.left - M.right) / buckets.length;
  const barW = Math.max(1, slot * 0.7);
  const y = (v) => M.top + innerH - (v / top) * innerH;
  const bars = buckets.map((b, i) => {
    let base = 0;
    const x = M.left + slot * i + (slot - barW) / 2;
    const segments = keys.filter((k) => count(b, k) > 0).map((k) => {
      const rect = s('rect', { class: `bar-${k}`, x, width: barW, y: y(base + count(b, k)), height: y(base) - y(base + count(b, k)) });
      base += count(b, k);
      return rect;
    });
    return s('g', {}, s('title', {}, titles[i]), segments);
  });
  const every = Math.ceil(labels.length / Math.max(1, Math.floor(width / 70)));
  return s('svg', { class: 'chart-svg', width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: 'img', 'aria-label': summary },
    frame(width, top, step, labels, every), bars);
}

/** Plain bars: `values[i]` with class `classes[i]`. */
export function bars(width, { values, labels, classes, titles, summary }) {
  return stackedBars(width, {
    buckets: values.map((v, i) => ({ [classes[i]]: v })),
    keys: [...new Set(classes)],
    labels,
    titles,
    summary,
  });
}
