// The server's side of a file transfer with a device (`mender-cli cp` calls the HTTP download and
// upload routes; the server turns each into a file-transfer session on the device's connection).
// Chunks are FILE_CHUNK_BYTES at most and each is acknowledged with the offset after it; the
// sender keeps at most FILE_WINDOW unacknowledged, and we acknowledge a downloaded chunk only once
// the HTTP response took it, so memory stays bounded at both ends whatever the file's size.
import { Readable } from 'node:stream';
import { ApiError, badRequest, notFound } from '../http-errors.js';
import { CONTROL, FILE, FILE_CHUNK_BYTES, FILE_WINDOW, PROTO, isRegularMode, decodeBody, encodeBody, errorText, numberProp, type ProtoMsg } from '../../connect-protocol/protocol.js';
import type { SessionChannel } from './channel.js';

export interface RemoteFileInfo {
  path: string;
  size: number;
  uid?: number;
  gid?: number;
  mode: number;
}


/** A device's error answer as an HTTP error: a missing file is 404, the rest 400 with its text. */
function deviceError(msg: ProtoMsg, what: string): ApiError {
  const text = errorText(msg);
  if (/no such file|not found|ENOENT/i.test(text)) return notFound(`${what}: ${text}`);
  return badRequest(`${what}: the device said: ${text}`);
}

function expect(msg: ProtoMsg, typ: string, what: string): ProtoMsg {
  if (msg.hdr.typ === FILE.error || msg.hdr.typ === CONTROL.error) throw deviceError(msg, what);
  if (msg.hdr.proto !== PROTO.fileTransfer || msg.hdr.typ !== typ) throw new ApiError(502, `${what}: the device answered ${msg.hdr.proto}/${msg.hdr.typ} instead of ${typ}`);
  return msg;
}

const fileMsg = (typ: string, props?: Record<string, unknown>, body?: Uint8Array) => ({ hdr: { proto: PROTO.fileTransfer, typ, ...(props ? { props } : {}) }, ...(body ? { body } : {}) });

export async function statRemote(ch: SessionChannel, path: string): Promise<RemoteFileInfo> {
  ch.send(fileMsg(FILE.stat, undefined, encodeBody({ path })));
  const info = decodeBody(expect(await ch.next('file_info'), FILE.info, `stat ${path}`));
  const { size, mode, uid, gid } = info;
  if (typeof size !== 'number' || typeof mode !== 'number') throw new ApiError(502, `stat ${path}: the device's file_info has no size or mode`);
  return { path, size, mode, ...(typeof uid === 'number' ? { uid } : {}), ...(typeof gid === 'number' ? { gid } : {}) };
}

/**
 * Streams a regular file from the device. The stream errors (and the HTTP response is cut short)
 * when the device goes away or sends something out of order, so a client never gets a short file
 * as if it were whole: the response's Content-Length tells it.
 */
