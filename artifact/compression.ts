// Streaming (de)compression for the members of an artifact: none, gzip (node:zlib), xz and zstd.
// For xz and zstd there are two engines: the system tool as a piped subprocess (`zstd -dc`,
// `xz -dc`) and pure JS/WASM (fzstd, xz-decompress) for devices without the tools. Chosen by
// measurement (bench/artifact.bench.ts, 256 MiB image, two runs on a loaded 2-core box): reading
// a zstd artifact went 134 / 219 MB/s through `zstd -dc` against 75 / 164 MB/s with fzstd, which
// also peaked higher in RSS (93 / 117 MiB against 87 / 89), so the tool is the default when it is
// on PATH and the JS engine the fallback. FLIPSIDE_ARTIFACT_ENGINE=tool|js (or the `engine`
// option) forces one.
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { open, type FileHandle } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { Duplex, PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import zlib from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
// xz-decompress is CommonJS without detectable named exports: take the default export.
import xzDecompress from 'xz-decompress';
import { ArtifactError } from './errors.js';
import type { Compression } from './types.js';
import { COMPRESSION_IDS, type CompressionId } from './compression-ids.js';

export type Engine = 'tool' | 'js';

/** mender-artifact's --compression ids (compression-ids.ts); parseCompressionId gives each one's level. */
export { COMPRESSION_IDS, type CompressionId };

export interface CompressionChoice {
  compression: Compression;
  /** Tool level: gzip 1-9, xz 0-9, zstd 1-19. */
  level?: number;
}

export function parseCompressionId(id: string): CompressionChoice {
  switch (id) {
    case 'none':
      return { compression: 'none' };
    case 'gzip':
      return { compression: 'gzip', level: 6 };
    case 'lzma':
    case 'xz':
      return { compression: 'xz', level: 6 };
    case 'zstd_fastest':
      return { compression: 'zstd', level: 1 };
    case 'zstd_fast':
    case 'zstd':
      return { compression: 'zstd', level: 3 };
    case 'zstd_better':
      return { compression: 'zstd', level: 7 };
    case 'zstd_best':
      return { compression: 'zstd', level: 11 };
    default:
      throw new ArtifactError('COMPRESSION', `compressor '${id}' is not supported: use one of ${COMPRESSION_IDS.join(', ')}`);
  }
}

const toolCache = new Map<string, string | null>();

/** Absolute path of an executable on PATH, or null. */
export function findTool(name: string): string | null {
  if (toolCache.has(name)) return toolCache.get(name)!;
  let found: string | null = null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      found = p;
      break;
    } catch {
      /* keep looking */
    }
  }
  toolCache.set(name, found);
  return found;
}

function engineFor(c: 'xz' | 'zstd', engine?: Engine): Engine {
  const forced = engine ?? (process.env.FLIPSIDE_ARTIFACT_ENGINE as Engine | undefined);
  if (forced === 'js') return 'js';
  if (forced === 'tool') return 'tool';
  return findTool(c) ? 'tool' : 'js';
}

// How far a tool's output may run ahead of our reader, and its input ahead of the tool. With the
// old 64 KiB (one pipe read) the tool was paused after every chunk and the two sides ran in
// lock-step; 1 MiB lets it keep decompressing on the other core while we parse and hash.
const TOOL_READ_AHEAD = 1 << 20;
const TOOL_WRITE_AHEAD = 256 * 1024;

/**
 * A subprocess as a Duplex: writes go to its stdin with the pipe's backpressure, its stdout is
 * pushed out and paused when our reader is slow. A non-zero exit becomes ArtifactError
 * COMPRESSION (with the tool's stderr) instead of a clean end, so bad data never ends "successfully".
 */
class ToolStream extends Duplex {
  private readonly child: ChildProcessWithoutNullStreams;
  private stderr = '';
  private exitCode: number | null | undefined;
  private readonly exited: Promise<number | null>;
  private pendingWrite: ((e?: Error | null) => void) | null = null;
  private drainListening = false;

