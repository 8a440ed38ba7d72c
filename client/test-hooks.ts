// Test-only fault hooks. The harness and the kill-matrix test set these in the client's
// environment to cut "power" (SIGKILL, no cleanup, no flush) at an exact point:
//   FLIPSIDE_TEST_KILL_AT=<State>       right after <State> was stored durably, before its effect
//   FLIPSIDE_TEST_KILL_AT=<State>:done  after <State>'s effect, before the next state is stored
//   FLIPSIDE_TEST_KILL_AT_BYTE=<n>      once at least n payload bytes were written to the partition
//   FLIPSIDE_TEST_WRITE_JOURNAL=<file>  appends each partition/env write and fsync, so the host-sim
//                                       can drop what was written but never synced at a power cut
// Unset on devices; reading two environment variables is the whole cost.

import { appendFileSync } from 'node:fs';

function killNow(): never {
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL to ourselves is delivered before kill() returns on Linux; this line is never reached.
  throw new Error('SIGKILL was not delivered');
}

export function killPoint(point: string): void {
  if (process.env.FLIPSIDE_TEST_KILL_AT === point) killNow();
}

/** The byte threshold, or null when the hook is off. */
export function killAtByte(): number | null {
  const v = process.env.FLIPSIDE_TEST_KILL_AT_BYTE;
  if (v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

export function killIfPastByte(written: number, threshold: number | null): void {
  if (threshold !== null && written >= threshold) killNow();
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
