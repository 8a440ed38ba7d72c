// The device terminal and session playback in xterm.js (served from node_modules under
// /ui/vendor/, ui/index.ts). Loaded only when a terminal is opened: xterm is ~340 KB.
import { Terminal } from '/ui/vendor/xterm/xterm.mjs';
import { FitAddon } from '/ui/vendor/xterm-fit/addon-fit.mjs';
import { PROTO, SHELL, SHELL_STATUS, CONTROL_ERROR, encodeMessage, decodeMessage, errorText, openSocket, closeText } from './connect.js';

// xterm writes its theme and cell sizes into <style> elements it appends inside the terminal; the
// page's CSP (style-src 'self') refuses inline styles, so they would be dropped with a console
// error each. Such elements are kept out of the document instead and their text is mirrored into
// one constructed stylesheet (CSSOM, which the CSP allows), kept in step as xterm rewrites them.
const sheet = new CSSStyleSheet();
const mirrored = new Set();
const sync = () => sheet.replaceSync([...mirrored].map((s) => s.textContent).join('\n'));
const appendChild = Node.prototype.appendChild;
Node.prototype.appendChild = function (child) {
  if (child instanceof HTMLStyleElement && this instanceof Element && this.closest('.xterm')) {
    mirrored.add(child);
    new MutationObserver(sync).observe(child, { childList: true, characterData: true, subtree: true });
    child.remove = () => { mirrored.delete(child); sync(); };
    sync();
    return child;
  }
  return appendChild.call(this, child);
};
document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
if (!document.querySelector('link[href="/ui/vendor/xterm/xterm.css"]')) {
  document.head.append(Object.assign(document.createElement('link'), { rel: 'stylesheet', href: '/ui/vendor/xterm/xterm.css' }));
}

function makeTerminal(el, opts = {}) {
  const term = new Terminal({ fontFamily: 'ui-monospace, "DejaVu Sans Mono", monospace', fontSize: 14, scrollback: 5000,
    // A device without a pty (Flipside's pipe mode) sends bare \n; a pty sends \r\n either way.
    convertEol: true, cursorBlink: !opts.disableStdin, ...opts });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  fit.fit();
  // Follows the box's size (window resize, phone rotation); xterm reports the new cols/rows.
  const ro = new ResizeObserver(() => { try { fit.fit(); } catch {} });
  ro.observe(el);
  return { term, dispose: () => ro.disconnect() };
}

const enc = new TextEncoder();

/**
 * A remote terminal on the device: a shell session on a deviceconnect WebSocket. `onState(state,
 * text)` reports 'connecting', 'open', 'ended' (the shell or connection ended; text says why) and
 * 'error' (refused; text says why). Returns {term, close()}.
 */
export function openTerminal(el, deviceId, onState) {
  const { term, dispose } = makeTerminal(el);
  const ws = openSocket(`/api/management/v1/deviceconnect/devices/${encodeURIComponent(deviceId)}/connect`);
  let state = 'connecting';
  const set = (s, text) => { state = s; onState(s, text); };
  const send = (msg) => { if (ws.readyState === WebSocket.OPEN) ws.send(encodeMessage(msg)); };
  onState('connecting', 'Connecting…');
  ws.addEventListener('open', () => send({ hdr: { proto: PROTO.shell, typ: SHELL.new, props: { terminal_width: term.cols, terminal_height: term.rows } } }));
  ws.addEventListener('message', (e) => {
    const msg = decodeMessage(e.data);
    if (!msg) return;
    const { proto, typ, props } = msg.hdr;
    if (proto === PROTO.shell) {
      if (typ === SHELL.new) {
        if (props?.status === SHELL_STATUS.error) { set('error', `The device refused the terminal: ${errorText(msg)}`); ws.close(1000); }
        else { set('open', 'Connected'); term.focus(); }
      } else if (typ === SHELL.data && msg.body) term.write(msg.body);
      else if (typ === SHELL.stop) { set('ended', 'The shell ended.'); ws.close(1000); }
      // mender-connect checks the user is still there with pings.
      else if (typ === SHELL.ping) send({ hdr: { proto: PROTO.shell, typ: SHELL.pong } });
      else if (typ === CONTROL_ERROR) set('error', `Terminal error: ${errorText(msg)}`);
    } else if (typ === CONTROL_ERROR) set('error', `Error from the device: ${errorText(msg)}`);
  });
  ws.addEventListener('close', (e) => {
    if (state === 'connecting') set('error', `Could not open the terminal: ${closeText(e)}`);
    else if (state === 'open') set('ended', `The terminal closed: ${closeText(e)}`);
    term.options.disableStdin = true;
    term.options.cursorBlink = false;
    dispose();
  });
  term.onData((d) => send({ hdr: { proto: PROTO.shell, typ: SHELL.data }, body: enc.encode(d) }));
  term.onBinary((d) => send({ hdr: { proto: PROTO.shell, typ: SHELL.data }, body: Uint8Array.from(d, (c) => c.charCodeAt(0)) }));
  term.onResize(({ cols, rows }) => send({ hdr: { proto: PROTO.shell, typ: SHELL.resize, props: { terminal_width: cols, terminal_height: rows } } }));
  return {
    term,
    /** Ends the shell on the device and the session. */
    close() {
      if (ws.readyState === WebSocket.OPEN) {
        send({ hdr: { proto: PROTO.shell, typ: SHELL.stop } });
        set('ended', 'You closed the terminal.');
        ws.close(1000);
      } else if (ws.readyState === WebSocket.CONNECTING) {
        set('ended', 'You closed the terminal.');
        ws.close();
      }
    },
  };
}

/**
 * Plays a recorded session back into a read-only terminal (deviceconnect's playback route sends the
 * output it recorded, sleepMs apart). onState: 'playing', 'done', 'error'. Returns {term, stop()}.
 */
export function playRecording(el, sessionId, onState, sleepMs = 20) {
  const { term, dispose } = makeTerminal(el, { disableStdin: true });
  const ws = openSocket(`/api/management/v1/deviceconnect/sessions/${encodeURIComponent(sessionId)}/playback?sleep_ms=${sleepMs}`);
  let done = false;
  onState('playing', 'Playing…');
  ws.addEventListener('message', (e) => {
    const msg = decodeMessage(e.data);
    if (!msg || msg.hdr.proto !== PROTO.shell) return;
    if (msg.hdr.typ === SHELL.data && msg.body) term.write(msg.body);
    else if (msg.hdr.typ === SHELL.stop) {
      done = true;
      // Written output is parsed asynchronously: report the end once all of it is on screen.
      term.write('', () => onState('done', 'End of the recording.'));
    }
  });
  ws.addEventListener('close', (e) => {
    if (!done) onState('error', `Playback stopped: ${closeText(e)}`);
    dispose();
  });
  return { term, stop: () => ws.close(1000) };
}