  constructor(private readonly tool: string, args: string[]) {
    super({ readableHighWaterMark: TOOL_READ_AHEAD, writableHighWaterMark: TOOL_WRITE_AHEAD });
    const path = findTool(tool);
    if (!path) throw new ArtifactError('COMPRESSION', `${tool} is not installed`);
    this.child = spawn(path, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        const cb = this.pendingWrite;
        this.pendingWrite = null;
        cb?.(code === 0 ? null : this.failure());
        resolve(this.exitCode);
      });
    });
    this.child.once('error', (e) => this.destroy(new ArtifactError('COMPRESSION', `${tool} failed to start: ${e.message}`)));
    this.child.stdin.on('error', () => {
      /* EPIPE when the tool died: its exit status carries the real error */
    });
    this.child.stderr.on('data', (d: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += d.toString();
    });
    this.child.stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) this.child.stdout.pause();
    });
    this.child.stdout.once('end', () => {
      void this.exited.then((code) => {
        if (code === 0) this.push(null);
        else this.destroy(this.failure());
      });
    });
  }

  private failure(): ArtifactError {
    const msg = this.stderr.trim().split('\n').pop() ?? '';
    return new ArtifactError('COMPRESSION', `${this.tool} exited with status ${this.exitCode}${msg ? `: ${msg}` : ''}`);
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.exitCode !== undefined) {
      cb(this.exitCode === 0 ? new ArtifactError('COMPRESSION', `${this.tool} exited before reading all its input`) : this.failure());
      return;
    }
    if (this.child.stdin.write(chunk)) cb();
    else {
      // One listener for the stream's life (not one per blocked write), so a long write never
      // piles up 'drain' listeners.
      this.pendingWrite = cb;
      if (!this.drainListening) {
        this.drainListening = true;
        this.child.stdin.on('drain', () => {
          const p = this.pendingWrite;
          this.pendingWrite = null;
          p?.();
        });
      }
    }
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.child.stdin.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (this.exitCode === undefined) this.child.kill('SIGKILL');
    this.child.stdout.destroy();
    this.child.stdin.destroy();
    cb(err);
  }
}

/** zstd in pure JS (fzstd): slower, but needs nothing on the device. */
class JsZstdDecompress extends Transform {
  private readonly d = new ZstdDecompress((chunk) => {
    // fzstd hands out blocks it may reuse for its window: copy before they leave.
    if (chunk.length) this.push(Buffer.from(chunk));
  });

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.d.push(chunk);
      cb();
    } catch (e) {
      cb(new ArtifactError('COMPRESSION', `zstd: ${(e as Error).message}`));
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.d.push(new Uint8Array(0), true);
      cb();
    } catch (e) {
      cb(new ArtifactError('COMPRESSION', `zstd: ${(e as Error).message}`));
    }
  }
}

function jsXzDecompress(): Duplex {
  const input = new PassThrough();
  const web = Readable.toWeb(input) as unknown as WebReadableStream<Uint8Array>;
  const { XzReadableStream } = xzDecompress as unknown as { XzReadableStream: new (s: unknown) => unknown };
  const out = Readable.fromWeb(new XzReadableStream(web) as never);
  const wrapped = new Transform({
    transform(chunk: Buffer, _e, cb) {
      cb(null, chunk);
    },
  });
  out.on('error', (e) => wrapped.destroy(new ArtifactError('COMPRESSION', `xz: ${e.message}`)));
  out.pipe(wrapped);
  return Duplex.from({ writable: input, readable: wrapped });
}

function gzipError(e: Error): ArtifactError {
  return new ArtifactError('COMPRESSION', `gzip: ${e.message}`);
}

