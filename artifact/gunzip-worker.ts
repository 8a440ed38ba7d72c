// A ByteSource that inflates a gzip member of a file on a worker thread, so that inflating (the
// worker) and hashing (the main thread) run on two cores at once. GunzipSource does both on the
// main thread, one after the other: for a 256 MiB rootfs (129 MiB gzip) ~0.3 s of inflate plus
// ~0.17 s of SHA-256.
//
// The worker reads the member from the file itself (like the zstd tool, compression.ts), drives
// the same zlib handle as GunzipSource (same semantics: concatenated members, trailing padding,
// "unexpected end of file" at a truncated end) and inflates straight into slots of a
// SharedArrayBuffer: no copy, no Buffer per chunk, memory fixed at SLOTS × SLOT_SIZE. The main
// thread hands the slots out as views and gives a slot back once the consumer asked for the chunk
// after next (the contract of BufferRing/recycle). Waits are a futex (Atomics.wait), so this is
// for a process that waits on this read alone: the reader uses it only with syncReads (the CLI).
// Waiting through the event loop instead (Atomics.waitAsync) cost a wake per slot, more CPU than
// the worker saved (bench, load 8-11: 0.94 against 0.59 s). A worker that dies is noticed
// ('exit'). Errors travel through the shared memory as text, so they arrive in order with the data.
import { SHARE_ENV, Worker } from 'node:worker_threads';
import { ByteSource } from './byte-source.js';
import { ArtifactError } from './errors.js';

const SLOTS = 4;
const SLOT_SIZE = 256 * 1024;
const ERR_BYTES = 1024;
// ctl (Int32Array): produced slots, released slots, state, event counter, error length.
const PRODUCED = 0;
const RELEASED = 1;
const STATE = 2;
const EVENTS = 3;
const ERR_LEN = 4;
const CTL_BYTES = 64;
const STATE_RUNNING = 0;
const STATE_DONE = 1;
const STATE_FAILED = 2;
const STATE_CANCELLED = 3;

/** Below this many compressed bytes a worker's start (~30-50 ms of CPU) costs more than it saves. */
export const GUNZIP_WORKER_MIN_BYTES = 8 << 20;

