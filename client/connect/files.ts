// File transfer on the device: stat, send a file (get_file) and receive one (put_file). A file is
// sent in FILE_CHUNK_BYTES chunks with at most FILE_WINDOW unacknowledged; a received file goes to a
// temporary name beside the target, is synced and renamed only when the last (empty) chunk came,
// and is removed when the session ends before that: the target is either the old file or the
// whole new one, never a part.
import { open, stat, rename, unlink, chown, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FILE, FILE_CHUNK_BYTES, FILE_WINDOW, PROTO, goFileMode, ProtocolError, decodeBody, encodeBody, numberProp, type ProtoMsg } from '../../connect-protocol/protocol.js';
import type { Send } from './shell.js';

class TransferError extends Error {}

function pathOf(body: Record<string, unknown>): string {
  const p = body.path;
  if (typeof p !== 'string' || p === '') throw new TransferError('the request has no path');
  if (!isAbsolute(p)) throw new TransferError(`${p} is not an absolute path`);
  return p;
}

const optUint = (body: Record<string, unknown>, k: string): number | undefined => {
  const v = body[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new TransferError(`"${k}" must be a non-negative integer`);
  return v;
};

export class FileSession {
  /** Messages are handled one after the other: a chunk is written before the next one is looked at. */
  private chain: Promise<void> = Promise.resolve();
  private upload: { fh: FileHandle; tmp: string; target: string; written: number; uid?: number; gid?: number } | null = null;
  private sending: { acked: number; wake: (() => void) | null } | null = null;
  private closed = false;

  constructor(
    private readonly send: Send,
    private readonly log: (line: string) => void,
  ) {}

  handle(msg: ProtoMsg): void {
    // Acks are taken at once: a sender waiting for one must not wait behind itself.
    if (msg.hdr.typ === FILE.ack && this.sending) {
      this.sending.acked = Math.max(this.sending.acked, numberProp(msg, 'offset') ?? 0);
      const w = this.sending.wake;
      this.sending.wake = null;
      w?.();
      return;
    }
    this.chain = this.chain.then(() => this.dispatch(msg)).catch((e: Error) => this.fail(e, msg.hdr.typ));
  }

  private async dispatch(msg: ProtoMsg): Promise<void> {
    if (this.closed) return;
    switch (msg.hdr.typ) {
      case FILE.stat:
        return this.stat(pathOf(decodeBody(msg)));
      case FILE.get:
        return this.sendFile(pathOf(decodeBody(msg)));
      case FILE.put:
        return this.receiveStart(decodeBody(msg));
      case FILE.chunk:
        return this.receiveChunk(msg);
      case FILE.ack:
        return;
      default:
        throw new TransferError(`unknown file transfer message "${msg.hdr.typ}"`);
    }
  }

  private async fail(e: Error, typ: string): Promise<void> {
    const text = e instanceof TransferError || e instanceof ProtocolError ? e.message : (e as NodeJS.ErrnoException).code ? `${(e as NodeJS.ErrnoException).code}: ${e.message}` : e.message;
    this.log(`file transfer: ${typ} failed: ${text}`);
    await this.discard();
    this.send({ hdr: { proto: PROTO.fileTransfer, typ: FILE.error }, body: encodeBody({ err: text, msgtype: typ }) });
  }

  private async stat(path: string): Promise<void> {
    const st = await stat(path);
    this.send({ hdr: { proto: PROTO.fileTransfer, typ: FILE.info }, body: encodeBody({ path, size: st.size, mode: goFileMode(st), uid: st.uid, gid: st.gid, modtime: st.mtime }) });
  }

  private async sendFile(path: string): Promise<void> {
    const fh = await open(path, 'r');
    const state = { acked: 0, wake: null as (() => void) | null };
    this.sending = state;
    try {
      const size = (await fh.stat()).size;
      let offset = 0;
      for (;;) {
        while (!this.closed && offset - state.acked >= FILE_CHUNK_BYTES * FILE_WINDOW) await new Promise<void>((r) => (state.wake = r));
        if (this.closed) return;
        const buf = Buffer.allocUnsafe(Math.min(FILE_CHUNK_BYTES, Math.max(size - offset, 0)));
        const { bytesRead } = buf.length ? await fh.read(buf, 0, buf.length, offset) : { bytesRead: 0 };
        this.send({ hdr: { proto: PROTO.fileTransfer, typ: FILE.chunk, props: { offset } }, ...(bytesRead ? { body: buf.subarray(0, bytesRead) } : {}) });
        if (bytesRead === 0) return;
        offset += bytesRead;
      }
    } finally {
      this.sending = null;
      await fh.close();
    }
  }

  private async receiveStart(body: Record<string, unknown>): Promise<void> {
    if (this.upload) throw new TransferError('a file is being received on this session already');
    const target = pathOf(body);
    const mode = optUint(body, 'mode');
    const uid = optUint(body, 'uid');
    const gid = optUint(body, 'gid');
    const tmp = join(dirname(target), `.${basename(target)}.flipside-${randomBytes(6).toString('hex')}`);
    const fh = await open(tmp, 'wx', mode !== undefined ? mode & 0o7777 : 0o644);
    this.upload = { fh, tmp, target, written: 0, uid, gid };
    this.log(`file transfer: receiving ${target}`);
    this.send({ hdr: { proto: PROTO.fileTransfer, typ: FILE.ack, props: { offset: 0 } } });
  }

  private async receiveChunk(msg: ProtoMsg): Promise<void> {
    const u = this.upload;
    if (!u) throw new TransferError('file_chunk without put_file');
    const offset = numberProp(msg, 'offset') ?? u.written;
    if (offset !== u.written) throw new TransferError(`chunk at offset ${offset}, expected ${u.written}`);
    const data = msg.body;
    if (data && data.byteLength > 0) {
      await u.fh.write(data, 0, data.byteLength, offset);
      u.written += data.byteLength;
      // Mender's convention for uploads: the ack carries the chunk's own offset; only the ack of
      // the end of file carries the size, once the file is in place.
      this.send({ hdr: { proto: PROTO.fileTransfer, typ: FILE.ack, props: { offset } } });
      return;
    }
    // The end: the whole file is on disk before it takes the target's name.
    await u.fh.sync();
    await u.fh.close();
    if (u.uid !== undefined || u.gid !== undefined) await chown(u.tmp, u.uid ?? -1, u.gid ?? -1);
    await rename(u.tmp, u.target);
    const dir = await open(dirname(u.target), 'r');
    await dir.sync().finally(() => dir.close());
    this.upload = null;
    this.log(`file transfer: received ${u.target} (${u.written} bytes)`);
    this.send({ hdr: { proto: PROTO.fileTransfer, typ: FILE.ack, props: { offset: u.written } } });
  }

  private async discard(): Promise<void> {
    const u = this.upload;
    this.upload = null;
    if (!u) return;
    await u.fh.close().catch(() => undefined);
    await unlink(u.tmp).catch(() => undefined);
    this.log(`file transfer: ${u.target} not changed (transfer ended after ${u.written} bytes)`);
  }

  /** The session ended: a file being received is dropped, a file being sent stops. */
  close(): Promise<void> {
    this.closed = true;
    const w = this.sending?.wake;
    if (this.sending) this.sending.wake = null;
    w?.();
    return (this.chain = this.chain.then(() => this.discard()));
  }
}