/** A stream that turns compressed bytes into plain ones (an identity PassThrough for none). */
export function createDecompressor(c: Compression, engine?: Engine): Duplex {
  switch (c) {
    case 'none':
      return new PassThrough({ highWaterMark: 1 << 16 });
    case 'gzip': {
      // For small members and as the fallback: payloads inflate through GunzipSource
      // (gunzip-source.ts, reused buffers, half the CPU) when this Node allows it.
      // 256 KiB output chunks and 1 MiB of read-ahead: a quarter of the thread-pool round trips
      // and per-chunk work of the old 64 KiB, still bounded.
      // (zlib passes its options on to Transform; the typings only list the zlib ones.)
      const g = zlib.createGunzip({ chunkSize: 1 << 18, readableHighWaterMark: 1 << 20 } as zlib.ZlibOptions);
      return mapErrors(g, gzipError);
    }
    case 'zstd':
      return engineFor('zstd', engine) === 'tool' ? new ToolStream('zstd', ['-dcq']) : new JsZstdDecompress();
    case 'xz':
      return engineFor('xz', engine) === 'tool' ? new ToolStream('xz', ['-dcq']) : jsXzDecompress();
  }
}

/** Compressors for writing: gzip in-process, xz and zstd through the system tools. */
export function createCompressor(choice: CompressionChoice): Duplex {
  switch (choice.compression) {
    case 'none':
      return new PassThrough({ highWaterMark: 1 << 16 });
    case 'gzip':
      return mapErrors(zlib.createGzip({ level: choice.level ?? 6, chunkSize: 1 << 16 }), gzipError);
    case 'xz':
      // One thread so the bytes do not depend on the machine.
      return new ToolStream('xz', ['-zcq', `-${choice.level ?? 6}`, '-T1', '--check=crc64']);
    case 'zstd':
      return new ToolStream('zstd', ['-cq', `-${choice.level ?? 3}`, '-T1', '--no-progress']);
  }
}

function mapErrors<T extends Duplex>(s: T, map: (e: Error) => ArtifactError): T {
  const destroy = s.destroy.bind(s);
  (s as unknown as { destroy: (err?: Error) => unknown }).destroy = (err?: Error) =>
    destroy(err && !(err instanceof ArtifactError) ? map(err) : err);
  return s;
}

const SMALL_IN_PROCESS = 64 * 1024;

/** Whole-buffer helpers for the small members (header.tar*), with a cap on the output size. */
export async function decompressBuffer(c: Compression, input: Buffer, cap: number, label: string, engine?: Engine): Promise<Buffer> {
  if (c === 'none') {
    if (input.length > cap) throw new ArtifactError('TOO_LARGE', `${label} exceeds ${cap} bytes`);
    return input;
  }
  // A header is a few KiB: decompressing it in-process (fzstd) is cheaper than starting zstd.
  const small = c === 'zstd' && input.length <= SMALL_IN_PROCESS && engine === undefined && !process.env.FLIPSIDE_ARTIFACT_ENGINE;
  const d = createDecompressor(c, small ? 'js' : engine);
  const parts: Buffer[] = [];
  let total = 0;
  const done = (async () => {
    for await (const chunk of d as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > cap) {
        throw new ArtifactError('TOO_LARGE', `${label} decompresses to more than ${cap} bytes`);
      }
      parts.push(chunk);
    }
  })();
  d.end(input);
  try {
    await done;
  } catch (e) {
    d.destroy();
    if (e instanceof ArtifactError) throw e;
    throw new ArtifactError('COMPRESSION', `${label}: ${(e as Error).message}`);
  }
  return Buffer.concat(parts);
}

export async function compressBuffer(choice: CompressionChoice, input: Buffer): Promise<Buffer> {
  if (choice.compression === 'none') return input;
  const c = createCompressor(choice);
  const parts: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of c as AsyncIterable<Buffer>) parts.push(chunk);
  })();
  c.end(input);
  await done;
  return Buffer.concat(parts);
}

/** Whether decompressFileRegion can take a member of this compression (the tools are installed). */
export function canDecompressFileRegion(c: Compression, engine?: Engine): c is 'xz' | 'zstd' {
  return (c === 'zstd' || c === 'xz') && engineFor(c, engine) === 'tool' && regionShell() !== null;
}