export async function downloadRemote(ch: SessionChannel, path: string): Promise<{ info: RemoteFileInfo; stream: Readable }> {
  const info = await statRemote(ch, path);
  if (!isRegularMode(info.mode)) throw badRequest(`${path} on the device is not a regular file`);
  ch.send(fileMsg(FILE.get, undefined, encodeBody({ path })));
  let offset = 0;
  let finished = false;
  let wantMore: (() => void) | null = null;
  const stream = new Readable({
    highWaterMark: FILE_CHUNK_BYTES * 2,
    read() {
      const w = wantMore;
      wantMore = null;
      w?.();
    },
    destroy(err, cb) {
      // The HTTP client went away (or the pump failed): the device stops sending.
      if (!finished) {
        try {
          ch.send({ hdr: { proto: PROTO.control, typ: CONTROL.close } });
        } catch {
          // the device is gone already
        }
      }
      ch.close();
      cb(err);
    },
  });
  const pump = async (): Promise<void> => {
    for (;;) {
      const msg = expect(await ch.next('file_chunk'), FILE.chunk, `download ${path}`);
      const at = numberProp(msg, 'offset') ?? offset;
      if (at !== offset) throw new ApiError(502, `download ${path}: the device sent offset ${at}, expected ${offset}`);
      const body = msg.body ?? new Uint8Array(0);
      if (body.byteLength === 0) {
        if (offset !== info.size) throw new ApiError(502, `download ${path}: the file changed size on the device (${offset} bytes sent, ${info.size} announced)`);
        finished = true;
        ch.send(fileMsg(FILE.ack, { offset }));
        ch.send({ hdr: { proto: PROTO.control, typ: CONTROL.close } });
        ch.close();
        stream.push(null);
        return;
      }
      if (offset + body.byteLength > info.size) throw new ApiError(502, `download ${path}: the device sent more than the ${info.size} bytes it announced`);
      offset += body.byteLength;
      // Acknowledge once the response has room: the device waits when FILE_WINDOW chunks are unacknowledged.
      if (!stream.push(Buffer.from(body.buffer, body.byteOffset, body.byteLength))) await new Promise<void>((r) => (wantMore = r));
      if (stream.destroyed) return;
      ch.send(fileMsg(FILE.ack, { offset }));
    }
  };
  pump().catch((e: Error) => stream.destroy(e));
  return { info, stream };
}

export interface UploadTarget {
  path: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

/**
 * Sends a file to the device: put_file, the device's ack, then chunks (at most FILE_WINDOW chunks'
 * bytes past the last ack), then an empty chunk that the device acknowledges once the file is
 * complete, synced and renamed into place (mender-connect acknowledges it just before). Anything that fails before that leaves no file on the device:
 * it writes to a temporary name and removes it when the session closes early.
 */
export async function uploadRemote(ch: SessionChannel, target: UploadTarget, source: Readable): Promise<number> {
  // While we wait for the user's next bytes, the device may go: the upload fails then, not later.
  ch.onGone((e) => source.destroy(e));
  const fileInfo: Record<string, unknown> = { path: target.path };
  for (const k of ['mode', 'uid', 'gid'] as const) if (target[k] !== undefined) fileInfo[k] = target[k];
  ch.send(fileMsg(FILE.put, undefined, encodeBody(fileInfo)));
  expect(await ch.next('ack of put_file'), FILE.ack, `upload to ${target.path}`);
  let sent = 0;
  let acked = 0;
  const window = FILE_CHUNK_BYTES * FILE_WINDOW;
  const awaitAck = async (): Promise<void> => {
    const msg = expect(await ch.next('ack of file_chunk'), FILE.ack, `upload to ${target.path}`);
    const at = numberProp(msg, 'offset');
    if (at === undefined || at < acked || at > sent) throw new ApiError(502, `upload to ${target.path}: the device acknowledged offset ${at} (sent ${sent}, acknowledged ${acked})`);
    acked = at;
  };
  try {
    for await (const data of source as AsyncIterable<Buffer>) {
      for (let i = 0; i < data.length; i += FILE_CHUNK_BYTES) {
        while (sent - acked >= window) await awaitAck();
        const piece = data.subarray(i, i + FILE_CHUNK_BYTES);
        ch.send(fileMsg(FILE.chunk, { offset: sent }, piece));
        sent += piece.length;
      }
    }
    ch.send(fileMsg(FILE.chunk, { offset: sent }));
    // An upload's acks carry the start of the last chunk taken (Mender's convention), so only the
    // ack of the end of file says `sent`: the device has the whole file then.
    do await awaitAck();
    while (acked !== sent);
    ch.send({ hdr: { proto: PROTO.control, typ: CONTROL.close } });
    return sent;
  } catch (e) {
    // Tells the device to drop its temporary file (the connection may be gone already).
    try {
      ch.send({ hdr: { proto: PROTO.control, typ: CONTROL.close } });
    } catch {
      // nothing to tell
    }
    throw e;
  } finally {
    ch.close();
  }
}
