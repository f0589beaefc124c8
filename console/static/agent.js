import { api } from './app.js';
import { renderMarkdown } from './markdown.js';

const source = document.getElementById('description-source');
const target = document.getElementById('description');
if (source && target) renderMarkdown(source.textContent, target);

const hire = document.getElementById('hire');
const status = document.getElementById('hire-status');
hire?.addEventListener('click', async () => {
  hire.disabled = true;
  status.textContent = 'Hiring…';
  try {
    const instance = await api('/api/instances', { method: 'POST', body: { agent: hire.dataset.agent } });
    window.location.assign(`/console/instances/${instance.id}`);
  } catch (err) {
    status.textContent = `Could not hire: ${err.message}`;
    hire.disabled = false;
  }
});
