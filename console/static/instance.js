// Hire progress from provision_stage (polled), the failing stage and its reason, retry, actions; the
// page's other parts (usage, files, history, relays, caps, keys, SSH, notifications) are their own modules.
import { api } from './app.js';
import { initKeys, initSpendCaps, initSsh } from './access.js';
import { initNotifications, initSessions, initUsage } from './activity.js';
import { initFiles } from './files.js';
import { initRelays } from './relays.js';

const STAGES = ['queued', 'app', 'volume', 'machine', 'starting', 'ready'];
const section = document.getElementById('instance');
const id = section.dataset.id;
const statusEl = document.getElementById('status');
const progress = document.getElementById('progress');
const failure = document.getElementById('failure');
const retry = document.getElementById('retry');
const chatLink = document.getElementById('chat-link');
// What each status allows (the API checks again; this only keeps useless buttons away).
const ACTIONS = { running: ['suspend', 'stop', 'restart'], suspended: ['start', 'stop'], stopped: ['start'] };
let timer = null;
const files = initFiles(id);

function show(instance) {
  statusEl.textContent = instance.status;
  section.dataset.status = instance.status;
  section.dataset.stage = instance.provision_stage;
  const at = STAGES.indexOf(instance.provision_stage);
  const failed = instance.status === 'error';
  for (const li of section.querySelectorAll('.stages li')) {
    const i = STAGES.indexOf(li.dataset.stage);
    li.className = i < at || (i === at && instance.provision_stage === 'ready') ? 'done'
      : i === at ? (failed ? 'failed' : 'current') : '';
    if (i === at) li.setAttribute('aria-current', 'step'); else li.removeAttribute('aria-current');
  }
  if (failed) {
    progress.textContent = `Failed at stage “${instance.provision_stage}”.`;
    failure.textContent = instance.error_message || 'The agent could not be started.';
    failure.hidden = false;
  } else {
    failure.hidden = true;
    progress.textContent = instance.status === 'provisioning'
      ? `Setting up: ${instance.provision_stage} (${at + 1} of ${STAGES.length})…`
      : instance.status === 'running' ? 'Ready: your agent is running.' : `The agent is ${instance.status}.`;
  }
  retry.hidden = !failed;
  for (const button of section.querySelectorAll('button[data-action]')) {
    button.hidden = !(ACTIONS[instance.status] || []).includes(button.dataset.action);
  }
  document.getElementById('destroy').hidden = ['destroying', 'destroyed'].includes(instance.status);
  chatLink.hidden = !['running', 'suspended', 'stopped'].includes(instance.status);
  if (instance.status === 'running' && !files.loaded) files.load();
}

async function poll() {
  try {
    const instance = await api(`/api/instances/${id}`);
    show(instance);
    const busy = instance.status === 'provisioning' || instance.status === 'destroying';
    timer = setTimeout(poll, busy ? 700 : 5000);
  } catch (err) {
    progress.textContent = `Could not read the status: ${err.message}`;
    timer = setTimeout(poll, 3000);
  }
}

async function act(path, options = { method: 'POST' }) {
  try {
    show(await api(path, options));
  } catch (err) {
    progress.textContent = err.message;
  }
  clearTimeout(timer);
  timer = setTimeout(poll, 500);
}

retry.addEventListener('click', () => act(`/api/instances/${id}/start`));
for (const button of section.querySelectorAll('button[data-action]')) {
  button.addEventListener('click', () => act(`/api/instances/${id}/${button.dataset.action}`));
}
document.getElementById('destroy').addEventListener('click', () => {
  // eslint-disable-next-line no-alert
  if (window.confirm('Destroy this agent? Its machine and volume are deleted; chat history stays.')) {
    act(`/api/instances/${id}`, { method: 'DELETE' });
  }
});

show({ status: section.dataset.status, provision_stage: section.dataset.stage,
  error_message: failure.textContent.trim() || null });
poll();
initUsage();
initSessions(id);
initRelays(id);
initSpendCaps(id);
initKeys();
initSsh(id);
initNotifications();
