// The instance's spend caps, the user's own provider keys (BYOK: listed by last four only; a key typed
// here is sent once and the field cleared) and SSH access with its audit log.
import { api, el } from './app.js';

const PROVIDERS = { openai: 'OpenAI', anthropic: 'Anthropic', google: 'Google', openrouter: 'OpenRouter' };

function cap(input) {
  const v = input.value.trim();
  return v === '' ? null : Number.parseInt(v, 10);
}

function lines(value) {
  return value.split('\n').map((s) => s.trim()).filter(Boolean);
}

export function initSpendCaps(id, onSaved) {
  const form = document.getElementById('spend-form');
  const hourly = document.getElementById('cap-hourly');
  const daily = document.getElementById('cap-daily');
  const status = document.getElementById('spend-status');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    status.textContent = 'Saving…';
    try {
      const instance = await api(`/api/instances/${id}`, { method: 'PATCH',
        body: { spend_cap: { hourly: cap(hourly), daily: cap(daily) } } });
      const c = instance.spend_cap || {};
      hourly.value = c.hourly ?? '';
      daily.value = c.daily ?? '';
      const says = (v) => (v === null || v === undefined ? 'plan default' : `${v} credits`);
      status.textContent = `Saved: ${says(c.hourly)} an hour, ${says(c.daily)} a day.`;
      if (onSaved) onSaved(instance);
    } catch (err) {
      status.textContent = `Not saved: ${err.message}`;
    }
  });
}

export function initKeys() {
  const list = document.getElementById('key-list');
  const form = document.getElementById('key-form');
  const value = document.getElementById('key-value');
  const status = document.getElementById('key-status');

  async function load() {
    try {
      const page = await api('/api/keys');
      if (!page.items.length) {
        list.replaceChildren(el('li', { class: 'muted' }, 'No keys: the platform’s own model access is used.'));
        return;
      }
      list.replaceChildren(...page.items.map((k) => {
        const name = PROVIDERS[k.provider] || k.provider;
        const remove = el('button', { type: 'button', class: 'danger small', 'aria-label': `Delete the ${name} key` },
          'Delete');
        remove.addEventListener('click', () => del(k.provider, name));
        return el('li', { 'data-provider': k.provider }, el('strong', {}, name), ' ',
          el('code', { class: 'masked', 'aria-label': `key ending in ${k.last_four}` }, `••••••••${k.last_four}`),
          el('span', { class: 'muted' }, k.last_used_at ? ` · last used ${new Date(k.last_used_at).toLocaleString()}`
            : ' · not used yet'), ' ', remove);
      }));
    } catch (err) {
      list.replaceChildren(el('li', { class: 'muted' }, `Keys are not available: ${err.message}`));
    }
  }

  async function del(provider, name) {
    // eslint-disable-next-line no-alert
    if (!window.confirm(`Delete your ${name} key?`)) return;
    try {
      await api(`/api/keys/${provider}`, { method: 'DELETE' });
      status.textContent = `Deleted the ${name} key.`;
      load();
    } catch (err) {
      status.textContent = `Could not delete: ${err.message}`;
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const provider = document.getElementById('key-provider').value;
    const key = value.value.trim();
    value.value = ''; // the key leaves the page with this request, and nothing keeps it
    status.textContent = 'Saving the key…';
    try {
      const saved = await api(`/api/keys/${provider}`, { method: 'PUT', body: { api_key: key } });
      const checked = saved.checked === false ? ' The provider did not accept it: check the key.' : '';
      status.textContent = `Saved the ${PROVIDERS[provider]} key ending in ${saved.last_four}.${checked}`;
      load();
    } catch (err) {
      status.textContent = `Not saved: ${err.message}`;
    }
  });

  load();
  return { load };
}

export function initSsh(id) {
  const form = document.getElementById('ssh-form');
  const status = document.getElementById('ssh-status');
  const audit = document.getElementById('ssh-audit');
  const field = (name) => document.getElementById(name);

  async function loadAudit() {
    try {
      const page = await api(`/api/instances/${id}/ssh/audit?limit=20`);
      if (!page.items.length) {
        audit.replaceChildren(el('tr', {}, el('td', { colspan: '4', class: 'muted' }, 'No commands yet.')));
        return;
      }
      audit.replaceChildren(...page.items.map((e) => el('tr', { 'data-outcome': e.outcome },
        el('td', {}, el('time', { datetime: e.created_at }, new Date(e.created_at).toLocaleString())),
        el('td', {}, el('code', {}, e.command)),
        el('td', {}, e.outcome + (e.detail ? ` (${e.detail})` : '')),
        el('td', {}, e.exit_code === null ? '—' : String(e.exit_code)))));
    } catch (err) {
      audit.replaceChildren(el('tr', {}, el('td', { colspan: '4', class: 'muted' },
        `The audit log is not available: ${err.message}`)));
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const body = { host: field('ssh-host').value.trim(), port: Number.parseInt(field('ssh-port').value, 10),
      user: field('ssh-user').value.trim(), private_key: field('ssh-key').value,
      allow: lines(field('ssh-allow').value), deny: lines(field('ssh-deny').value) };
    const hostKey = field('ssh-host-key').value.trim();
    if (hostKey) body.host_key = hostKey;
    status.textContent = 'Saving SSH access…';
    try {
      const saved = await api(`/api/instances/${id}/ssh`, { method: 'PUT', body });
      field('ssh-key').value = ''; // never kept in the page once stored
      status.textContent = `SSH access saved for ${saved.user}@${saved.host}:${saved.port}`
        + (saved.key_fingerprint ? ` (key ${saved.key_fingerprint}).` : '.');
      loadAudit();
    } catch (err) {
      status.textContent = `Not saved: ${err.message}`;
    }
  });

  document.getElementById('ssh-revoke').addEventListener('click', async () => {
    // eslint-disable-next-line no-alert
    if (!window.confirm('Revoke SSH access? The key is deleted and the next command is refused.')) return;
    try {
      await api(`/api/instances/${id}/ssh`, { method: 'DELETE' });
      status.textContent = 'SSH access revoked.';
    } catch (err) {
      status.textContent = err.status === 404 ? 'SSH access is not set up.' : `Could not revoke: ${err.message}`;
    }
  });

  loadAudit();
  return { loadAudit };
}
