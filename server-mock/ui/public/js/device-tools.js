// The device page's troubleshooting and configuration: remote terminal, file upload and download,
// recorded terminal sessions with playback (deviceconnect), and the configuration editor
// (deviceconfig). The server audits each of them (session start and stop, playback, download,
// upload, configuration set and deploy).
import { h, replace, when, bytes, toast, table, field, can, button, section, onLeave } from './dom.js';
import { api, get, getBlob, sendForm } from './api.js';

const DC = '/api/management/v1/deviceconnect';
const CFG = '/api/management/v1/deviceconfig/configurations/device';
const enc = encodeURIComponent;

/** xterm.js is large: it loads with the first terminal or playback. */
const terminalModule = () => import('./terminal.js');

const roleText = () => document.body.dataset.roles || 'none';

/** Why the user cannot use deviceconnect here: their roles, and which role would allow it. */
function noRole() {
  return h('p', { class: 'warn', id: 'no-connect-role' },
    `Your roles (${roleText()}) do not include the remote terminal, file transfer and session playback (ConnectToDevices). `,
    'An administrator can give you RBAC_ROLE_REMOTE_TERMINAL.');
}

/** "Connected", or why not, from deviceconnect's connection state of the device. */
function connectionText(st) {
  if (st.status === 'connected') return ['Connected to the server', st.updated_ts ? [' since ', when(st.updated_ts)] : null, '.'];
  const last = st.status === 'disconnected' && st.updated_ts ? [' Its connection ended ', when(st.updated_ts), '.'] : ' It has not connected since the server started.';
  return ['Offline: the device has no connection to the server, so the terminal and file transfer cannot reach it.', last,
    ' The device needs its connect add-on on (Connect.Enabled in flipside.conf, or mender-connect) and a network path to this server.'];
}

/**
 * The Troubleshoot section: connection state, terminal, files, recorded sessions. `refresh(dev)`
 * follows the device (accepted or not) without touching an open terminal or a form being filled.
 */
export function troubleshoot(deviceId) {
  const state = h('p', { id: 'connection', role: 'status' });
  const body = h('div');
  const el = section('Troubleshoot', 'dv-trouble', state, body);
  let built = false;
  let online = false;
  const check = async () => {
    const st = await get(`${DC}/devices/${enc(deviceId)}`);
    online = st.status === 'connected';
    replace(state, h('span', { class: `dot ${online ? 'on' : 'off'}`, 'aria-hidden': 'true' }), ' ', connectionText(st));
    state.className = online ? 'online' : 'offline';
    return online;
  };
  const parts = can('ConnectToDevices') ? { term: terminalCard(deviceId, check), files: filesCard(deviceId, check), sessions: sessionsCard(deviceId) } : null;
  const refresh = async (dev) => {
    el.hidden = dev.status !== 'accepted';
    if (el.hidden) return;
    await check();
    if (!parts) {
      if (!built) replace(body, noRole());
    } else {
      if (!built) replace(body, parts.term.el, parts.files.el, parts.sessions.el);
      await parts.sessions.refresh();
    }
    built = true;
  };
  return { el, refresh };
}

function terminalCard(deviceId, check) {
  const status = h('p', { class: 'term-status', role: 'status', 'aria-live': 'polite' }, 'Not open.');
  const box = h('div', { class: 'terminal', id: 'terminal', hidden: true });
  let session = null;
  const setStatus = (s, text) => {
    status.textContent = text;
    status.className = `term-status ${s}`;
    box.dataset.state = s;
    if (s === 'ended' || s === 'error') {
      toggle.textContent = 'Open terminal';
      session = null;
    }
  };
  const toggle = button('Open terminal', async () => {
    if (session) { session.close(); return; }
    // The WebSocket can only say it failed; the state route says why (offline) first.
    if (!(await check())) {
      setStatus('error', 'The device is offline: it has no connection to the server, so no terminal can be opened.');
      return;
    }
    const { openTerminal } = await terminalModule();
    box.replaceChildren();
    box.hidden = false;
    toggle.textContent = 'Close terminal';
    session = openTerminal(box, deviceId, setStatus);
  }, { class: 'primary', id: 'terminal-toggle' });
  onLeave(() => session?.close());
  return { el: h('div', { class: 'card' }, h('h3', {}, 'Remote terminal'),
    h('div', { class: 'row-head' }, toggle, status), box,
    h('p', { class: 'muted small' }, 'A shell on the device as its connect add-on runs it. The session and what it shows are recorded in the audit log and under "Terminal sessions".')) };
}

