// Upload a bundle as the raw request body (the API takes one file per request), then submit it and
// show validation errors and scan findings at file and line.
import { api, el, renewToken, token } from './app.js';

const result = document.getElementById('result');

function issuesTable(caption, rows) {
  return el('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
    el('table', {}, el('caption', {}, caption),
      el('thead', {}, el('tr', {}, ...['Rule', 'Severity', 'Where', 'Message'].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, ...rows.map((f) => el('tr', {}, el('td', {}, f.rule || '–'), el('td', {}, f.severity || 'error'),
        el('td', {}, el('code', {}, `${f.file || '(bundle)'}${f.line ? `:${f.line}` : ''}`)), el('td', {}, f.message))))));
}

async function submit(slug) {
  result.replaceChildren(el('p', {}, `Submitting ${slug}…`));
  try {
    const out = await api(`/api/platform/agents/${encodeURIComponent(slug)}/submit`, { method: 'POST' });
    const words = { published: 'Published: it is in the marketplace now.', review: 'Flagged: it waits for an admin to review it.',
      rejected: 'Rejected by the scan.' };
    result.replaceChildren(el('p', { id: 'submit-status', 'data-status': out.status }, words[out.status] || out.status));
    if (out.findings.length) result.append(issuesTable('Scan findings', out.findings));
  } catch (err) {
    result.replaceChildren(el('p', { class: 'error' }, `Could not submit: ${err.message}`));
  }
}

document.getElementById('upload').addEventListener('submit', async (event) => {
  event.preventDefault();
  const file = document.getElementById('bundle').files[0];
  if (!file) return;
  const type = /\.zip$/i.test(file.name) ? 'application/zip' : 'application/gzip';
  result.replaceChildren(el('p', {}, 'Uploading…'));
  const upload = () => fetch('/api/platform/agents', {
    method: 'POST', body: file, headers: { Authorization: `Bearer ${token()}`, 'Content-Type': type },
  });
  let resp = await upload();
  if (resp.status === 401 && await renewToken()) resp = await upload();
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    result.replaceChildren(el('p', { class: 'error' }, `Upload refused: ${body.detail || body.title || resp.status}`));
    if (body.errors?.length) result.append(issuesTable('Validation errors', body.errors));
    return;
  }
  result.replaceChildren(el('p', {}, `Draft ${body.slug} uploaded. `,
    el('button', { type: 'button', 'data-submit': body.slug }, `Submit ${body.slug}`)));
});

document.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-submit]');
  if (button) submit(button.dataset.submit);
});

// Versions and rollout state, loaded when asked for (GET /api/platform/agents/{slug} carries them).
function rolloutText(r) {
  if (!r) return 'no rollout (no live instances when it was published)';
  const stages = r.stages.map((s) => `stage ${s.stage}: ${s.updated}/${s.instances} updated, ${s.pending} pending, ${s.failed} failed`);
  return `rollout ${r.status}, stage ${r.stage} (first stage ${r.first_stage_percent}%)${stages.length ? ` · ${stages.join(' · ')}` : ''}${r.detail ? ` · ${r.detail}` : ''}`;
}

async function showVersions(button) {
  const slug = button.dataset.versions;
  const row = document.getElementById(`versions-${slug}`);
  const open = button.getAttribute('aria-expanded') === 'true';
  button.setAttribute('aria-expanded', String(!open));
  row.hidden = open;
  if (open) return;
  const box = row.querySelector('.versions');
  box.replaceChildren(el('p', {}, 'Loading versions…'));
  try {
    const draft = await api(`/api/platform/agents/${encodeURIComponent(slug)}`);
    const reason = draft.version?.review_reason;
    box.replaceChildren(
      el('table', { class: 'version-list' }, el('caption', {}, `Versions of ${draft.name}, newest first`),
        el('thead', {}, el('tr', {}, ...['Version', 'Status', 'Published', 'Live instances', 'Rollout']
          .map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, ...draft.versions.map((v) => el('tr', { 'data-version': v.version, 'data-status': v.status },
          el('td', {}, v.version), el('td', {}, v.status), el('td', {}, v.published_at ? v.published_at.slice(0, 10) : '–'),
          el('td', {}, String(v.instances)), el('td', {}, rolloutText(v.rollout)))))),
      ...(reason ? [el('p', {}, `Review note on ${draft.version.version}: ${reason}`)] : []));
  } catch (err) {
    box.replaceChildren(el('p', { class: 'error' }, `Could not load versions: ${err.message}`));
  }
}

document.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-versions]');
  if (button) showVersions(button);
});

// Appeal a rejected version: it goes back to the review queue with the creator's message.
for (const form of document.querySelectorAll('form.appeal')) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const outcome = form.querySelector('.outcome');
    const message = form.querySelector('textarea').value.trim();
    if (!message) return;
    try {
      const out = await api(`/api/platform/agents/${encodeURIComponent(form.dataset.slug)}/appeal`,
        { method: 'POST', body: { message } });
      outcome.textContent = `Appeal sent: the version is back in ${out.status}.`;
      form.dataset.appealed = out.status;
      for (const b of form.querySelectorAll('button, textarea')) b.disabled = true;
    } catch (err) {
      outcome.textContent = `Could not appeal: ${err.message}`;
    }
  });
}

// Payouts: a fresh Stripe Connect onboarding link each time (they are single use).
const connect = document.getElementById('connect');
connect?.addEventListener('click', async () => {
  const status = document.getElementById('connect-status');
  connect.disabled = true;
  status.textContent = 'Opening Stripe…';
  try {
    const link = await api('/api/platform/connect', { method: 'POST' });
    window.location.assign(link.url);
  } catch (err) {
    status.textContent = `Could not open onboarding: ${err.message}`;
    connect.disabled = false;
  }
});
