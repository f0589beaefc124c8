// Upload a bundle as the raw request body (the API takes one file per request), then submit it and
// show validation errors and scan findings at file and line.
import { api, el, token } from './app.js';

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
  const resp = await fetch('/api/platform/agents', {
    method: 'POST', body: file, headers: { Authorization: `Bearer ${token()}`, 'Content-Type': type },
  });
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
