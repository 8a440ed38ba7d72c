// The deviceconnect wire format (Mender's go-lib-micro `ws` packages, facts only): every WebSocket
// message is one binary frame holding a msgpack map {hdr: {proto, typ, sid, props}, body}. `proto`
// says which protocol the message belongs to, `sid` which session it multiplexes onto the one
// connection between device and server. The server and the device side both use this module, so
// a frame is checked the same way at each end.
import { decode, encode } from '@msgpack/msgpack';

export const PROTO = {
  shell: 1,
  fileTransfer: 2,
  portForward: 3,
  menderClient: 4,
  control: 0xffff,
} as const;
export type ProtoType = (typeof PROTO)[keyof typeof PROTO];
const KNOWN = new Set<number>(Object.values(PROTO));

/** Control messages (proto 0xffff) and the protocol version of the open/accept handshake. */
export const CONTROL = { ping: 'ping', pong: 'pong', open: 'open', accept: 'accept', close: 'close', error: 'error' } as const;
export const PROTOCOL_VERSION = 1;

/** Shell (remote terminal) message types and the `status` property of a `new` answer. */
export const SHELL = { new: 'new', stop: 'stop', data: 'shell', resize: 'resize', ping: 'ping', pong: 'pong' } as const;
export const SHELL_STATUS = { normal: 1, error: 2, control: 3 } as const;

/** File transfer message types; chunks carry an `offset` property, an empty chunk ends the file. */
export const FILE = { stat: 'stat', info: 'file_info', get: 'get_file', put: 'put_file', chunk: 'file_chunk', ack: 'ack', error: 'error' } as const;

/** Port forward message types; every message names its TCP connection in `connection_id`. */
export const FORWARD = { new: 'new', stop: 'stop', data: 'forward', ack: 'ack', error: 'error' } as const;

export interface ProtoHdr {
  proto: number;
  typ: string;
  sid?: string;
  props?: Record<string, unknown>;
}
export interface ProtoMsg {
  hdr: ProtoHdr;
  body?: Uint8Array;
}

/** A frame that is not a ProtoMsg; the receiver closes the connection with this message. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** Frames larger than this are refused before decoding (a file chunk is 32 KiB). */
export const MAX_FRAME_BYTES = 1024 * 1024;

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

export function decodeMessage(frame: Uint8Array): ProtoMsg {
  if (frame.byteLength > MAX_FRAME_BYTES) throw new ProtocolError(`frame of ${frame.byteLength} bytes is larger than ${MAX_FRAME_BYTES}`);
  let raw: unknown;
  try {
    raw = decode(frame);
  } catch (e) {
    throw new ProtocolError(`frame is not msgpack: ${(e as Error).message}`);
  }
  if (!isMap(raw)) throw new ProtocolError('frame is not a msgpack map {hdr, body}');
  const hdr = raw.hdr;
  if (!isMap(hdr)) throw new ProtocolError('frame has no "hdr" map');
  const { proto, typ, sid, props } = hdr;
  if (typeof proto !== 'number' || !KNOWN.has(proto)) throw new ProtocolError(`unknown protocol ${JSON.stringify(proto)} in "hdr.proto"`);
  if (typ !== undefined && (typeof typ !== 'string' || typ.length > 64)) throw new ProtocolError('"hdr.typ" must be a string of at most 64 characters');
  if (sid !== undefined && sid !== null && (typeof sid !== 'string' || sid.length > 128)) throw new ProtocolError('"hdr.sid" must be a string of at most 128 characters');
  if (props !== undefined && props !== null && !isMap(props)) throw new ProtocolError('"hdr.props" must be a map');
  const body = raw.body;
  if (body !== undefined && body !== null && !(body instanceof Uint8Array)) throw new ProtocolError('"body" must be binary');
  const msg: ProtoMsg = { hdr: { proto, typ: (typ as string | undefined) ?? '' } };
  if (typeof sid === 'string' && sid !== '') msg.hdr.sid = sid;
  if (isMap(props)) msg.hdr.props = props;
  if (body instanceof Uint8Array && body.byteLength > 0) msg.body = body;
  return msg;
}

/** Encodes as Go's msgpack tags do: empty sid, props and body are left out (omitempty). */
export function encodeMessage(msg: ProtoMsg): Uint8Array {
  const hdr: Record<string, unknown> = { proto: msg.hdr.proto, typ: msg.hdr.typ };
  if (msg.hdr.sid) hdr.sid = msg.hdr.sid;
  if (msg.hdr.props && Object.keys(msg.hdr.props).length > 0) hdr.props = msg.hdr.props;
  const out: Record<string, unknown> = { hdr };
  if (msg.body && msg.body.byteLength > 0) out.body = msg.body;
  return encode(out);
}

/** A msgpack-encoded body (file info, port forward request, errors). */
export function encodeBody(value: Record<string, unknown>): Uint8Array {
  return encode(value);
}

/** Decodes a msgpack body that must be a map; what is inside is checked by the caller. */
export function decodeBody(msg: ProtoMsg): Record<string, unknown> {
  if (!msg.body) return {};
  let v: unknown;
  try {
    v = decode(msg.body);
  } catch (e) {
    throw new ProtocolError(`${msg.hdr.typ} body is not msgpack: ${(e as Error).message}`);
  }
  if (!isMap(v)) throw new ProtocolError(`${msg.hdr.typ} body is not a msgpack map`);
  return v;
}

/** An error message of the given protocol: body {err, close, msgproto, msgtype}. */
export function errorMessage(proto: number, sid: string | undefined, err: string, about?: ProtoHdr, close = false): ProtoMsg {
  const body: Record<string, unknown> = { err, close };
  if (about) {
    body.msgproto = about.proto;
    if (about.typ) body.msgtype = about.typ;
  }
  return { hdr: { proto, typ: CONTROL.error, sid }, body: encodeBody(body) };
}

/** The text of an error message's body, whichever protocol sent it. */
export function errorText(msg: ProtoMsg): string {
  try {
    const b = decodeBody(msg);
    if (typeof b.err === 'string') return b.err;
  } catch {
    // fall through: a shell error carries plain text
  }
  return msg.body ? Buffer.from(msg.body).toString('utf8') : `${msg.hdr.typ} without a message`;
}

export const numberProp = (msg: ProtoMsg, name: string): number | undefined => {
  const v = msg.hdr.props?.[name];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
};
export const stringProp = (msg: ProtoMsg, name: string): string | undefined => {
  const v = msg.hdr.props?.[name];
  return typeof v === 'string' ? v : undefined;
};

/** File chunks are at most this long, and at most FILE_WINDOW of them are unacknowledged. */
export const FILE_CHUNK_BYTES = 32 * 1024;
export const FILE_WINDOW = 8;
