// Streamed chat: fetch + ReadableStream (EventSource can't send the Authorization header). While a
// turn streams, its id, last event id and text so far are kept in sessionStorage, so a reload picks
// the answer up again through GET /api/chat/stream/{turn_id} with Last-Event-ID.
import { api, el, renewToken, token } from './app.js';
import { renderMarkdown } from './markdown.js';

const root = document.getElementById('chat');
const instanceId = root.dataset.instance;
const log = document.getElementById('log');
const form = document.getElementById('composer');
const input = document.getElementById('message');
const send = document.getElementById('send');
const stop = document.getElementById('stop');
const statusEl = document.getElementById('chat-status');
const sessionKey = `oa-session:${instanceId}`;
const pendingKey = `oa-pending:${instanceId}`;
let controller = null;
const ownTurns = new Set(); // turns this tab streams itself; the session follower skips them

function bubble(role, text = '') {
  const body = el('div', { class: 'markdown' });
  const cost = el('p', { class: 'cost muted' });
  const tools = el('div', { class: 'tools' });
  const item = el('li', { class: `msg ${role}` }, el('p', { class: 'who' }, role === 'user' ? 'You' : 'Agent'),
    tools, body, cost);
  if (role === 'user') body.append(el('p', {}, text)); else renderMarkdown(text, body);
  log.append(item);
  item.scrollIntoView({ block: 'end' });
  return { item, body, cost, tools, calls: new Map() };
}

function showTool(b, data) {
  let box = b.calls.get(data.call_id);
  if (!box) {
    box = el('details', { class: 'tool' }, el('summary', {}, ''), el('pre', {}, ''));
    b.calls.set(data.call_id, box);
    b.tools.append(box);
  }
  box.querySelector('summary').textContent = `Tool ${data.name}: ${data.phase === 'result' ? 'done' : 'running…'}`;
  const { name, phase, call_id: callId, ...rest } = data;
  if (Object.keys(rest).length) box.querySelector('pre').textContent = JSON.stringify(rest, null, 2);
}

/** Parses an SSE byte stream; calls onEvent({id, event, data}) per event. */
async function readEvents(resp, onEvent) {
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, '\n');
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const ev = { id: null, event: 'message', data: '' };
      for (const line of block.split('\n')) {
        if (!line || line.startsWith(':')) continue;
        const sep = line.indexOf(':');
        const field = sep < 0 ? line : line.slice(0, sep);
        const val = sep < 0 ? '' : line.slice(sep + 1).replace(/^ /, '');
        if (field === 'id') ev.id = Number(val);
        else if (field === 'event') ev.event = val;
        else if (field === 'data') ev.data += (ev.data ? '\n' : '') + val;
      }
      if (ev.data) onEvent({ ...ev, data: JSON.parse(ev.data) });
    }
  }
}

function busy(on, text = '') {
  send.disabled = on;
  stop.disabled = !on;
  statusEl.textContent = text;
}

async function consume(resp, b, state) {
  let rendering = false;
  const rerender = () => {
    if (rendering) return;
    rendering = true;
    requestAnimationFrame(() => { rendering = false; renderMarkdown(state.text, b.body); });
  };
  let finished = false;
  await readEvents(resp, ({ id, event, data }) => {
    if (id) state.last = id;
    if (event === 'session') {
      state.turn = data.turn_id;
      ownTurns.add(data.turn_id);
      if (!following) follow(data.session_id);
      localStorage.setItem(sessionKey, data.session_id);
    } else if (event === 'token') {
      state.text += data.text;
      rerender();
    } else if (event === 'tool') {
      state.tools = { ...(state.tools || {}), [data.call_id]: data };
      showTool(b, data);
    } else if (event === 'status') {
      statusEl.textContent = data.state === 'waking' ? 'Waking the agent…' : `Agent: ${data.state}`;
    } else if (event === 'done') {
      finished = true;
      b.cost.textContent = `Cost: ${data.credits} credit${data.credits === 1 ? '' : 's'}`;
      b.item.dataset.credits = String(data.credits);
      b.item.dataset.done = 'true';
    } else if (event === 'error') {
      finished = true;
      b.cost.textContent = `The answer failed: ${data.detail || data.title}`;
      b.item.dataset.done = 'error';
    }
    if (state.turn) sessionStorage.setItem(pendingKey, JSON.stringify(state));
  });
  renderMarkdown(state.text, b.body);
  return finished;
}

