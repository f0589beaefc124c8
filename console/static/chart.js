// A stacked bar chart as inline SVG: one bar per day, one segment per series (an agent). Built with
// createElementNS and textContent only; the page puts a table with the same numbers next to it.

const NS = 'http://www.w3.org/2000/svg';
// Distinct hues that keep at least 3:1 contrast against white (WCAG non-text contrast).
export const PALETTE = ['#0b57d0', '#b3261e', '#146c2e', '#7a3cff', '#8a4b00', '#006a6a', '#a0307a', '#4a4a4a'];

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * days: ['2026-11-02', …]; series: [{ name, values: [number per day] }]. Returns an <svg> with a
 * title and a description that says what it shows (role="img": the table is the readable version).
 */
export function stackedBars({ title, description, days, series, width = 720, height = 240 }) {
  const pad = { top: 12, right: 8, bottom: 28, left: 48 };
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const totals = days.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
  const max = Math.max(1, ...totals);
  const step = innerW / Math.max(1, days.length);
  const barW = Math.max(2, step * 0.7);
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'chart',
    'aria-labelledby': 'chart-title chart-desc', preserveAspectRatio: 'xMidYMid meet' });
  root.append(svg('title', { id: 'chart-title' }, title), svg('desc', { id: 'chart-desc' }, description));
  // Axis: zero, half and the maximum, so the scale is readable without hovering.
  for (const frac of [0, 0.5, 1]) {
    const y = pad.top + innerH * (1 - frac);
    root.append(svg('line', { x1: pad.left, x2: width - pad.right, y1: y, y2: y, class: 'gridline' }),
      svg('text', { x: pad.left - 6, y: y + 4, 'text-anchor': 'end', class: 'axis' }, String(Math.round(max * frac))));
  }
  days.forEach((day, i) => {
    let y = pad.top + innerH;
    const x = pad.left + i * step + (step - barW) / 2;
    series.forEach((s, k) => {
      const v = s.values[i] || 0;
      if (!v) return;
      const h = (v / max) * innerH;
      y -= h;
      const rect = svg('rect', { x, y, width: barW, height: Math.max(h, 1), fill: PALETTE[k % PALETTE.length],
        'data-day': day, 'data-series': s.name, 'data-value': v });
      rect.append(svg('title', {}, `${day} · ${s.name}: ${v}`));
      root.append(rect);
    });
    // A label every few days keeps the axis legible at phone width.
    const every = Math.ceil(days.length / 8);
    const last = days.length - 1;
    if (i === last || (i % every === 0 && last - i >= every / 2)) {
      root.append(svg('text', { x: x + barW / 2, y: height - 8, 'text-anchor': 'middle', class: 'axis' }, day.slice(5)));
    }
  });
  return root;
}
