// Credits page: usage by agent and day (GET /api/usage) as a chart with a table of the same numbers,
// and buying through Stripe Checkout or managing the plan in the Customer Portal (both hand back a URL
// to send the browser to; Stripe sends it back to /billing, which lands here).
import { api, el } from './app.js';
import { PALETTE, stackedBars } from './chart.js';

function dayRange(from, to) {
  const days = [];
  for (let d = new Date(`${from}T00:00:00Z`); d <= new Date(`${to}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + 1)) {
    days.push(d.toISOString().slice(0, 10));
  }
  return days;
}

function usageView(usage) {
  const days = dayRange(usage.from, usage.to);
  const names = new Map(); // agent key → name, in first-seen order
  for (const it of usage.items) names.set(it.agent_id || 'none', it.agent_name || it.agent_slug || 'Other');
  const series = [...names].map(([key, name]) => ({
    name,
    values: days.map((day) => usage.items.filter((it) => (it.agent_id || 'none') === key && it.day === day)
      .reduce((sum, it) => sum + it.credits, 0)),
  }));
  const total = usage.items.reduce((sum, it) => sum + it.credits, 0);
  if (!usage.items.length) return [el('p', { id: 'usage-empty' }, `No usage between ${usage.from} and ${usage.to}.`)];
  const chart = stackedBars({
    title: 'Credits used per day, by agent',
    description: `${total} credits from ${usage.from} to ${usage.to} across ${series.length} agent(s); the table below lists every day.`,
    days, series,
  });
  const legend = el('ul', { class: 'legend', 'aria-label': 'Chart legend' },
    ...series.map((s, k) => el('li', {}, el('span', { class: `swatch swatch-${k % PALETTE.length}`, 'aria-hidden': 'true' }),
      `${s.name}: ${s.values.reduce((a, b) => a + b, 0)} credits`)));
  const rows = [...usage.items].sort((a, b) => b.day.localeCompare(a.day) || (a.agent_name || '').localeCompare(b.agent_name || ''));
  const table = el('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Usage by agent and day (scrolls sideways)' },
    el('table', { id: 'usage-table' }, el('caption', { class: 'sr-only' }, 'Usage by agent and day, newest first'),
      el('thead', {}, el('tr', {}, ...['Day', 'Agent', 'Turns', 'Input tokens', 'Output tokens', 'Credits']
        .map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, ...rows.map((it) => el('tr', {}, el('td', {}, it.day), el('td', {}, it.agent_name || it.agent_slug || 'Other'),
        el('td', {}, String(it.turns)), el('td', {}, String(it.input_tokens)), el('td', {}, String(it.output_tokens)),
        el('td', {}, String(it.credits)))))));
  return [el('p', {}, `${total} credits used from ${usage.from} to ${usage.to}.`), el('figure', { class: 'chart-box' }, chart), legend, table];
}

async function loadUsage() {
  const box = document.getElementById('usage');
  try {
    box.replaceChildren(...usageView(await api('/api/usage')));
  } catch (err) {
    box.replaceChildren(el('p', { class: 'error' }, `Could not load usage: ${err.message}`));
  }
  delete box.dataset.loading;
}

const status = document.getElementById('billing-status');
const BEFORE_CHECKOUT = 'oa-available-before-checkout';

async function go(path, body, what) {
  for (const b of document.querySelectorAll('.buy button')) b.disabled = true;
  status.textContent = `Opening ${what}…`;
  try {
    const { url } = await api(path, { method: 'POST', ...(body ? { body } : {}) });
    // What "paid" is measured against on the way back: the page may render after the credits land.
    sessionStorage.setItem(BEFORE_CHECKOUT, document.getElementById('available').textContent);
    window.location.assign(url);
  } catch (err) {
    status.textContent = `Could not open ${what}: ${err.message}`;
    for (const b of document.querySelectorAll('.buy button')) b.disabled = false;
  }
}

document.addEventListener('click', (event) => {
  const button = event.target.closest('button');
  if (!button) return;
  if (button.dataset.topup) go('/api/billing/checkout', { topup: Number(button.dataset.topup) }, 'Checkout');
  else if (button.dataset.plan) go('/api/billing/checkout', { plan: button.dataset.plan }, 'Checkout');
  else if (button.id === 'portal') go('/api/billing/portal', null, 'the billing portal');
});

// Back from Checkout: Stripe's webhook is processed by a job, so the balance is followed for a while.
async function followBalance() {
  const note = document.getElementById('checkout-result');
  if (!note?.dataset.pending) return;
  // Done when the available credits differ from before Checkout (a plan's status may flip before its
  // credits are granted); without that record, from what this page first showed.
  const first = sessionStorage.getItem(BEFORE_CHECKOUT) ?? document.getElementById('available').textContent;
  sessionStorage.removeItem(BEFORE_CHECKOUT);
  for (let i = 0; i < 60; i += 1) {
    if (i > 0) await new Promise((r) => { setTimeout(r, 1000); });
    let b;
    try { ({ balance: b } = await api('/api/credits?limit=1')); } catch { continue; }
    document.getElementById('available').textContent = String(b.available);
    document.getElementById('topup').textContent = String(b.topup_credits);
    document.getElementById('subscription').textContent = String(b.subscription_credits)
      + (b.subscription_expires_at ? ` (expire ${b.subscription_expires_at.slice(0, 10)})` : '');
    document.getElementById('plan').textContent = `${b.plan} (${b.plan_status})`;
    if (String(b.available) !== first) {
      note.textContent = 'Payment received: the credits are on your balance.';
      break;
    }
  }
  delete note.dataset.pending;
}

loadUsage();
followBalance();
