// The instance's workspace files: a tree from GET /files, an editor that reads a file with its ETag and
// saves with If-Match, so a change made on the agent meanwhile comes back as 412 and is shown as a
// conflict (reload theirs, or overwrite with ours) instead of being lost. Signed skills are read-only.
import * as app from './app.js';

const { ApiError, el, token } = app;

function fileUrl(id, path) {
  return `/api/instances/${id}/files/${path.split('/').map(encodeURIComponent).join('/')}`;
}

// The JSON helper in app.js drops headers; files need ETag in and If-Match out, and raw bodies.
async function raw(url, { method = 'GET', body, ifMatch } = {}, retried = false) {
  const headers = {};
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (ifMatch) headers['If-Match'] = ifMatch;
  if (body !== undefined) headers['Content-Type'] = 'application/octet-stream';
  const resp = await fetch(url, { method, headers, body });
  // A page open past its token's hour renews it once, as app.js's api() does (when the session can).
  if (resp.status === 401 && t && !retried && app.renewToken && await app.renewToken()) {
    return raw(url, { method, body, ifMatch }, true);
  }
  if (!resp.ok) {
    let problem = null;
    try { problem = await resp.json(); } catch { /* not JSON */ }
    throw new ApiError(resp.status, problem);
  }
  return resp;
}

/** Nested {dirs, files} from flat paths, so the list reads as a tree. */
function tree(items) {
  const root = { dirs: new Map(), files: [] };
  for (const f of items) {
    const parts = f.path.split('/');
    let node = root;
    for (const dir of parts.slice(0, -1)) {
      if (!node.dirs.has(dir)) node.dirs.set(dir, { dirs: new Map(), files: [] });
      node = node.dirs.get(dir);
    }
    node.files.push({ ...f, name: parts[parts.length - 1] });
  }
  return root;
}

export function initFiles(id) {
  const list = document.getElementById('files');
  const editor = document.getElementById('editor');
  const pathEl = document.getElementById('editor-path');
  const text = document.getElementById('editor-text');
  const readonly = document.getElementById('editor-readonly');
  const save = document.getElementById('editor-save');
  const revert = document.getElementById('editor-revert');
  const status = document.getElementById('editor-status');
  const conflict = document.getElementById('editor-conflict');
  let open = null; // {path, etag, original, editable}
  let loaded = false;

  function render(node) {
    const ul = el('ul', { class: 'files' });
    for (const f of node.files.sort((a, b) => a.name.localeCompare(b.name))) {
      const button = el('button', { type: 'button', class: 'link file', 'data-path': f.path,
        'aria-label': `${f.path}${f.editable ? '' : ' (read-only signed skill)'}` }, f.name);
      button.addEventListener('click', () => openFile(f.path, f.editable));
      ul.append(el('li', {}, button, el('span', { class: 'muted' },
        ` · ${f.size} bytes${f.editable ? '' : ' · read-only (signed skill)'}${f.origin === 'edited' ? ' · edited' : ''}`)));
    }
    for (const [name, sub] of [...node.dirs.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      // Files first, then folders (open): the agent's own files are what people edit most.
      const details = el('details', { open: true }, el('summary', {}, `${name}/`), render(sub));
      ul.append(el('li', { class: 'dir' }, details));
    }
    return ul;
  }

  async function load() {
    loaded = true;
    try {
      const files = await (await raw(`/api/instances/${id}/files`)).json();
      if (!files.items.length) list.replaceChildren(el('li', { class: 'muted' }, 'No files.'));
      else list.replaceChildren(...render(tree(files.items)).children);
    } catch (err) {
      loaded = false;
      list.replaceChildren(el('li', { class: 'muted' }, `Files are not available: ${err.message}`));
    }
  }

  async function read(path) {
    const resp = await raw(fileUrl(id, path));
    const bytes = await resp.arrayBuffer();
    let content;
    try {
      content = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      content = null; // binary: shown, not editable here
    }
    return { etag: resp.headers.get('ETag'), content,
      editable: resp.headers.get('x-file-editable') !== 'false' };
  }

  function setConflict(on) {
    conflict.hidden = !on;
    save.disabled = on || !open?.editable;
  }

  async function openFile(path, editableHint = true) {
    status.textContent = `Opening ${path}…`;
    try {
      const got = await read(path);
      const editable = editableHint && got.editable && got.content !== null;
      open = { path, etag: got.etag, original: got.content ?? '', editable };
      editor.hidden = false;
      pathEl.textContent = path;
      text.value = got.content ?? '';
      text.readOnly = !editable;
      readonly.hidden = editableHint && got.editable;
      if (got.content === null) status.textContent = 'A binary file: it cannot be edited here.';
      else status.textContent = editable ? `Opened ${path}.` : `Opened ${path} (read-only).`;
      revert.hidden = !editable;
      setConflict(false);
      text.focus();
    } catch (err) {
      status.textContent = `Could not open ${path}: ${err.message}`;
    }
  }

  async function write(ifMatch) {
    const resp = await raw(fileUrl(id, open.path), { method: 'PUT', body: text.value, ifMatch });
    open.etag = resp.headers.get('ETag');
    open.original = text.value;
    setConflict(false);
    status.textContent = `Saved ${open.path}.`;
    load();
  }

  save.addEventListener('click', async () => {
    if (!open || !open.editable) return;
    status.textContent = 'Saving…';
    try {
      await write(open.etag);
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) {
        status.textContent = 'Not saved: the file changed since you opened it.';
        setConflict(true);
        document.getElementById('conflict-reload').focus();
      } else {
        status.textContent = `Not saved: ${err.message}`;
      }
    }
  });

  revert.addEventListener('click', () => {
    if (open) { text.value = open.original; status.textContent = 'Changes discarded.'; }
  });

  document.getElementById('conflict-reload').addEventListener('click', () => openFile(open.path, open.editable));

  document.getElementById('conflict-overwrite').addEventListener('click', async () => {
    // Overwrite what is there now, still conditionally: a third change in between is another conflict.
    status.textContent = 'Overwriting…';
    try {
      const current = await raw(fileUrl(id, open.path)).catch(() => null);
      await write(current?.headers.get('ETag') || undefined);
    } catch (err) {
      status.textContent = `Not saved: ${err.message}`;
      if (err instanceof ApiError && err.status === 412) setConflict(true);
    }
  });

  return { load, get loaded() { return loaded; } };
}
