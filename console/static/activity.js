// What happened around the instance: its usage by day, its chat sessions (messages shown on demand,
// as text) and the user's latest notifications.
import { api, el } from './app.js';

function when(iso) {
  return el('time', { datetime: iso }, new Date(iso).toLocaleString());
}

export function initSessions(id) {
  const list = document.getElementById('sessions');

  async function showMessages(session, box, button) {
    const shown = button.getAttribute('aria-expanded') === 'true';
    button.setAttribute('aria-expanded', String(!shown));
    box.hidden = shown;
    if (shown || box.dataset.loaded) return;
    try {
      const page = await api(`/api/sessions/${session.id}/messages?limit=50`);
      box.dataset.loaded = 'true';
      box.replaceChildren(...(page.items.length ? page.items.map((m) => el('li', { class: `msg ${m.role}` },
        el('p', { class: 'who' }, m.role === 'user' ? 'You' : 'Agent'), el('p', { class: 'text' }, m.content)))
        : [el('li', { class: 'muted' }, 'No messages.')]));
    } catch (err) {
      box.replaceChildren(el('li', { class: 'muted' }, `Messages are not available: ${err.message}`));
    }
  }

  async function load() {
    try {
      const page = await api(`/api/instances/${id}/sessions?limit=20`);
      if (!page.items.length) {
        list.replaceChildren(el('li', { class: 'muted' }, 'No chat sessions yet.'));
        return;
      }
      list.replaceChildren(...page.items.map((s) => {
        const boxId = `session-${s.id}`;
        const box = el('ol', { class: 'log', id: boxId, hidden: true });
        const button = el('button', { type: 'button', class: 'link', 'aria-expanded': 'false', 'aria-controls': boxId },
          s.title || 'Untitled session');
        button.addEventListener('click', () => showMessages(s, box, button));
        return el('li', {}, button, el('span', { class: 'muted' }, ` · ${s.channel} · last message `),
          when(s.last_message_at), box);
      }));
    } catch (err) {
      list.replaceChildren(el('li', { class: 'muted' }, `Sessions are not available: ${err.message}`));
    }
  }

  load();
  return { load };
}

export function initNotifications() {
  const list = document.getElementById('notifications');
  api('/api/notifications?limit=10').then((page) => {
    if (!page.items.length) {
      list.replaceChildren(el('li', { class: 'muted' }, 'No notifications.'));
      return;
    }
    list.replaceChildren(...page.items.map((n) => el('li', { class: n.read_at ? '' : 'unread' },
      el('strong', {}, n.title), n.read_at ? '' : el('span', { class: 'sr-only' }, ' (unread)'), ' · ',
      when(n.created_at), el('p', { class: 'note-body' }, n.body))));
  }).catch((err) => {
    list.replaceChildren(el('li', { class: 'muted' }, `Notifications are not available: ${err.message}`));
  });
}

export function initUsage() {
  const section = document.getElementById('usage-section');
  const body = document.getElementById('usage');
  const total = document.getElementById('usage-total');
  api('/api/usage').then((report) => {
    const days = report.items.filter((u) => u.agent_id === section.dataset.agent)
      .sort((a, b) => b.day.localeCompare(a.day));
    const credits = days.reduce((sum, u) => sum + u.credits, 0);
    total.textContent = `${credits} credit${credits === 1 ? '' : 's'} from ${report.from} to ${report.to}.`;
    if (!days.length) {
      body.replaceChildren(el('tr', {}, el('td', { colspan: '4', class: 'muted' }, 'No usage yet.')));
      return;
    }
    body.replaceChildren(...days.map((u) => el('tr', {}, el('td', {}, u.day), el('td', {}, String(u.turns)),
      el('td', {}, `${u.input_tokens} / ${u.output_tokens}`), el('td', {}, String(u.credits)))));
  }).catch((err) => {
    body.replaceChildren(el('tr', {}, el('td', { colspan: '4', class: 'muted' }, `Usage is not available: ${err.message}`)));
  });
}
