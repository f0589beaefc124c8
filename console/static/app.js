// Shared by every console page: the JSON API with the page's bearer token, and small DOM helpers.

/** The signed-in user's access token, embedded by the server (the session cookie itself is HttpOnly). */
export function token() {
  const meta = document.querySelector('meta[name="oa-token"]');
  return meta ? meta.content : null;
}

/** A problem+json answer (or a network failure) as an Error with a readable message. */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `The request failed (${status}).`);
    this.status = status;
    this.problem = problem;
  }
}

/**
 * A new access token from the console's own session (its refresh token is in an HttpOnly cookie the
 * server reads); the page's <meta> is updated so later calls use it. Null when the session ended.
 */
export async function renewToken() {
  const csrf = document.querySelector('input[name="csrf"]');
  if (!csrf) return null;
  const resp = await fetch('/console/session', { method: 'POST', body: new URLSearchParams({ csrf: csrf.value }) });
  if (!resp.ok) return null;
  const { access_token: fresh } = await resp.json();
  document.querySelector('meta[name="oa-token"]')?.setAttribute('content', fresh);
  return fresh;
}

export async function api(path, { method = 'GET', body, headers = {}, signal } = {}, retried = false) {
  const h = { Accept: 'application/json', ...headers };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const resp = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), signal });
  // A page left open past its token's hour: renew once and try again.
  if (resp.status === 401 && t && !retried && await renewToken()) {
    return api(path, { method, body, headers, signal }, true);
  }
  if (!resp.ok) {
    let problem = null;
    try { problem = await resp.json(); } catch { /* not JSON */ }
    throw new ApiError(resp.status, problem);
  }
  return resp.status === 204 ? null : resp.json();
}

/** Builds an element; children are nodes or strings (strings become text, never HTML). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) node.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return node;
}