/** The last path segment: the name a downloaded file is saved under. */
const baseName = (p) => p.split('/').filter(Boolean).pop() || 'download';

function filesCard(deviceId, check) {
  const file = h('input', { type: 'file', name: 'file', required: true });
  const dest = h('input', { name: 'dest', required: true, placeholder: '/tmp/', spellcheck: 'false', autocomplete: 'off', class: 'mono' });
  const mode = h('input', { name: 'mode', placeholder: '644', pattern: '[0-7]{3,4}', inputmode: 'numeric', autocomplete: 'off', class: 'mono' });
  const bar = h('progress', { value: 0, max: 1, hidden: true });
  const upMsg = h('p', { role: 'status', class: 'transfer-msg' });
  // A path ending in / is a folder: the file keeps its own name there.
  const target = () => (dest.value.endsWith('/') && file.files[0] ? dest.value + file.files[0].name : dest.value);
  const upload = h('form', { class: 'stack', id: 'upload-form', onsubmit: async (e) => {
    e.preventDefault();
    const f = file.files[0];
    if (!f) return;
    const path = target();
    if (!path.startsWith('/')) { upMsg.textContent = 'The destination must be an absolute path (starting with /).'; upMsg.className = 'transfer-msg error'; return; }
    upMsg.className = 'transfer-msg';
    if (!(await check())) { upMsg.textContent = 'The device is offline: nothing was uploaded.'; upMsg.className = 'transfer-msg error'; return; }
    const form = new FormData();
    form.append('path', path);
    if (mode.value) form.append('mode', mode.value);
    form.append('file', f, f.name);
    bar.hidden = false;
    bar.value = 0;
    upMsg.textContent = `Uploading ${f.name}…`;
    try {
      await sendForm('PUT', `${DC}/devices/${enc(deviceId)}/upload`, form, (x) => { bar.value = x; });
      upMsg.textContent = `Uploaded ${f.name} (${bytes(f.size)}) to ${path}.`;
      toast(`Uploaded ${f.name} to ${path}`);
    } catch (x) {
      upMsg.textContent = `${f.name} was not uploaded: ${x.message}`;
      upMsg.className = 'transfer-msg error';
    } finally {
      bar.hidden = true;
    }
  } }, field('File', file), field('To (path on the device; a path ending in / keeps the file name)', dest), field('Mode (octal, optional)', mode), bar, upMsg,
  h('button', { type: 'submit' }, 'Upload'));

  const src = h('input', { name: 'src', required: true, placeholder: '/var/log/messages', spellcheck: 'false', autocomplete: 'off', class: 'mono' });
  const downMsg = h('p', { role: 'status', class: 'transfer-msg' });
  const download = h('form', { class: 'stack', id: 'download-form', onsubmit: async (e) => {
    e.preventDefault();
    const path = src.value.trim();
    downMsg.className = 'transfer-msg';
    if (!path.startsWith('/')) { downMsg.textContent = 'The path must be absolute (starting with /).'; downMsg.className = 'transfer-msg error'; return; }
    if (!(await check())) { downMsg.textContent = 'The device is offline: nothing to download.'; downMsg.className = 'transfer-msg error'; return; }
    downMsg.textContent = `Downloading ${path}…`;
    try {
      const blob = await getBlob(`${DC}/devices/${enc(deviceId)}/download?path=${enc(path)}`);
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: baseName(path), hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      downMsg.textContent = `Downloaded ${path} (${bytes(blob.size)}).`;
    } catch (x) {
      downMsg.textContent = `${path} was not downloaded: ${x.message}`;
      downMsg.className = 'transfer-msg error';
    }
  } }, field('Path on the device', src), downMsg, h('button', { type: 'submit' }, 'Download'));

  return { el: h('div', { class: 'card' }, h('h3', {}, 'Files'),
    h('div', { class: 'two-col' }, h('div', {}, h('h4', {}, 'Upload to the device'), upload), h('div', {}, h('h4', {}, 'Download from the device'), download))) };
}

