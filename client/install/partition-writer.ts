// Writes a payload into a partition (or a file-backed one) as fast as the device takes it: the
// bytes are copied into a few reused 1 MiB buffers and each full buffer is written at its aligned
// offset by the thread pool, while the main thread already receives (and the artifact reader
// hashes) the next megabyte. Nothing is fsynced here: the caller syncs once at the end, before
// anything may depend on the bytes (client/durable.ts).
//
// Why a copy: the reader's chunks (payloadPuller) are views into buffers it reuses as soon as the
// next chunk is asked for, and they arrive in pipe-sized pieces (64 KiB) at arbitrary offsets.
// One memcpy into an aligned batch costs ~1/10 of the SHA-256 of the same bytes and buys whole
// 1 MiB positional writes with no allocation per chunk (RSS flat whatever the payload size).
// With a `direct` handle (O_DIRECT, direct-io.ts) the buffers are page-aligned and every whole
// batch bypasses the page cache; the last, partial one goes through `fh`.
import type { FileHandle } from 'node:fs/promises';
import { testJournal, writeAllAt, type WriteJournal } from '../durable.js';
import { killIfPastByte, type ByteHook } from '../test-hooks.js';
import { alignedBuffers } from './direct-io.js';

/**
 * Write size and alignment: 1 MiB keeps syscalls few and is a multiple of every erase block and
 * page size we meet, without holding much memory.
 */
export const WRITE_BATCH = 1 << 20;
/**
 * Buffers in turn: one being filled, the others written (or waiting for the thread pool). On a
 * file system one inode takes one buffered write at a time, so more would only hold memory.
 */
const SLOTS = 3;

export interface PartitionWriteOptions {
  fh: FileHandle;
  /**
   * The same target opened with O_DIRECT (direct-io.ts openDirect), or null: whole batches are
   * written through it, from page-aligned buffers. Where it refuses a write (EINVAL: alignment
   * the device or file system does not take), that batch and every later one go through `fh`.
   */
  direct?: FileHandle | null;
  /** For messages and the write journal. */
  path: string;
  /** Bytes the payload declares: more is an error (`tooLong`), fewer is the caller's to judge. */
  size: number;
  /** Called when the source yields more than `size` bytes; its error is thrown. */
  tooLong: () => Error;
  /**
   * Read each target block first and skip the write when it already holds the bytes (Mender
   * skips unchanged blocks the same way): pays only where a read is much cheaper than a write.
   */
  skipUnchanged?: boolean;
  /** With a byte kill hook armed every chunk is written at once, so the cut point is exact. */
  killAt?: ByteHook | null;
  /** Bytes written so far (in order, whole batches), for progress output. */
  onProgress?: (written: number) => void;
  journal?: WriteJournal;
}

interface Slot {
  buf: Buffer;
  /** The write of this buffer, while it may still be running. */
  busy: Promise<void> | null;
  /** Read-back space for skipUnchanged (one per slot: writes overlap). */
  scratch: Buffer | null;
}

async function sameBytes(fh: FileHandle, data: Buffer, pos: number, scratch: Buffer): Promise<boolean> {
  const into = scratch.subarray(0, data.length);
  let got = 0;
  while (got < data.length) {
    const { bytesRead } = await fh.read(into, got, data.length - got, pos + got);
    if (bytesRead === 0) return false;
    got += bytesRead;
  }
  return into.equals(data);
}

/**
 * Pulls chunks from `next` (null at the end; a chunk need only stay valid until the next call)
 * and writes them at offset 0 onwards. Resolves with the byte count once every write finished;
 * rejects with the first write or source error, and only after no write is running any more (the
 * caller may close the handle at once).
 */
export async function writePayload(next: () => Promise<Buffer | null>, o: PartitionWriteOptions): Promise<number> {
  const journal = o.journal ?? testJournal;
  const slots: Slot[] = [];
  let cur = 0;
  let fill = 0;
  /** File offset of the current slot's first byte. */
  let pos = 0;
  let written = 0;
  // Completion in issue order: progress only ever counts a contiguous prefix.
  let ordered: Promise<void> = Promise.resolve();
  const running = new Set<Promise<void>>();

  // Aligned buffers only where direct writes can use them (not for the kill hook's chunk writes).
  const aligned = o.direct && !o.killAt ? alignedBuffers(SLOTS, WRITE_BATCH) : null;
  let direct = aligned ? o.direct! : null;
  const writeOut = async (data: Buffer, at: number, scratch: Buffer | null): Promise<void> => {
    if (scratch && (await sameBytes(o.fh, data, at, scratch))) return;
    const d = direct;
    if (d && data.length === WRITE_BATCH) {
      try {
        await writeAllAt(d, o.path, data, at, journal);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
        direct = null; // not for this target: the page cache from here on (the batch again, whole)
      }
    }
    await writeAllAt(o.fh, o.path, data, at, journal);
  };
  const track = (w: Promise<void>, end: number): void => {
    running.add(w);
    w.then(
      () => running.delete(w),
      () => running.delete(w),
    );
    ordered = Promise.all([ordered, w]).then(() => {
      written = end;
      o.onProgress?.(written);
    });
    ordered.catch(() => undefined); // awaited at the end; a failure also surfaces through `busy`
  };
  const slot = (): Slot => {
    let s = slots[cur];
    if (!s) {
      s = { buf: aligned?.[cur] ?? Buffer.allocUnsafeSlow(WRITE_BATCH), busy: null, scratch: o.skipUnchanged ? Buffer.allocUnsafeSlow(WRITE_BATCH) : null };
      slots[cur] = s;
    }
    return s;
  };
  const dispatch = (): void => {
    const s = slots[cur]!;
    const w = writeOut(s.buf.subarray(0, fill), pos, s.scratch);
    w.catch(() => undefined); // awaited before the slot is reused, or at the end
    s.busy = w;
    pos += fill;
    track(w, pos);
    fill = 0;
    cur = (cur + 1) % SLOTS;
  };

  try {
    for (let chunk = await next(); chunk !== null; chunk = await next()) {
      if (pos + fill + chunk.length > o.size) throw o.tooLong();
      if (o.killAt) {
        // Exact cut point for the power-cut tests: this chunk lands (or not) before the next one.
        await ordered;
        const w = writeOut(chunk, pos, null);
        pos += chunk.length;
        track(w, pos);
        await ordered;
        killIfPastByte(written, o.killAt);
        continue;
      }
      let off = 0;
      while (off < chunk.length) {
        const s = slot();
        if (fill === 0 && s.busy) {
          await s.busy;
          s.busy = null;
        }
        const n = Math.min(chunk.length - off, WRITE_BATCH - fill);
        chunk.copy(s.buf, fill, off, off + n);
        fill += n;
        off += n;
        if (fill === WRITE_BATCH) dispatch();
      }
    }
    if (fill > 0) dispatch();
    await ordered;
    return written;
  } catch (e) {
    // Never leave a write running on a handle the caller is about to close.
    await Promise.allSettled([...running]);
    throw e;
  }
}