// Plain CommonJS run with `eval`: the same text in the CLI's chunks, the device bundle and tsx.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const zlib = require('node:zlib');
const { sab, path, start, length, slots, slotSize, ctlBytes, errBytes } = workerData;
const ctl = new Int32Array(sab, 0, ctlBytes / 4);
const lens = new Int32Array(sab, ctlBytes, slots);
const errText = new Uint8Array(sab, ctlBytes + slots * 4, errBytes);
const data = new Uint8Array(sab, ctlBytes + slots * 4 + errBytes, slots * slotSize);
const signal = () => { Atomics.add(ctl, ${EVENTS}, 1); Atomics.notify(ctl, ${EVENTS}); };
let fd = -1;
try {
  const g = zlib.createGunzip();
  const handle = g._handle;
  const state = g._writeState;
  let zerr = null;
  handle.onerror = (message) => { zerr = message; };
  fd = openSync(path, 'r');
  const inBuf = Buffer.allocUnsafe(256 << 10);
  let pos = start;
  const end = start + length;
  let pending = inBuf.subarray(0, 0);
  let inputDone = length === 0;
  let finished = false;
  let produced = 0;
  while (!finished) {
    for (;;) {
      if (Atomics.load(ctl, ${STATE}) === ${STATE_CANCELLED}) throw null;
      const released = Atomics.load(ctl, ${RELEASED});
      if (produced - released < slots) break;
      Atomics.wait(ctl, ${RELEASED}, released);
    }
    const slot = data.subarray((produced % slots) * slotSize, (produced % slots + 1) * slotSize);
    let filled = 0;
    while (filled < slotSize) {
      if (pending.length === 0 && !inputDone) {
        const n = readSync(fd, inBuf, 0, Math.min(inBuf.length, end - pos), pos);
        if (n === 0) throw Object.assign(new Error('the artifact ends inside the gzip member'), { code: 'TRUNCATED' });
        pos += n;
        pending = inBuf.subarray(0, n);
        if (pos >= end) inputDone = true;
        continue;
      }
      handle.writeSync(inputDone ? zlib.constants.Z_FINISH : zlib.constants.Z_NO_FLUSH, pending, 0, pending.length, slot, filled, slotSize - filled);
      if (zerr !== null) throw Object.assign(new Error('gzip: ' + zerr), { code: 'COMPRESSION' });
      const written = slotSize - filled - state[0];
      pending = pending.subarray(pending.length - state[1]);
      filled += written;
      // No output with room for it: the input is used up (read more), or the stream ended and what
      // is left is padding zlib does not read, or the end (as GunzipSource decides).
      if (written === 0 && (inputDone || pending.length > 0)) { finished = true; break; }
    }
    if (filled > 0) {
      lens[produced % slots] = filled;
      produced++;
      Atomics.store(ctl, ${PRODUCED}, produced);
      signal();
    }
  }
  g.close();
  Atomics.store(ctl, ${STATE}, ${STATE_DONE});
  signal();
} catch (e) {
  if (e !== null) {
    const text = Buffer.from(((e && e.code) || 'COMPRESSION') + ' ' + String((e && e.message) || e)).subarray(0, errBytes);
    errText.set(text);
    Atomics.store(ctl, ${ERR_LEN}, text.length);
    Atomics.store(ctl, ${STATE}, ${STATE_FAILED});
    signal();
  }
} finally {
  if (fd >= 0) closeSync(fd);
}
`;

export class GunzipWorkerSource extends ByteSource {
  private readonly sab: SharedArrayBuffer;
  private readonly ctl: Int32Array;
  private readonly lens: Int32Array;
  private readonly errText: Uint8Array;
  private readonly data: Buffer;
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private exitCode: number | null = null;
  /** Chunks handed out so far (slot of the next one: handed % SLOTS). */
  private handed = 0;
  private closed = false;
  /**
   * Hand out views of the shared slots instead of copies: only for a consumer that is done with a
   * chunk by the time it asks for the one after next (hashing in place), as FdSource.recycle.
   */
  recycle = false;

  /** Inflates `length` bytes of `path` from `start` (a gzip member); the caller checked they exist. */
  constructor(path: string, start: number, length: number, what: string) {
    super(null, what);
    const errAt = CTL_BYTES + SLOTS * 4;
    this.sab = new SharedArrayBuffer(errAt + ERR_BYTES + SLOTS * SLOT_SIZE);
    this.ctl = new Int32Array(this.sab, 0, CTL_BYTES / 4);
    this.lens = new Int32Array(this.sab, CTL_BYTES, SLOTS);
    this.errText = new Uint8Array(this.sab, errAt, ERR_BYTES);
    this.data = Buffer.from(this.sab, errAt + ERR_BYTES, SLOTS * SLOT_SIZE);
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { sab: this.sab, path, start, length, slots: SLOTS, slotSize: SLOT_SIZE, ctlBytes: CTL_BYTES, errBytes: ERR_BYTES },
      // The worker needs no heap to speak of: keep its isolate small (RSS).
      resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1, stackSizeMb: 1 },
      env: SHARE_ENV,
      stdout: false,
      stderr: false,
    });
    // Not unref'd: the running worker keeps the process alive.
    this.exited = new Promise<void>((resolve) => {
      this.worker.once('error', () => undefined); // the state in shared memory, or the exit, tells
      this.worker.once('exit', (code) => {
        this.exitCode = code;
        // Wakes a nextChunk waiting on a worker that died without a word.
        Atomics.add(this.ctl, EVENTS, 1);
        Atomics.notify(this.ctl, EVENTS);
        resolve();
      });
    });
  }

  private failure(): ArtifactError {
    const n = Atomics.load(this.ctl, ERR_LEN);
    const text = Buffer.from(this.errText.subarray(0, n)).toString('utf8');
    const sp = text.indexOf(' ');
    const code = text.slice(0, sp);
    const message = text.slice(sp + 1);
    if (code === 'TRUNCATED') return new ArtifactError('TRUNCATED', `${this.what}: ${message}`);
    return new ArtifactError('COMPRESSION', message.startsWith('gzip') ? message : `gzip: ${message}`);
  }

  protected override async nextChunk(): Promise<Buffer | null> {
    if (this.closed) return null;
    // The consumer asks for chunk `handed`: it is done with chunk handed - 2, whose slot goes back.
    if (this.handed >= 2 && Atomics.load(this.ctl, RELEASED) < this.handed - 1) {
      Atomics.store(this.ctl, RELEASED, this.handed - 1);
      Atomics.notify(this.ctl, RELEASED);
    }
    for (;;) {
      const seen = Atomics.load(this.ctl, EVENTS);
      if (Atomics.load(this.ctl, PRODUCED) > this.handed) break;
      const state = Atomics.load(this.ctl, STATE);
      if (state === STATE_FAILED) throw this.failure();
      if (state === STATE_DONE) {
        await this.release();
        return null;
      }
      if (this.exitCode !== null) throw new ArtifactError('COMPRESSION', `gzip: the inflating thread stopped (exit code ${this.exitCode})`);
      // A futex wait: no event-loop round trip per slot. In slices, with a turn of the event loop
      // after each one that times out, so a worker that died ('exit') is still noticed.
      if (Atomics.wait(this.ctl, EVENTS, seen, 100) === 'timed-out') await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const slot = this.handed % SLOTS;
    const view = this.data.subarray(slot * SLOT_SIZE, slot * SLOT_SIZE + this.lens[slot]!);
    this.handed++;
    return this.recycle ? view : Buffer.from(view);
  }

  private async release(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A worker still running (the consumer stopped early, or an error elsewhere) stops at its next
    // slot; one that finished exits by itself.
    const wasRunning = Atomics.compareExchange(this.ctl, STATE, STATE_RUNNING, STATE_CANCELLED) === STATE_RUNNING;
    Atomics.notify(this.ctl, RELEASED);
    if (wasRunning) await this.worker.terminate().catch(() => undefined);
    else await this.exited;
  }

  override close(): Promise<void> {
    return this.release();
  }
}