/** How long a recorded session lasted. */
function duration(r) {
  if (!r.end_ts) return 'running';
  const s = Math.max(0, Math.round((Date.parse(r.end_ts) - Date.parse(r.start_ts)) / 1000));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

function sessionsCard(deviceId) {
  const list = h('div');
  const status = h('p', { class: 'term-status', role: 'status', 'aria-live': 'polite' });
  const box = h('div', { class: 'terminal', id: 'playback', hidden: true });
  let player = null;
  onLeave(() => player?.stop());
  const play = async (r) => {
    player?.stop();
    const { playRecording } = await terminalModule();
    box.hidden = false;
    box.replaceChildren();
    box.dataset.session = r.session_id;
    player = playRecording(box, r.session_id, (s, text) => {
      status.textContent = `${text}${r.truncated ? ' (the recording was cut at its size limit)' : ''}`;
      box.dataset.state = s;
    });
  };
  const refresh = async () => {
    const rows = await get(`/ui/api/devices/${enc(deviceId)}/recordings`);
    replace(list, table([['Started'], ['User'], ['Length'], ['Output', 'opt'], ['']], rows.map((r) => h('tr', { dataset: { session: r.session_id } },
      h('td', {}, when(r.start_ts)), h('td', { class: 'wrap' }, r.user_email), h('td', {}, duration(r)),
      h('td', { class: 'opt' }, bytes(r.bytes), r.truncated ? ' (cut)' : ''),
      h('td', {}, button('Play', () => play(r), { class: 'small', 'aria-label': `Play the session of ${r.user_email} started ${new Date(r.start_ts).toLocaleString()}`, dataset: { fk: `play-${r.session_id}` } })))),
    'No terminal session was recorded for this device yet.'));
  };
  return { el: h('div', { class: 'card' }, h('h3', {}, 'Terminal sessions'), h('p', { class: 'muted small' }, 'What each remote terminal showed, as recorded by the server (newest first).'), list, status, box), refresh };
}

// ---------------------------------------------------------------- configuration

/**
 * The configuration editor (deviceconfig): the desired configuration as key/value rows (saved with
 * PUT, then deployed as a configuration deployment), and what the device last reported applying.
 */
export function configuration(deviceId) {
  const editor = h('div');
  const reported = h('div');
  const el = section('Configuration', 'dv-config', editor, reported);
  const rows = h('div', { class: 'kv-rows', id: 'config-rows' });
  const err = h('p', { class: 'error', role: 'alert' });
  let dirty = false;
  const addRow = (k = '', v = '') => {
    const key = h('input', { name: 'key', value: k, 'aria-label': 'Key', placeholder: 'key', autocomplete: 'off', spellcheck: 'false', class: 'mono', oninput: () => (dirty = true) });
    const val = h('input', { name: 'value', value: v, 'aria-label': `Value of ${k || 'the new key'}`, placeholder: 'value', autocomplete: 'off', spellcheck: 'false', class: 'mono', oninput: () => (dirty = true) });
    const remove = h('button', { type: 'button', class: 'small', 'aria-label': `Remove ${k || 'this key'}`, onclick: () => { row.remove(); dirty = true; } }, 'Remove');
    key.addEventListener('input', () => {
      val.setAttribute('aria-label', `Value of ${key.value || 'the new key'}`);
      remove.setAttribute('aria-label', `Remove ${key.value || 'this key'}`);
    });
    const row = h('div', { class: 'kv-row' }, key, val, remove);
    rows.append(row);
    return key;
  };
  const collect = () => {
    const out = {};
    for (const r of rows.querySelectorAll('.kv-row')) {
      const [k, v] = r.querySelectorAll('input');
      const key = k.value.trim();
      if (!key && !v.value) continue;
      if (!key) throw new Error(`The value "${v.value}" has no key.`);
      if (key in out) throw new Error(`The key "${key}" is there twice.`);
      out[key] = v.value;
    }
    return out;
  };
  const save = async (deploy) => {
    err.textContent = '';
    let cfg;
    try { cfg = collect(); } catch (x) { err.textContent = x.message; return; }
    try {
      await api('PUT', `${CFG}/${enc(deviceId)}`, cfg);
      dirty = false;
      if (deploy) {
        const { deployment_id: dep } = await api('POST', `${CFG}/${enc(deviceId)}/deploy`, {});
        toast('Configuration saved and deployed');
        replace(deployed, 'Deployed as ', h('a', { href: `#/deployments/${dep}` }, 'a configuration deployment'), ': the device installs it at its next update check.');
      } else toast('Configuration saved: the device applies it at its next inventory update');
      await refresh(true);
    } catch (x) { err.textContent = x.message; }
  };
  const deployed = h('p', { class: 'muted', id: 'config-deployed' });
  const canEdit = can('ConfigureDevices');
  const form = h('form', { class: 'card', id: 'config-form', onsubmit: (e) => { e.preventDefault(); return save(false); } },
    h('h3', {}, 'Desired configuration'), rows,
    canEdit ? h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => { addRow().focus(); dirty = true; } }, 'Add a key'),
      h('button', { type: 'submit', class: 'primary' }, 'Save'),
      button('Save and deploy', () => save(true), { id: 'config-deploy' })) : h('p', { class: 'muted' }, `Your roles (${roleText()}) do not include changing device configuration (ConfigureDevices).`),
    err, deployed);
  const refresh = async (force) => {
    const c = await get(`${CFG}/${enc(deviceId)}`);
    // The rows being edited are left alone; a save (force) shows what the server now holds.
    if (force === true || !dirty) {
      rows.replaceChildren();
      for (const [k, v] of Object.entries(c.configured)) addRow(k, v);
      if (!Object.keys(c.configured).length) {
        if (canEdit) addRow();
        else rows.append(h('p', { class: 'empty' }, 'No configuration set.'));
      }
      for (const i of rows.querySelectorAll('input')) i.readOnly = !canEdit;
      for (const b of rows.querySelectorAll('button')) b.hidden = !canEdit;
      dirty = false;
    }
    if (!editor.contains(form)) replace(editor, form);
    if (c.deployment_id && !deployed.textContent) replace(deployed, 'Last deployed as ', h('a', { href: `#/deployments/${c.deployment_id}` }, 'a configuration deployment'), '.');
    const keys = [...new Set([...Object.keys(c.configured), ...Object.keys(c.reported)])].sort();
    const stateOf = (k) => (!(k in c.configured) ? 'not configured' : !(k in c.reported) ? 'not applied yet' : c.configured[k] === c.reported[k] ? 'applied' : 'differs');
    replace(reported, h('div', { class: 'card', id: 'config-reported' }, h('h3', {}, 'Reported by the device'),
      c.reported_ts ? h('p', { class: 'muted' }, 'Last reported ', when(c.reported_ts), c.updated_ts ? [', configuration changed ', when(c.updated_ts)] : null, '.') : h('p', { class: 'muted' }, 'The device has not reported a configuration yet.'),
      table([['Key'], ['Desired'], ['Reported'], ['State']], keys.map((k) => h('tr', { dataset: { key: k } },
        h('td', { class: 'mono wrap' }, k), h('td', { class: 'mono wrap' }, c.configured[k] ?? '—'), h('td', { class: 'mono wrap' }, c.reported[k] ?? '—'),
        h('td', {}, h('span', { class: `badge cfg-${stateOf(k).replace(/ /g, '-')}` }, stateOf(k))))), 'No configuration set or reported.')));
  };
  return { el, refresh: async (dev) => {
    el.hidden = dev.status !== 'accepted';
    if (!el.hidden) await refresh();
  } };
}
