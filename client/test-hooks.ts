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

import { appendFileSync, writeSync } from 'node:fs';
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

/** The journal as the boot env library takes it: passed to openBootEnv, which imports nothing of the client. */
export const envWriteJournal: WriteObserver = { write: journalWrite, sync: journalSync };
