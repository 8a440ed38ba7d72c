// A ByteSource that inflates a gzip member in-process into buffers it reuses, pulling the
// compressed bytes only as its consumer asks for more.
//
// Why not zlib.createGunzip(): the stream allocates every output chunk itself (a fresh
// ArrayBuffer per chunkSize) and runs each step on the thread pool. Measured on a 256 MiB rootfs
// (129 MiB gzip, inflate + SHA-256, 2-core box at load 7): the stream 1.00-1.03 s CPU and 85 MiB
// peak RSS (16 KiB chunks: 61 MiB but 1.38 s), the handle driven synchronously here 0.46-0.48 s
// and 45 MiB (bare Node: 40 MiB). Dead output buffers are what the stream's RSS is: V8 frees them
// only when it next collects.
//
// Node has no public streaming inflate into caller buffers, so this drives the zlib handle behind
// a Gunzip object (`_handle.writeSync` with the in/out offsets, results in `_writeState`), the
// same calls Node's own gunzipSync makes (lib/zlib.js processChunkSync) and the same handle the
// stream uses: one zlib, one set of semantics (concatenated members, trailing zero padding,
// "unexpected end of file" at a truncated end). That API is internal: usable() checks its shape
// and inflates a known member once per process; without it the reader keeps the stream.
import zlib from 'node:zlib';
import { BufferRing } from './buffer-ring.js';
import { ByteSource } from './byte-source.js';
import { ArtifactError } from './errors.js';

/** Output chunk: big enough that calls are few, small enough to stay in L2 for the hash. */
const OUT_CHUNK = 256 * 1024;
/**
 * The inflating runs on the main thread between pulls; zeros inflate ~1000:1, so one 1 MiB read
 * can become hundreds of MiB. Give the event loop a turn after this much output (a daemon's
 * timers and sockets; a blocking-read CLI loses nothing).
 */
const YIELD_EVERY = 16 << 20;

interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  onerror: (message: string, errno: number) => void;
}

interface HandleAccess {
  _handle?: ZlibHandle;
  _writeState?: Uint32Array;
}

/** A synchronous gunzip over zlib's handle: inflate(input, out) → [bytes written, bytes consumed]. */
class SyncGunzip {
  private readonly g = zlib.createGunzip();
  private readonly handle: ZlibHandle;
  private readonly state: Uint32Array;
  // Read here, not at module load: the device's start-up snapshot must not load zlib
  // (LAZY_BUILTINS in client/build-device.ts).
  private readonly flush = { none: zlib.constants.Z_NO_FLUSH, finish: zlib.constants.Z_FINISH };
  private error: string | null = null;

  constructor() {
    const g = this.g as unknown as HandleAccess;
    this.handle = g._handle!;
    this.state = g._writeState!;
    // Replaces the stream's handler (which would destroy the stream on the next tick): the
    // handle reports synchronously, inside writeSync.
    this.handle.onerror = (message) => {
      this.error = message;
    };
  }

  /** Inflates what fits of `input` into `out`; `finish` once no input follows (a truncated end is an error). */
  inflate(input: Uint8Array, out: Uint8Array, finish: boolean): { written: number; consumed: number } {
    if (this.error !== null) throw new ArtifactError('COMPRESSION', `gzip: ${this.error}`);
    this.handle.writeSync(finish ? this.flush.finish : this.flush.none, input, 0, input.length, out, 0, out.length);
    if (this.error !== null) throw new ArtifactError('COMPRESSION', `gzip: ${this.error}`);
    return { written: out.length - this.state[0]!, consumed: input.length - this.state[1]! };
  }

  close(): void {
    this.g.close();
  }
}

let usableChecked: boolean | undefined;

/** Whether this Node exposes the handle as expected and inflates a known member correctly (checked once). */
export function gunzipInPlaceUsable(): boolean {
  if (usableChecked !== undefined) return usableChecked;
  usableChecked = false;
  try {
    const probe = zlib.createGunzip() as unknown as HandleAccess & zlib.Gunzip;
    const shaped = typeof probe._handle?.writeSync === 'function' && probe._writeState instanceof Uint32Array && probe._writeState.length === 2;
    probe.close();
    if (!shaped) return false;
    const plain = Buffer.from('flipside gunzip self-test '.repeat(64));
    const gz = zlib.gzipSync(plain);
    const g = new SyncGunzip();
    try {
      const out = Buffer.alloc(plain.length + 16);
      // Two halves, so a handle that ignores its offsets or its state would show.
      const a = g.inflate(gz.subarray(0, 20), out, false);
      const b = g.inflate(gz.subarray(20), out.subarray(a.written), true);
      usableChecked = a.consumed === 20 && b.consumed === gz.length - 20 && out.subarray(0, a.written + b.written).equals(plain);
    } finally {
      g.close();
    }
  } catch {
    usableChecked = false;
  }
  return usableChecked;
}

export class GunzipSource extends ByteSource {
  private readonly input: AsyncIterator<Buffer>;
  private readonly z = new SyncGunzip();
  private pendingIn: Buffer = Buffer.alloc(0);
  private inputDone = false;
  private done = false;
  private closed = false;
  private sinceYield = 0;
  private readonly ring = new BufferRing(OUT_CHUNK);
  /**
   * Inflate into a BufferRing instead of a fresh buffer per chunk: only for a consumer that is
   * done with a chunk by the time it asks for the one after next (hashing in place, a pulling
   * installer), as FdSource.recycle.
   */
  recycle = false;

  /** `compressed`: the member's bytes (views are fine: each is used up before the next is asked for). */
  constructor(compressed: AsyncIterable<Buffer>, what: string) {
    super(null, what);
    this.input = compressed[Symbol.asyncIterator]();
  }

  protected override async nextChunk(): Promise<Buffer | null> {
    while (!this.done) {
      if (this.pendingIn.length === 0 && !this.inputDone) {
        const r = await this.input.next();
        if (r.done) this.inputDone = true;
        else this.pendingIn = r.value;
        continue;
      }
      const out = this.recycle ? this.ring.next() : Buffer.allocUnsafeSlow(OUT_CHUNK);
      const { written, consumed } = this.z.inflate(this.pendingIn, out, this.inputDone);
      this.pendingIn = this.pendingIn.subarray(consumed);
      if (written > 0) {
        this.sinceYield += written;
        if (this.sinceYield >= YIELD_EVERY) {
          this.sinceYield = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        return out.subarray(0, written);
      }
      // No output with room for it: the input is used up (pull more), or the stream ended and
      // what is left is padding zlib does not read (as the stream ends there too), or the end.
      if (this.inputDone || this.pendingIn.length > 0) this.done = true;
    }
    this.release();
    return null;
  }

  private release(): void {
    this.done = true;
    if (this.closed) return;
    this.closed = true;
    this.z.close();
  }

  override async close(): Promise<void> {
    this.release();
    try {
      await this.input.return?.();
    } catch {
      /* the outer reader reports its own failure */
    }
  }
}