async function stream(requestFn, b, state) {
  controller = new AbortController();
  busy(true, 'Answering…');
  try {
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const resp = await requestFn(controller.signal);
      // The page outlived its token's hour: renew it and ask again (nothing was sent on a 401).
      if (resp.status === 401 && attempt === 0 && await renewToken()) continue;
      if (!resp.ok) {
        let problem = {};
        try { problem = await resp.json(); } catch { /* not JSON */ }
        b.cost.textContent = `Could not send: ${problem.detail || problem.title || resp.status}`;
        break;
      }
      if (await consume(resp, b, state)) break;
      // Ended without a terminal event (the function's time ran out): resume where it stopped.
      requestFn = (signal) => resumeRequest(state, signal);
    }
    sessionStorage.removeItem(pendingKey);
    busy(false, '');
  } catch (err) {
    if (err.name === 'AbortError') {
      sessionStorage.removeItem(pendingKey);
      b.cost.textContent = 'Stopped.';
      busy(false, 'Stopped');
    } else {
      busy(false, `Connection lost: ${err.message}`);
    }
  } finally {
    controller = null;
  }
}

function resumeRequest(state, signal) {
  return fetch(`/api/chat/stream/${state.turn}`, {
    headers: { Authorization: `Bearer ${token()}`, Accept: 'text/event-stream', 'Last-Event-ID': String(state.last || 0) },
    signal,
  });
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const message = input.value.trim();
  if (!message || controller) return;
  input.value = '';
  bubble('user', message);
  const b = bubble('assistant');
  const state = { turn: null, last: 0, text: '' };
  const body = { instance_id: instanceId, message, client_message_id: `web-${crypto.randomUUID()}` };
  const sessionId = localStorage.getItem(sessionKey);
  if (sessionId) body.session_id = sessionId;
  stream((signal) => fetch('/api/chat/stream', {
    method: 'POST',
    headers: { Authorization: `Bearer ${token()}`, 'Content-Type': 'application/json', Accept: 'text/event-stream' },
    body: JSON.stringify(body),
    signal,
  }), b, state);
});

input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
});
stop.addEventListener('click', () => controller?.abort());

async function history(skipTurn) {
  const sessionId = localStorage.getItem(sessionKey);
  if (!sessionId) return;
  try {
    const page = await api(`/api/sessions/${sessionId}/messages?limit=50`);
    const items = [...page.items].sort((a, b) => a.created_at.localeCompare(b.created_at));
    for (const m of items) {
      if (skipTurn && m.turn_id === skipTurn && m.role !== 'user') continue;
      const b = bubble(m.role === 'user' ? 'user' : 'assistant', m.content);
      for (const t of m.tool_events || []) if (t.call_id) showTool(b, t);
    }
  } catch {
    localStorage.removeItem(sessionKey); // a session of another account, or gone
  }
}

// Another tab (or device) on the same session: its turns appear here live, from
// GET /api/sessions/{id}/events (`turn` events carrying each turn's new events).
let following = null;
async function follow(sessionId) {
  following = sessionId;
  const turns = new Map();
  while (following === sessionId) {
    try {
      const resp = await fetch(`/api/sessions/${sessionId}/events`, {
        headers: { Authorization: `Bearer ${token()}`, Accept: 'text/event-stream' },
      });
      if (resp.status === 401 && await renewToken()) continue;
      if (!resp.ok) { following = null; return; }
      await readEvents(resp, ({ event, data }) => {
        if (event !== 'turn' || ownTurns.has(data.turn_id)) return;
        let t = turns.get(data.turn_id);
        if (!t) {
          t = { b: bubble('assistant'), text: '', last: 0 };
          t.b.item.dataset.followed = 'true';
          t.b.item.dataset.turn = data.turn_id;
          turns.set(data.turn_id, t);
        }
        for (const e of data.events) {
          if (e.id <= t.last) continue;
          t.last = e.id;
          if (e.event === 'token') t.text += e.data.text;
          else if (e.event === 'tool') showTool(t.b, e.data);
          else if (e.event === 'done') {
            t.b.cost.textContent = `Cost: ${e.data.credits} credit${e.data.credits === 1 ? '' : 's'}`;
            t.b.item.dataset.credits = String(e.data.credits);
            t.b.item.dataset.done = 'true';
          } else if (e.event === 'error') {
            t.b.cost.textContent = `The answer failed: ${e.data.detail || e.data.title}`;
            t.b.item.dataset.done = 'error';
          }
        }
        renderMarkdown(t.text, t.b.body);
      });
    } catch {
      await new Promise((r) => { setTimeout(r, 2000); });
    }
  }
}

async function start() {
  const saved = sessionStorage.getItem(pendingKey);
  const pending = saved ? JSON.parse(saved) : null;
  await history(pending?.turn);
  if (pending?.turn) ownTurns.add(pending.turn);
  const sessionId = localStorage.getItem(sessionKey);
  if (sessionId) follow(sessionId);
  if (pending?.turn) {
    const b = bubble('assistant', pending.text);
    for (const t of Object.values(pending.tools || {})) showTool(b, t);
    statusEl.textContent = 'Resuming the answer…';
    stream((signal) => resumeRequest(pending, signal), b, pending);
  }
}
start();