/** The shell that runs REGION_SCRIPT, if it and a copy tool for its bounded input (dd or head) are installed. */
function regionShell(): string | null {
  return findTool('dd') || findTool('head') ? findTool('sh') : null;
}

/** The file open with its offset at `start`, for a child to inherit (Node has no lseek). */
async function openAt(path: string, start: number): Promise<FileHandle> {
  const fh = await open(path, 'r');
  try {
    // The members before a payload are small: reading up to `start` is cheap.
    const scratch = Buffer.allocUnsafe(Math.min(Math.max(start, 1), 1 << 20));
    for (let left = start; left > 0; ) {
      const { bytesRead } = await fh.read(scratch, 0, Math.min(left, scratch.length), null);
      if (bytesRead === 0) throw new ArtifactError('TRUNCATED', `artifact ends before offset ${start}`);
      left -= bytesRead;
    }
    return fh;
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/**
 * At most this many bytes may follow a member for the tool to read the file itself
 * (RegionOptions.tail): the outer tar's padding and end-of-archive, not another payload.
 */
export const REGION_TAIL_MAX = 64 * 1024;

export interface RegionOptions {
  /**
   * The file holds at most REGION_TAIL_MAX bytes after the member (its last one): zstd may read
   * the file itself with --pass-through, which decodes the member's frames and then copies what
   * follows them (the outer tar's padding) unchanged, so the output may end with up to
   * REGION_TAIL_MAX + (bytes after the last frame) extra bytes. A damaged or truncated frame is
   * still an error. Without it, or with a zstd older than --pass-through (1.5.4), `dd` bounds the input.
   */
  tail?: boolean;
}

/**
 * The shell pipe that decompresses `length` bytes of its stdin (a descriptor at the member's first
 * byte). `dd` with 1 MiB blocks bounds the input because zstd and xz refuse the tar padding that
 * follows the member; `head -c` stands in for a dd without iflag=count_bytes (busybox builds
 * without FEATURE_DD_IBS_OBS), though in the qemu-aarch64 guest (busybox 1.35, 32 MiB of zstd
 * input, CPU of the whole `… | zstd -dcq | sha256sum` pipe) busybox's `head -c` moves a few KiB
 * per read and write and cost 42.8 s against 12.3 s for zstd reading the file itself. With
 * `tail`, zstd reads the file itself: the copy cost 0.08-0.12 s of CPU per 128 MiB of zstd input
 * (a read and a write into the pipe, and zstd's read out of it; `dd | zstd` against `zstd`, 4
 * runs each, load 9) on a 2-core box where zstd alone takes 0.16 s.
 * Both probes (zstd's --pass-through, dd's iflag=count_bytes) run in this shell on the tool's side,
 * not as a spawnSync that blocks our event loop. One shell for the pipe (dash has no pipefail): a
 * failing copy kills the shell, so its failure is a non-zero exit too, never a short clean stream.
 * dd's statistics go to /dev/null (busybox dd has no status=none); a failure still ends the shell.
 * The length is the shell's last argument: a test finds a straggler by it.
 * Where perl is installed (Debian's perl-base is Essential; the device images have none) a FIFO
 * output is enlarged from 64 KiB to 1 MiB (F_SETPIPE_SZ = 1031; Node has no fcntl), in the
 * background so zstd does not wait for it: with 64 KiB the tool and our reads take turns every
 * 64 KiB, 4,096 hand-offs per 256 MiB; `zstd -dcq | node` reading 1 MiB and hashing it took
 * 0.26-0.28 s with the big pipe against 0.34-0.37 s (3 runs each, load 6.5).
 */
const REGION_SCRIPT = `
tool=$0 tail=$1 n=$2
if [ -p /dev/stdout ] && command -v perl >/dev/null 2>&1; then perl -e 'fcntl(STDOUT, 1031, 1048576)' 2>/dev/null & fi
if [ "$tail" = tail ] && "$tool" --pass-through -V >/dev/null 2>&1; then exec "$tool" -dcq --pass-through; fi
if dd if=/dev/null bs=1048576 iflag=count_bytes count=0 2>/dev/null; then
  { dd bs=1048576 iflag=count_bytes count="$n" 2>/dev/null || kill $$; } | "$tool" -dcq
else
  { head -c "$n" || kill $$; } | "$tool" -dcq
fi`;

const ZSTD_MAGIC = 0xfd2fb528;

/**
 * RegionOptions.tail only for a member that starts with a zstd frame: --pass-through would copy
 * anything else through unchanged, and a member named .zst that is not zstd must fail as such.
 */
async function checkTail(fh: FileHandle, c: 'xz' | 'zstd', start: number, opts: RegionOptions): Promise<RegionOptions> {
  if (!opts.tail) return opts;
  const magic = Buffer.alloc(4);
  const { bytesRead } = await fh.read(magic, 0, 4, start);
  return c === 'zstd' && bytesRead === 4 && magic.readUInt32LE(0) === ZSTD_MAGIC ? opts : { ...opts, tail: false };
}

function spawnRegionTool(c: 'xz' | 'zstd', input: number, stdout: number | 'pipe', stderr: number | 'pipe', length: number, opts: RegionOptions): ChildProcess {
  const toolPath = findTool(c);
  const sh = regionShell();
  if (!toolPath || !sh) throw new ArtifactError('COMPRESSION', `${c}, or dd or head, is not installed`);
  const tail = opts.tail && c === 'zstd' ? 'tail' : 'bounded';
  return spawn(sh, ['-c', REGION_SCRIPT, toolPath, tail, String(length)], { stdio: [input, stdout, stderr] });
}

/**
 * Decompresses `length` bytes of a file starting at `start` with the system tool, the file feeding
 * `dd … count=length | zstd -dcq` (or zstd itself, RegionOptions.tail) directly: the compressed
 * bytes never pass through this process, which only reads the tool's output (1 MiB of read-ahead,
 * so the tool runs on the other core while we parse and hash). A non-zero exit of either process
 * is ArtifactError COMPRESSION with the tool's stderr, so bad data never ends cleanly.
 */
export async function decompressFileRegion(c: 'xz' | 'zstd', path: string, start: number, length: number, opts: RegionOptions = {}): Promise<Readable> {
  const fh = await openAt(path, start);
  let tool: ChildProcess;
  try {
    opts = await checkTail(fh, c, start, opts);
    tool = spawnRegionTool(c, fh.fd, 'pipe', 'pipe', length, opts);
  } catch (e) {
    await fh.close();
    throw e;
  }
  // Every listener goes on before the next await: Node drops the output of a child that exits
  // while nobody listens to its stdout, and emits 'exit' only once.
  const toolExit = new Promise<number>((resolve) => {
    tool.once('error', () => resolve(-1));
    tool.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : 0)));
  });
  let stderr = '';
  tool.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  const out = new Readable({
    highWaterMark: TOOL_READ_AHEAD,
    read() {
      tool.stdout!.resume();
    },
    destroy(err, cb) {
      tool.kill('SIGKILL');
      tool.stdout!.destroy();
      cb(err);
    },
  });
  tool.stdout!.on('data', (chunk: Buffer) => {
    if (!out.push(chunk)) tool.stdout!.pause();
  });
  tool.stdout!.once('end', () => {
    void toolExit.then((code) => {
      if (code === 0) out.push(null);
      else {
        const msg = stderr.trim().split('\n').pop() ?? '';
        out.destroy(new ArtifactError('COMPRESSION', `${c} exited with status ${code}${msg ? `: ${msg}` : ''}`));
      }
    });
  });
  await fh.close(); // the child holds its own copy
  return out;
}

