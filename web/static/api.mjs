// The API client of the pages: every call goes to this origin's /api, with
// the session token when logged in; every reply is the {code, msg, data}
// envelope, and a failure becomes an ApiError whose message says what to do.

const TOKEN_KEY = 'lwdock.session';

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export const session = {
  get token() { return localStorage.getItem(TOKEN_KEY); },
  set token(value) {
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
  },
  user: null,  // {id, name, email, role} once /api/auth/me answered
};

// What a person should read for a failure, beyond the server's own message.
function explain(status, code, msg) {
  if (status === 401) return `${msg || 'Not logged in'}. Log in again to continue.`;
  if (status === 403) return `${msg || 'Not allowed'}: your account's role does not permit this.`;
  if (status === 413) return `${msg || 'Too large'}: the server refuses data this big.`;
  if (status === 429) return `${msg || 'Too many attempts'}. Wait a few minutes and try again.`;
  if (status === 503) return `${msg || 'The server is busy'}. Try again in a moment.`;
  if (status >= 500) return `The server failed: ${msg || 'internal error'}. Try again; if it persists, tell the dock's administrators.`;
  return msg || `request refused (HTTP ${status})`;
}

export async function call(method, path, {json, form, body, headers = {}, signal, raw} = {}) {
  const init = {method, headers: {...headers}, signal};
  if (session.token) init.headers.Authorization = `Bearer ${session.token}`;
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;
  } else if (body !== undefined) {
    init.body = body;
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 0, 'The dock cannot be reached: check your connection, then try again.');
  }
  if (raw && res.ok) return res;
  let envelope = null;
  try { envelope = await res.json(); } catch { /* not JSON: a proxy's page */ }
  if (!res.ok || !envelope || envelope.code !== 0) {
    const msg = envelope && typeof envelope.msg === 'string' ? envelope.msg : '';
    if (res.status === 401 && session.token) {
      session.token = null;
      session.user = null;
      window.dispatchEvent(new Event('lwdock:logged-out'));
    }
    throw new ApiError(res.status, envelope ? envelope.code : 0, explain(res.status, envelope?.code, msg),
                       res.headers.get('Retry-After'));
  }
  return envelope.data;
}

export const get = (path, opts) => call('GET', path, opts);
export const post = (path, json, opts = {}) => call('POST', path, {...opts, json});
export const put = (path, json, opts = {}) => call('PUT', path, {...opts, json});
export const del = (path, opts) => call('DELETE', path, opts);

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

// Who is logged in (null when nobody, or the token expired).
export async function refreshUser() {
  if (!session.token) {
    session.user = null;
    return null;
  }
  try {
    session.user = await get('/api/auth/me');
  } catch (e) {
    session.user = null;
    if (e.status !== 401) throw e;
  }
  return session.user;
}

export const isAdmin = () => session.user && ['admin', 'super-admin'].includes(session.user.role);

// A file from the API (package zips): fetched with the token, as a Blob.
export async function download(path) {
  const res = await call('GET', path, {raw: true});
  const blob = await res.blob();
  const disposition = res.headers.get('Content-Disposition') || '';
  const m = /filename="([^"]+)"/.exec(disposition);
  return {blob, name: m ? m[1] : 'download.zip'};
}
