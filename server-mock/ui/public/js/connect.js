// Mender's deviceconnect protocol in the browser: every WebSocket frame is a msgpack map
// {hdr: {proto, typ, sid, props}, body} (connect-protocol/protocol.ts on the server). The server
// stamps the session id, so the browser sends none. The token travels as a WebSocket
// subprotocol (a browser cannot set the Authorization header; server-mock/auth/websocket-bearer.ts).
import { encode, decode } from '/ui/vendor/msgpack/index.mjs';
import { token } from './api.js';

export const PROTO = { shell: 1, fileTransfer: 2, portForward: 3, menderClient: 4, control: 0xffff };
export const SHELL = { new: 'new', stop: 'stop', data: 'shell', resize: 'resize', ping: 'ping', pong: 'pong' };
export const SHELL_STATUS = { normal: 1, error: 2 };
export const CONTROL_ERROR = 'error';

export const encodeMessage = (msg) => encode(msg, { ignoreUndefined: true });

/** A frame as {hdr, body}; null for one that is not a protocol message (it is ignored). */
export function decodeMessage(data) {
  try {
    const m = decode(new Uint8Array(data));
    return m && typeof m === 'object' && m.hdr && typeof m.hdr === 'object' ? m : null;
  } catch {
    return null;
  }
}

/** The text of an error or a refused shell: a msgpack {err} body, or plain text. */
export function errorText(msg) {
  if (!msg.body) return `${msg.hdr.typ} without a message`;
  try {
    const b = decode(msg.body);
    if (b && typeof b.err === 'string') return b.err;
  } catch {}
  return new TextDecoder().decode(msg.body);
}

/** Opens a WebSocket on a management route of this server, authenticated with the UI's token. */
export function openSocket(path) {
  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${path}`;
  const ws = new WebSocket(url, ['flipside', `flipside.bearer.${token.get()}`]);
  ws.binaryType = 'arraybuffer';
  return ws;
}

/** Why a socket closed, in words (the server's close reason when it gave one). */
export function closeText(e) {
  if (e.reason) return e.reason;
  if (e.code === 1000) return 'closed';
  if (e.code === 1006) return 'the connection to the server was lost (or refused)';
  return `closed with code ${e.code}`;
}