/** A region tool writing into a FIFO that this process reads with blocking reads. */
export interface FifoRegion {
  /** The FIFO's read end: blocking reads, end of file once the tool exits. */
  fd: number;
  /** Resolves once the tool exited 0; rejects with ArtifactError COMPRESSION (its stderr) otherwise. */
  exited: Promise<void>;
  /** Kills the tool, which ends a read blocked on the FIFO (idempotent). */
  kill(): void;
  /** Kills the tool and closes the descriptor (idempotent). */
  close(): void;
}

/**
 * decompressFileRegion into a FIFO that the caller reads with blocking reads into buffers it
 * reuses (FdSource: readSync on the main thread for the CLI, fs.read on the thread pool for the
 * library and the daemon). Through the child's stdout socket every 64 KiB arrived in a fresh buffer, freed only when
 * V8 next collected: a 256 MiB zstd validate peaked at 90 MiB, and the stream machinery per chunk
 * cost more CPU than the hash (bench/artifact.bench.ts). stderr goes to a file, so a tool that
 * writes much of it cannot block while we block on its output. Null when mkfifo is missing.
 */
export async function decompressFileRegionToFifo(c: 'xz' | 'zstd', path: string, start: number, length: number, opts: RegionOptions = {}): Promise<FifoRegion | null> {
  const mkfifo = findTool('mkfifo');
  if (!mkfifo) return null;
  const dir = mkdtempSync(join(tmpdir(), 'flipside-fifo-'));
  const fifo = join(dir, 'out');
  const errFile = join(dir, 'err');
  const fds: number[] = [];
  let fh: FileHandle | null = null;
  try {
    // Not spawnSync: the event loop keeps turning while mkfifo runs.
    const made = await new Promise<number | null>((resolve) => {
      const p = spawn(mkfifo, ['-m', '600', fifo], { stdio: 'ignore' });
      p.once('error', () => resolve(null));
      p.once('exit', (code) => resolve(code));
    });
    if (made !== 0) return null;
    // No open may block: a non-blocking read end first (lets the write-only open through), then
    // the blocking read end we keep. The child gets a write-only end: once we close our read end
    // the FIFO has no reader left, so the tool dies of SIGPIPE instead of blocking forever (a
    // read-write end would itself count as a reader). Our copy of the write end is closed after
    // the spawn, so end of file comes exactly when the tool's side is gone.
    const probe = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    fds.push(probe);
    const writeEnd = openSync(fifo, constants.O_WRONLY);
    fds.push(writeEnd);
    const readEnd = openSync(fifo, constants.O_RDONLY);
    fds.push(readEnd);
    closeSync(fds.shift()!);
    rmSync(fifo); // both ends are open: the name is no longer needed
    const errFd = openSync(errFile, 'w+');
    fds.push(errFd);
    fh = await openAt(path, start);
    opts = await checkTail(fh, c, start, opts);
    const tool = spawnRegionTool(c, fh.fd, writeEnd, errFd, length, opts);
    const exited = new Promise<void>((resolve, reject) => {
      const fail = (what: string) => {
        let msg = '';
        try {
          msg = readFileSync(errFile, 'utf8').trim().split('\n').pop() ?? '';
        } catch {
          /* no stderr to quote */
        }
        reject(new ArtifactError('COMPRESSION', `${c} ${what}${msg ? `: ${msg}` : ''}`));
      };
      tool.once('error', (e) => fail(`failed to start: ${e.message}`));
      tool.once('exit', (code, signal) => (code === 0 ? resolve() : fail(`exited with status ${code ?? signal}`)));
    });
    exited.catch(() => undefined);
    for (const fd of [writeEnd, errFd]) closeSync(fd);
    fds.length = 0;
    let closed = false;
    const kill = (): void => {
      if (tool.exitCode === null && tool.signalCode === null) tool.kill('SIGKILL');
    };
    const done = exited.finally(() => rmSync(dir, { recursive: true, force: true }));
    done.catch(() => undefined); // awaited by the reader, or dropped after an earlier error
    return {
      fd: readEnd,
      exited: done,
      kill,
      close() {
        if (closed) return;
        closed = true;
        kill();
        closeSync(readEnd);
      },
    };
  } catch (e) {
    for (const fd of fds) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  } finally {
    await fh?.close(); // the child holds its own copy
  }
}
