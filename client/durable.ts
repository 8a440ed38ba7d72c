// The client's crash safety in one place: every byte the client relies on after a power cut is
// written through here. The rules it keeps:
//  - replaceFile: a file is replaced whole (temp file beside it, fsync, rename over, fsync the
//    directory), so a cut leaves the old content or the new, never a torn file;
//  - writeFileSynced / writeStreamSynced: a new file's data is fsynced before it is relied on (the
//    caller, or writeStreamSynced itself, fsyncs the directory that names it);
//  - writeAllAt / syncHandle: positional writes into a partition or image file
//    (opened without truncation, so a device is touched only at the bytes asked for), each write
//    announced to the write journal before it lands and each fsync after it (the host-sim drops
//    what was written but never synced at a power cut);
//  - removeDurably: an unlink is durable once the directory is fsynced.
// The boot env's positional env writes are bootenv/device-io.ts writeAtDurably (a leaf library that
// imports nothing of the client), told about by the same journal.
// Errors are the file system's (with their `code`): callers turn them into their own typed errors.
import { open, rename, unlink, mkdir, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import type { WriteObserver } from '../bootenv/types.js';
import { envWriteJournal, traceOp } from './test-hooks.js';
import { INJECTED_BUG } from './injected-bug.js';

/** Told about positional writes (before they land, with their bytes) and fsyncs (after); the test hooks by default. */
export type WriteJournal = WriteObserver;

// The write journal (host-sim drops unsynced writes) and the campaign's trace (harness/campaign).
export const testJournal: WriteJournal = envWriteJournal;

/** fsync of a directory: the entries created, renamed or removed in it survive a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
    traceOp({ op: 'dsync', path: dir });
  } finally {
    await fh.close();
  }
}

export interface FileOptions {
  /** Exact mode of the file (the umask does not apply); default 0o644. */
  mode?: number;
  /** Fail with EEXIST instead of truncating an existing file. */
  exclusive?: boolean;
}

/** Creates (or truncates) `path` with `data` and fsyncs it; the caller fsyncs the directory. */
export async function writeFileSynced(path: string, data: string | Buffer, o: FileOptions = {}): Promise<void> {
  const mode = o.mode ?? 0o644;
  const fh = await open(path, o.exclusive ? 'wx' : 'w', mode);
  try {
    traceOp({ op: 'file', path, bytes: Buffer.from(data), mode });
    await fh.writeFile(data);
    // open() applies the umask; set the mode exactly.
    await fh.chmod(mode);
    await fh.sync();
    traceOp({ op: 'fsync', path });
  } finally {
    await fh.close();
  }
}

/**
 * Replaces `path` atomically and durably: after it resolves the new content survives a power cut;
 * a cut or an error before that leaves the old content (the temp file is removed on error).
 * The directory is created when missing. The temp file is `<path>.tmp` (a leftover of a cut is
 * simply overwritten next time); replacements of one path within this process run one at a time.
 */
export function replaceFile(path: string, data: string | Buffer, o: { mode?: number } = {}): Promise<void> {
  const before = replacing.get(path) ?? Promise.resolve();
  const mine = before.then(() => replaceNow(path, data, o.mode ?? 0o600));
  const tail = mine.catch(() => undefined);
  replacing.set(path, tail);
  void tail.then(() => {
    if (replacing.get(path) === tail) replacing.delete(path);
  });
  return mine;
}

const replacing = new Map<string, Promise<void>>();

async function replaceNow(path: string, data: string | Buffer, mode: number): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp`;
  if (INJECTED_BUG === 'store-in-place') {
    traceOp({ op: 'file', path, bytes: Buffer.from(data), mode });
    await writeFile(path, data, { mode });
    return;
  }
  try {
    await writeFileSynced(tmp, data, { mode });
    traceOp({ op: 'rename', from: tmp, to: path });
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  if (INJECTED_BUG !== 'no-dir-fsync') await syncDir(dir);
}

/** Removes `path` (a missing file is fine) and fsyncs its directory. */
export async function removeDurably(path: string): Promise<void> {
  try {
    traceOp({ op: 'unlink', path });
    await unlink(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  await syncDir(dirname(path));
}

/** Streams `source` into a new `path` with backpressure, then fsyncs the file and its directory. */
export async function writeStreamSynced(path: string, source: Readable, o: { mode?: number } = {}): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const fh = await open(path, 'w', o.mode ?? 0o644);
  try {
    // Pulling the next chunk only after the previous write finished is the backpressure. (A
    // pipeline into fh.createWriteStream({autoClose: false}) never settles: it waits for 'close'.)
    for await (const chunk of source) await fh.write(chunk as Buffer);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await syncDir(dir);
}

/**
 * Writes all of `buf` at `pos` through an open handle (short writes continued), each write
 * announced to the journal first. Not synced: the caller calls syncHandle before relying on it.
 */
export async function writeAllAt(fh: FileHandle, path: string, buf: Buffer, pos: number, journal: WriteJournal = testJournal): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    journal.write(path, pos + off, buf.length - off, buf.subarray(off));
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, pos + off);
    off += bytesWritten;
  }
}

/** fsync of a partition or file handle, then told to the journal. */
export async function syncHandle(fh: FileHandle, path: string, journal: WriteJournal = testJournal): Promise<void> {
  await fh.sync();
  journal.sync(path);
}
