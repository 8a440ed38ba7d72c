// The management API through fetch with the useradm token; uploads through XHR for progress;
// the UI's change stream read with fetch (EventSource cannot send an Authorization header).
const KEY = 'flipside.token';

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** What the browser's bare "Failed to fetch" means here. */
export const UNREACHABLE = 'Cannot reach the Flipside server: it may be stopped or restarting, or the network is down. This page retries on its own.';

// fetch rejects (a TypeError, "Failed to fetch") only when no answer came at all.
async function send(path, init) {
  try {
    return await fetch(path, init);
  } catch (e) {
    if (e?.name === 'AbortError') throw e;
    throw new ApiError(0, UNREACHABLE);
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

async function errorOf(res) {
  const text = await res.text();
  try {
    const j = JSON.parse(text);
    if (j && j.error) return j.error;
  } catch {}
  return text || res.statusText;
}

export async function login(email, password) {
  const res = await send('/api/management/v1/useradm/auth/login', {
    method: 'POST',
    headers: { authorization: `Basic ${btoa(unescape(encodeURIComponent(`${email}:${password}`)))}` },
  });
  if (!res.ok) throw new ApiError(res.status, await errorOf(res));
  token.set(await res.text());
}

// Every api() call of the logged-in session: log-out aborts those still in flight, whose answers
// (401s once the token is revoked) would land on the login form.
let session = new AbortController();
export function endSessionRequests() {
  session.abort();
  session = new AbortController();
}

/** Calls the API; returns parsed JSON (or text, or null), with `total` from X-Total-Count. */
export async function api(method, path, body) {
  const t = token.get();
  // A page's timer firing after log-out: nothing to ask without a session.
  if (!t) throw new DOMException('no session', 'AbortError');
  const headers = { authorization: `Bearer ${t}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await send(path, { method, headers, signal: session.signal, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401) {
    onUnauthorized();
    throw new ApiError(401, await errorOf(res));
  }
  if (!res.ok) throw new ApiError(res.status, await errorOf(res));
  if (res.status === 204) return null;
  if (res.status === 201) return { location: res.headers.get('location') };
  const type = res.headers.get('content-type') ?? '';
  const data = type.includes('json') ? await res.json() : await res.text();
  const total = res.headers.get('x-total-count');
  if (total !== null && data && typeof data === 'object') Object.defineProperty(data, 'total', { value: Number(total) });
  return data;
}
export const get = (p) => api('GET', p);

/** Sends a multipart form through XHR (fetch has no upload progress), reporting progress 0..1. */
export function sendForm(method, path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    xhr.setRequestHeader('authorization', `Bearer ${token.get()}`);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve(xhr);
      let msg = xhr.responseText || xhr.statusText;
      try { msg = JSON.parse(xhr.responseText).error ?? msg; } catch {}
      if (xhr.status === 401) onUnauthorized();
      reject(new ApiError(xhr.status, msg));
    };
    xhr.onerror = () => reject(new ApiError(0, UNREACHABLE));
    xhr.send(form);
  });
}

/** Uploads an artifact as multipart (size, description, artifact) reporting progress 0..1. */
export async function uploadArtifact(file, description, onProgress) {
  const form = new FormData();
  form.append('size', String(file.size));
  form.append('description', description);
  form.append('artifact', file, file.name);
  const xhr = await sendForm('POST', '/api/management/v1/deployments/artifacts', form, onProgress);
  return xhr.getResponseHeader('location');
}

/** GETs a file as a Blob (for a download the browser then saves). */
export async function getBlob(path) {
  const res = await send(path, { headers: { authorization: `Bearer ${token.get()}` } });
  if (res.status === 401) onUnauthorized();
  if (!res.ok) throw new ApiError(res.status, await errorOf(res));
  return res.blob();
}

/**
 * Follows /ui/api/events; calls onChange on each change event, onState(true|false) as the stream
 * connects or drops. Reconnects after 2 s. Returns a stop function.
 */
export function followChanges(onChange, onState) {
  let stopped = false;
  let ctrl;
  const run = async () => {
    while (!stopped) {
      ctrl = new AbortController();
      try {
        const res = await fetch('/ui/api/events', { headers: { authorization: `Bearer ${token.get()}` }, signal: ctrl.signal });
        if (res.status === 401) { onUnauthorized(); return; }
        if (!res.ok || !res.body) throw new Error(String(res.status));
        onState(true);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const msg = buf.slice(0, i);
            buf = buf.slice(i + 2);
            if (/^event: change$/m.test(msg)) onChange();
          }
        }
      } catch {}
      onState(false);
      if (!stopped) await new Promise((r) => setTimeout(r, 2000));
    }
  };
  run();
  return () => { stopped = true; ctrl?.abort(); };
}
