// A small markdown subset rendered to DOM nodes: text only ever becomes text nodes, so HTML in the
// source (a <script>, an onerror) shows as literal characters; links keep only http(s) and mailto
// targets (javascript:, data: and the like render as plain text).

const SAFE_URL = /^(https?:\/\/|mailto:)/i;

function safeHref(url) {
  const trimmed = url.trim();
  if (!SAFE_URL.test(trimmed)) return null;
  try {
    const u = new URL(trimmed);
    return ['http:', 'https:', 'mailto:'].includes(u.protocol) ? u.href : null;
  } catch {
    return null;
  }
}

// Inline: `code`, **strong**, *em* / _em_, [text](url). Everything else is text.
const INLINE = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*|_[^_\s][^_]*_)|(\[[^\]]+\]\([^)\s]+\))/;

export function renderInline(text, parent) {
  let rest = text;
  while (rest.length) {
    const m = INLINE.exec(rest);
    if (!m) { parent.append(document.createTextNode(rest)); break; }
    if (m.index) parent.append(document.createTextNode(rest.slice(0, m.index)));
    const tok = m[0];
    if (m[1]) {
      const code = document.createElement('code');
      code.textContent = tok.slice(1, -1);
      parent.append(code);
    } else if (m[2]) {
      const strong = document.createElement('strong');
      renderInline(tok.slice(2, -2), strong);
      parent.append(strong);
    } else if (m[3]) {
      const em = document.createElement('em');
      renderInline(tok.slice(1, -1), em);
      parent.append(em);
    } else {
      const close = tok.indexOf('](');
      const label = tok.slice(1, close);
      const href = safeHref(tok.slice(close + 2, -1));
      if (href) {
        const a = document.createElement('a');
        a.href = href;
        a.rel = 'nofollow noopener noreferrer';
        a.target = '_blank';
        renderInline(label, a);
        parent.append(a);
      } else {
        parent.append(document.createTextNode(label));
      }
    }
    rest = rest.slice(m.index + tok.length);
  }
  return parent;
}

/** Renders markdown source into `target` (its old content is replaced). */
export function renderMarkdown(source, target) {
  target.replaceChildren();
  const lines = String(source).replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  let para = [];
  const flush = () => {
    if (para.length) target.append(renderInline(para.join(' '), document.createElement('p')));
    para = [];
  };
  while (i < lines.length) {
    const line = lines[i];
    if (/^```/.test(line)) {
      flush();
      const body = [];
      i += 1;
      while (i < lines.length && !/^```/.test(lines[i])) { body.push(lines[i]); i += 1; }
      const pre = document.createElement('pre');
      const code = document.createElement('code');
      code.textContent = body.join('\n');
      pre.append(code);
      target.append(pre);
      i += 1;
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      // Page headings are h1/h2; the description's start at h3 to keep the outline sound.
      const level = Math.min(6, heading[1].length + 2);
      target.append(renderInline(heading[2], document.createElement(`h${level}`)));
      i += 1;
      continue;
    }
    const item = /^\s*([-*+]|\d+[.)])\s+(.*)$/.exec(line);
    if (item) {
      flush();
      const ordered = /\d/.test(item[1]);
      const list = document.createElement(ordered ? 'ol' : 'ul');
      while (i < lines.length) {
        const m = /^\s*([-*+]|\d+[.)])\s+(.*)$/.exec(lines[i]);
        if (!m) break;
        list.append(renderInline(m[2], document.createElement('li')));
        i += 1;
      }
      target.append(list);
      continue;
    }
    if (/^>\s?/.test(line)) {
      flush();
      const quote = document.createElement('blockquote');
      const body = [];
      while (i < lines.length && /^>\s?/.test(lines[i])) { body.push(lines[i].replace(/^>\s?/, '')); i += 1; }
      quote.append(renderInline(body.join(' '), document.createElement('p')));
      target.append(quote);
      continue;
    }
    if (!line.trim()) flush();
    else para.push(line.trim());
    i += 1;
  }
  flush();
  return target;
}
