// Chat apps linked to the instance: list, link (a single-use token: Telegram's deep link with a QR
// code drawn by the console's own /console/qr, or the command to send the bot), unlink.
import { api, el } from './app.js';

const NAMES = { telegram: 'Telegram', slack: 'Slack', discord: 'Discord', whatsapp: 'WhatsApp' };

export function initRelays(id) {
  const list = document.getElementById('relay-list');
  const form = document.getElementById('relay-form');
  const status = document.getElementById('relay-status');
  const box = document.getElementById('relay-link');
  const intro = document.getElementById('relay-link-intro');
  const deep = document.getElementById('relay-deep-link');
  const command = document.getElementById('relay-command');
  const qr = document.getElementById('relay-qr');
  const expires = document.getElementById('relay-expires');

  async function load() {
    try {
      const page = await api(`/api/instances/${id}/relays`);
      if (!page.items.length) {
        list.replaceChildren(el('li', { class: 'muted' }, 'No chat accounts are linked yet.'));
        return;
      }
      list.replaceChildren(...page.items.map((c) => {
        const name = NAMES[c.relay] || c.relay;
        const unlink = el('button', { type: 'button', class: 'danger small',
          'aria-label': `Unlink ${name} account ${c.external_user_id}` }, 'Unlink');
        unlink.addEventListener('click', () => remove(c, name));
        return el('li', { 'data-relay': c.relay }, el('strong', {}, name), ` · account ${c.external_user_id} · linked `,
          el('time', { datetime: c.created_at }, new Date(c.created_at).toLocaleString()), ' ', unlink);
      }));
    } catch (err) {
      list.replaceChildren(el('li', { class: 'muted' }, `Linked accounts are not available: ${err.message}`));
    }
  }

  async function remove(connection, name) {
    // eslint-disable-next-line no-alert
    if (!window.confirm(`Unlink this ${name} account? Its messages will ask to link again.`)) return;
    try {
      await api(`/api/relays/${connection.id}`, { method: 'DELETE' });
      status.textContent = `Unlinked the ${name} account.`;
      load();
    } catch (err) {
      status.textContent = `Could not unlink: ${err.message}`;
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const relay = document.getElementById('relay-kind').value;
    const name = NAMES[relay] || relay;
    status.textContent = `Making a ${name} link…`;
    try {
      const link = await api(`/api/instances/${id}/relays/${relay}/link`, { method: 'POST' });
      const telegram = relay === 'telegram';
      deep.hidden = !telegram;
      command.hidden = telegram;
      qr.hidden = !telegram;
      if (telegram) {
        intro.textContent = 'Open this link in Telegram (or scan the code with your phone) and press Start:';
        deep.href = link.url;
        deep.textContent = link.url;
        qr.src = `/console/qr?data=${encodeURIComponent(link.url)}`;
      } else {
        intro.textContent = `Send this message to the OpenAgents bot in ${name}:`;
        command.textContent = link.url;
        qr.removeAttribute('src');
      }
      expires.dateTime = link.expires_at;
      expires.textContent = new Date(link.expires_at).toLocaleString();
      box.hidden = false;
      status.textContent = `A ${name} link is ready.`;
    } catch (err) {
      status.textContent = `Could not make a link: ${err.message}`;
    }
  });

  load();
  return { load };
}
