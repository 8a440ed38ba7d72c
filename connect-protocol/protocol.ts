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

/**
 * The "mender client" protocol: the server asks the device's update client to act now (Mender's
 * deviceconnect check-update and send-inventory; mender-connect runs `mender check-update` or
 * `mender send-inventory`). The device answers with the same type and a `status` property.
 */
export const MENDER_CLIENT = { checkUpdate: 'check-update', sendInventory: 'send-inventory' } as const;
export const MENDER_CLIENT_STATUS = { normal: 1, error: 2 } as const;

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

/** Frames larger than this are refused before decoding (a file chunk is 4 KiB). */
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

/**
 * msgpack int64 (0xd3): Mender's Go peers read integer properties (a chunk's `offset`, a shell's
 * `status`) with a type assertion to int64, which only a value sent as int64 passes.
 */
function int64(n: number): Uint8Array {
  const b = new Uint8Array(9);
  b[0] = 0xd3;
  new DataView(b.buffer).setBigInt64(1, BigInt(n));
  return b;
}

function mapHeader(n: number): Uint8Array {
  if (n < 16) return Uint8Array.of(0x80 | n);
  return Uint8Array.of(0xde, n >> 8, n & 0xff);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Encodes as Go's msgpack tags do: empty sid, props and body are left out (omitempty). */
export function encodeMessage(msg: ProtoMsg): Uint8Array {
  const hdr: Uint8Array[] = [encode('proto'), encode(msg.hdr.proto), encode('typ'), encode(msg.hdr.typ)];
  let fields = 2;
  if (msg.hdr.sid) {
    hdr.push(encode('sid'), encode(msg.hdr.sid));
    fields++;
  }
  const props = Object.entries(msg.hdr.props ?? {}).filter(([, v]) => v !== undefined);
  if (props.length > 0) {
    hdr.push(encode('props'), mapHeader(props.length));
    for (const [k, v] of props) hdr.push(encode(k), typeof v === 'number' && Number.isSafeInteger(v) ? int64(v) : encode(v));
    fields++;
  }
  const hasBody = msg.body !== undefined && msg.body.byteLength > 0;
  return concat([mapHeader(hasBody ? 2 : 1), encode('hdr'), mapHeader(fields), ...hdr, ...(hasBody ? [encode('body'), encode(msg.body)] : [])]);
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

/**
 * File chunks are at most this long, and at most FILE_WINDOW chunks' worth of bytes are sent past
 * the last acknowledged offset. 4 KiB is mender-connect's buffer size, and more than a little
 * above it overruns its WebSocket read limit (it drops the connection). An ack's offset is where the receiver has got to: the end of the
 * chunk (Flipside) or the start of the last chunk taken (mender-connect acks every few chunks
 * with the last one's header); either way the window holds.
 */
export const FILE_CHUNK_BYTES = 4096;
export const FILE_WINDOW = 16;

/**
 * A file's `mode` is Go's os.FileMode (what mender-connect sends): permission bits, and type bits
 * high up (directory 1<<31, symlink 1<<27, ...); a regular file has none. Unix S_IFMT bits are
 * taken too, for peers that send st_mode.
 */
const GO_TYPE_BITS = (1 << 31) | (1 << 30) | (1 << 27) | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19);
export function isRegularMode(mode: number): boolean {
  const unixType = mode & 0o170000;
  return (mode & GO_TYPE_BITS) === 0 && (unixType === 0 || unixType === 0o100000);
}
/** Go's os.FileMode of a stat result (what the protocol carries). */
export function goFileMode(st: { mode: number; isDirectory(): boolean; isSymbolicLink(): boolean; isFIFO(): boolean; isSocket(): boolean; isBlockDevice(): boolean; isCharacterDevice(): boolean }): number {
  let m = st.mode & 0o777;
  if (st.mode & 0o4000) m |= 1 << 23;
  if (st.mode & 0o2000) m |= 1 << 22;
  if (st.mode & 0o1000) m |= 1 << 20;
  if (st.isDirectory()) m |= 1 << 31;
  if (st.isSymbolicLink()) m |= 1 << 27;
  if (st.isFIFO()) m |= 1 << 25;
  if (st.isSocket()) m |= 1 << 24;
  if (st.isBlockDevice()) m |= 1 << 26;
  if (st.isCharacterDevice()) m |= (1 << 26) | (1 << 21);
  return m >>> 0;
}
