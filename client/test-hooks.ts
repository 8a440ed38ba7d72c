// Test-only fault hooks. The harness and the kill-matrix test set these in the client's
// environment to cut "power" at an exact point:
//   FLIPSIDE_TEST_KILL_AT=<State>       right after <State> was stored durably, before its effect
//   FLIPSIDE_TEST_KILL_AT=<State>:done  after <State>'s effect, before the next state is stored
//   FLIPSIDE_TEST_KILL_AT_BYTE=<n>      once at least n payload bytes were written to the partition
//   FLIPSIDE_TEST_HOLD_AT=<point>       at the same points, print `FLIPSIDE-HOLD <point>` on stderr
//   FLIPSIDE_TEST_HOLD_AT_BYTE=<n>      and stop there: on a real or emulated board, where killing
//                                       the client is not a power cut, the harness cuts the power
//                                       when it reads that line, with the client still at the point
//   FLIPSIDE_TEST_KILL_AT_DOWNLOAD_BYTE=<n> (and _HOLD_) once the download spool holds n bytes
//   FLIPSIDE_TEST_WRITE_JOURNAL=<file>  appends each partition/env write and fsync, so the host-sim
//                                       can drop what was written but never synced at a power cut
// Unset on devices; reading a few environment variables is the whole cost.

import { appendFileSync, statSync, writeSync } from 'node:fs';
import type { WriteObserver } from '../bootenv/types.js';

function killNow(): never {
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL to ourselves is delivered before kill() returns on Linux; this line is never reached.
  throw new Error('SIGKILL was not delivered');
}

/** How long a held client waits for the power cut before it gives up (a harness that never cut). */
const HOLD_LIMIT_MS = 10 * 60_000;

function holdNow(point: string): never {
  try {
    // On a line of its own: a progress bar may have left the cursor mid-line.
    writeSync(2, `\nFLIPSIDE-HOLD ${point}\n`);
  } catch {
    // stderr gone: the harness may still cut on time
  }
  // Blocks the one thread: no timer, write or fsync of this process runs after the point.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, HOLD_LIMIT_MS);
  throw new Error(`held at ${point} for ${HOLD_LIMIT_MS / 60_000} min and the power was never cut`);
}

export function killPoint(point: string): void {
  traceOp({ op: 'mark', point });
  if (process.env.FLIPSIDE_TEST_KILL_AT === point) killNow();
  if (process.env.FLIPSIDE_TEST_HOLD_AT === point) holdNow(point);
}

function byteThreshold(name: string): number | null {
  const v = process.env[name];
  if (v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** Where a payload write stops: killed or held once `bytes` were written; null when no hook is set. */
export interface ByteHook {
  bytes: number;
  hold: boolean;
}

export function killAtByte(): ByteHook | null {
  const kill = byteThreshold('FLIPSIDE_TEST_KILL_AT_BYTE');
  if (kill !== null) return { bytes: kill, hold: false };
  const hold = byteThreshold('FLIPSIDE_TEST_HOLD_AT_BYTE');
  return hold !== null ? { bytes: hold, hold: true } : null;
}

export function killIfPastByte(written: number, hook: ByteHook | null): void {
  if (hook === null || written < hook.bytes) return;
  if (hook.hold) holdNow(`byte ${hook.bytes}`);
  killNow();
}

/** `w <offset> <length> <path>` before a write to a partition or env device lands, `s 0 0 <path>` after its fsync. */
export function journalWrite(path: string, offset: number, length: number): void {
  const j = process.env.FLIPSIDE_TEST_WRITE_JOURNAL;
  if (j) appendFileSync(j, `w ${offset} ${length} ${path}\n`);
}

export function journalSync(path: string): void {
  const j = process.env.FLIPSIDE_TEST_WRITE_JOURNAL;
  if (j) appendFileSync(j, `s 0 0 ${path}\n`);
}

/** FLIPSIDE_TEST_KILL_AT_DOWNLOAD_BYTE / _HOLD_AT_DOWNLOAD_BYTE: once the download spool holds n bytes. */
export function killAtDownloadByte(): ByteHook | null {
  const kill = byteThreshold('FLIPSIDE_TEST_KILL_AT_DOWNLOAD_BYTE');
  if (kill !== null) return { bytes: kill, hold: false };
  const hold = byteThreshold('FLIPSIDE_TEST_HOLD_AT_DOWNLOAD_BYTE');
  return hold !== null ? { bytes: hold, hold: true } : null;
}

/** The write journal and the trace, as the boot env library (openBootEnv) and client/durable.ts take them. */
export const envWriteJournal: WriteObserver = {
  write: (path, offset, length, bytes) => {
    journalWrite(path, offset, length);
    if (bytes) traceOp({ op: 'write', path, offset, bytes });
  },
  sync: (path) => {
    journalSync(path);
    traceOp({ op: 'sync', path });
  },
};

// FLIPSIDE_TEST_TRACE=<file>: every durable-storage operation in issue order, with the bytes of
// each write (appended to <file>.data), so a campaign can rebuild any crash state the storage may
// leave (harness/campaign): block writes and their fsync on partitions and env devices, the
// client's file writes, fsyncs, renames, unlinks and directory fsyncs, and its state points.
export type TraceOp =
  | { op: 'write'; path: string; offset: number; length: number; data: number }
  | { op: 'sync'; path: string }
  | { op: 'file'; path: string; length: number; data: number; mode?: number }
  | { op: 'symlink'; path: string; target: string }
  | { op: 'fsync'; path: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'unlink'; path: string }
  | { op: 'dsync'; path: string }
  | { op: 'rmtree'; path: string }
  /** A file cut to `length` bytes (metadata: durable with the next fsync of the file or its directory). */
  | { op: 'truncate'; path: string; length: number }
  | { op: 'mark'; point: string };

type TraceInput = TraceOp extends infer T ? (T extends { data: number } ? Omit<T, 'data' | 'length'> & { bytes: Buffer } : T) : never;

function dataSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

export function traceOp(o: TraceInput): void {
  const t = process.env.FLIPSIDE_TEST_TRACE;
  if (!t) return;
  let rec: TraceOp;
  if ('bytes' in o) {
    // The data file's size is where these bytes start: several processes may append to one trace.
    const at = dataSize(`${t}.data`);
    appendFileSync(`${t}.data`, o.bytes);
    const { bytes, ...rest } = o;
    rec = { ...rest, length: bytes.length, data: at } as TraceOp;
  } else rec = o;
  appendFileSync(t, `${JSON.stringify(rec)}\n`);
}
