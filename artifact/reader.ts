// The streaming artifact reader: one pass over the outer tar, in the order Mender mandates
// (version, manifest, [manifest.sig], [manifest-augment], header.tar*, [header-augment.tar*],
// data/NNNN.tar*). Everything before the payload is small, capped and verified before onHeaders;
// payload files are streamed to the consumer with backpressure and hashed on the way.
import { createHash } from 'node:crypto';
import { Readable, pipeline } from 'node:stream';
import { ByteSource } from './byte-source.js';
import { compressionFromName } from './compression-names.js';
import type { Engine } from './compression.js';
import { FdSource } from './fd-source.js';
import { ArtifactError } from './errors.js';
import { FileSource } from './file-source.js';
import { parseHeaderTar, type ParsedHeader } from './header.js';
import { parseManifest } from './manifest.js';
import { verifyManifest } from './sign.js';
import { TarReader, checkSafeName, type TarHeader } from './tar.js';
import type { ArtifactHeaders, Compression, PayloadEntry, PayloadHeader, ReadOptions, SignatureState } from './types.js';

const MAX_VERSION_BYTES = 4096;
const MAX_SIG_BYTES = 64 * 1024;
// Block padding some tar writers add after the end marker; more than this is a decompression bomb.
const MAX_TRAILING_BYTES = 1024 * 1024;
const DATA_NAME = /^data\/([0-9]{4})\.tar(\.gz|\.xz|\.zst)?$/;

// The decompressors (zlib, child_process, fzstd, xz-decompress) load when a compressed member
// comes: ~40 ms of CPU that an uncompressed artifact's validate would spend for nothing.
const engines = () => import('./compression.js');
const gunzipModule = () => import('./gunzip-source.js');
const gunzipWorkerModule = () => import('./gunzip-worker.js');

/** A small member (header.tar*) decompressed, at most `cap` bytes. */
async function decompressSmall(c: Compression, raw: Buffer, cap: number, label: string, engine?: Engine): Promise<Buffer> {
  if (c !== 'none') return (await engines()).decompressBuffer(c, raw, cap, label, engine);
  if (raw.length > cap) throw new ArtifactError('TOO_LARGE', `${label} exceeds ${cap} bytes`);
  return raw;
}

/** Reader options beyond the shared contract. */
export interface ReaderExtras {
  /** Decompression engine for xz/zstd (default: the system tool when installed). */
  engine?: Engine;
  /**
   * Read a file input with blocking reads (FileSource.syncReads): only for a process that waits
   * on this read alone, like the CLI; a server or daemon keeps the default.
   */
  syncReads?: boolean;
  /**
   * With syncReads, a gzip payload of a file with at least this many compressed bytes inflates on a
   * worker thread (gunzip-worker.ts; default GUNZIP_WORKER_MIN_BYTES): tests lower it, Infinity
   * turns it off.
   */
  gunzipWorkerMinBytes?: number;
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Version 1 and unknown versions are refused at once; other problems wait for the checksum. */
function peekVersion(b: Buffer): void {
  try {
    const v = (JSON.parse(b.toString('utf8')) as { version?: unknown }).version;
    if (typeof v === 'number' && v !== 2 && v !== 3) parseVersion(b);
  } catch (e) {
    if (e instanceof ArtifactError) throw e;
  }
}

function parseVersion(b: Buffer): 2 | 3 {
  let j: unknown;
  try {
    j = JSON.parse(b.toString('utf8'));
  } catch {
    throw new ArtifactError('BAD_VERSION_FILE', 'version is not valid JSON');
  }
  if (typeof j !== 'object' || j === null) throw new ArtifactError('BAD_VERSION_FILE', 'version is not a JSON object');
  const { format, version } = j as { format?: unknown; version?: unknown };
  if (format !== 'mender') throw new ArtifactError('BAD_VERSION_FILE', `unsupported artifact format ${JSON.stringify(format)}`);
  if (typeof version !== 'number') throw new ArtifactError('BAD_VERSION_FILE', 'version has no numeric version');
  if (version === 1) throw new ArtifactError('UNKNOWN_VERSION', 'Mender-Artifact version 1 is no longer supported');
  if (version !== 2 && version !== 3) throw new ArtifactError('UNKNOWN_VERSION', `unsupported Mender-Artifact version ${version}`);
  return version;
}

function describeUnexpected(name: string, expected: string): ArtifactError {
  const known = /^(version|manifest|manifest\.sig|manifest-augment|header(-augment)?\.tar(\.gz|\.xz|\.zst)?|data\/[0-9]{4}\.tar(\.gz|\.xz|\.zst)?)$/.test(name);
  return known
    ? new ArtifactError('ORDER', `artifact member ${name} is out of order: expected ${expected}`)
    : new ArtifactError('UNEXPECTED_MEMBER', `unexpected artifact member ${JSON.stringify(name)} (expected ${expected})`);
}

class Checklist {
  private readonly used = new Set<string>();
  constructor(private readonly manifests: Array<Map<string, string>>) {}

  /** Expected digest of a member; MANIFEST_MISSING_ENTRY when no manifest lists it. */
  expect(path: string): string {
    for (const m of this.manifests) {
      const d = m.get(path);
      if (d !== undefined) {
        this.used.add(path);
        return d;
      }
    }
    throw new ArtifactError('MANIFEST_MISSING_ENTRY', `${path} is not listed in the manifest`);
  }

  check(path: string, digest: string): void {
    const want = this.expect(path);
    if (want !== digest) throw new ArtifactError('CHECKSUM_MISMATCH', `${path}: sha256 ${digest} does not match the manifest (${want})`);
  }

  unused(): string[] {
    const out: string[] = [];
    for (const m of this.manifests) for (const k of m.keys()) if (!this.used.has(k)) out.push(k);
    return out;
  }
}

function buildPayloads(h: ParsedHeader, aug: ParsedHeader | null): PayloadHeader[] {
  return h.payloadTypes.map((type, index) => {
    const ti = { ...h.typeInfos.get(index)! };
    // mender-artifact >= 4.3.1 refuses a type-info type that disagrees with header-info. The empty
    // type that 3.x-4.3.0 wrote for rootfs-image is still read: those artifacts are in the field.
    if (ti.type && type && ti.type !== type) {
      throw new ArtifactError('BAD_HEADER', `headers/${String(index).padStart(4, '0')}/type-info type "${ti.type}" does not match header-info payload type "${type}"`);
    }
    let md = h.metaData.get(index) ?? null;
    let t = type;
    if (aug) {
      const at = aug.payloadTypes[index];
      if (at !== undefined) t = at;
      const ati = aug.typeInfos.get(index);
      if (ati) {
        if (ati.artifact_provides) ti.artifact_provides = { ...ti.artifact_provides, ...ati.artifact_provides };
        if (ati.artifact_depends) ti.artifact_depends = { ...ti.artifact_depends, ...ati.artifact_depends };
        if (ati.clears_artifact_provides) ti.clears_artifact_provides = ati.clears_artifact_provides;
      }
      const amd = aug.metaData.get(index);
      if (amd) md = { ...(md ?? {}), ...amd };
    }
    return { index, type: t, typeInfo: ti, metaData: md, files: [] };
  });
}

const verifyingStreams = new WeakSet<Readable>();

/**
 * True for a payload stream handed out by readArtifact: it ends cleanly only after the reader
 * matched the file's SHA-256 to the manifest (a mismatch destroys it with CHECKSUM_MISMATCH), so
 * a consumer that saw its end need not hash the bytes a second time.
 */
export function readerVerifies(stream: Readable): boolean {
  return verifyingStreams.has(stream);
}

/**
 * Pull access to a payload file's bytes, an alternative to reading its stream: each next()
 * resolves with the next chunk (a view into the reader's own buffers, valid only until the
 * following next() call: copy what must outlive it), or null once every byte was delivered AND
 * matched the manifest's SHA-256; a mismatch or any reader error rejects. No stream machinery,
 * no per-chunk allocation: the reader may recycle its read buffers. Calls must not overlap.
 */
export interface PayloadPuller {
  next(): Promise<Buffer | null>;
}

const pullers = new WeakMap<Readable, () => PayloadPuller>();

/**
 * The pull interface of a payload stream handed out by readArtifact (null for any other stream).
 * Call it before reading the stream: a consumer that pulls never reads the stream itself.
 */
export function payloadPuller(stream: Readable): PayloadPuller | null {
  return pullers.get(stream)?.() ?? null;
}

/** How far a payload stream may run ahead of its consumer. */
const PAYLOAD_READ_AHEAD = 256 * 1024;

/**
 * Streams one payload file to the consumer (or discards it), hashing it on the way. A checksum
 * mismatch (or any reader error) destroys the consumer's stream with the error instead of ending
 * it, so no consumer ever sees a clean end of bad bytes. Once the consumer's promise has settled
 * (it returned early, or threw) the stream is destroyed without an error: the consumer is no
 * longer reading and readArtifact reports the failure. The stream also carries the reader's own
 * no-op 'error' listener, so an error is never an unhandled 'error' event that crashes the
 * process, whatever listeners the consumer did or did not add.
 */
async function deliverFile(
  body: AsyncIterable<Buffer>,
  entry: PayloadEntry,
  consumer: ReadOptions['onPayloadFile'],
  onPull: (pulling: boolean) => void = () => undefined,
): Promise<void> {
  const hash = createHash('sha256');
  const verify = () => {
    const got = hash.digest('hex');
    if (got !== entry.checksum) {
      return new ArtifactError('CHECKSUM_MISMATCH', `data/${String(entry.payloadIndex).padStart(4, '0')}/${entry.name}: sha256 ${got} does not match the manifest (${entry.checksum})`);
    }
    return null;
  };
  if (!consumer) {
    for await (const chunk of body) hash.update(chunk);
    const err = verify();
    if (err) throw err;
    return;
  }
  let wake: (() => void) | null = null;
  let started: (() => void) | null = null;
  const firstRead = new Promise<void>((resolve) => {
    started = resolve;
  });
  const out = new Readable({
    highWaterMark: PAYLOAD_READ_AHEAD,
    read() {
      started?.();
      const w = wake;
      wake = null;
      w?.();
    },
  });
  verifyingStreams.add(out);
  // Pull mode (payloadPuller): the consumer drives the body iterator itself; the stream is never
  // fed. Chosen before the first byte moves: the push loop below waits for the stream's first
  // read (or the consumer's end), so no chunk can go to the stream first.
  let pull: { error: unknown } | 'active' | 'done' | null = null;
  const it = body[Symbol.asyncIterator]();
  pullers.set(out, () => {
    if (pull !== null) throw new Error('payloadPuller: already pulling this payload');
    pull = 'active';
    onPull(true);
    started?.();
    return {
      next: async () => {
        if (pull !== 'active') {
          if (pull === 'done') return null;
          throw (pull as { error: unknown }).error;
        }
        try {
          const r = await it.next();
          if (!r.done) {
            hash.update(r.value);
            return r.value;
          }
          const err = verify();
          if (err) throw err;
          pull = 'done';
          out.push(null);
          return null;
        } catch (e) {
          pull = { error: e };
          throw e;
        }
      },
    };
  });
  // The error still reaches the consumer's own listeners (for await, pipeline, 'error'); this
  // one only keeps a consumer without any from crashing the process (stream.errored holds it).
  out.on('error', () => undefined);
  let settled = false;
  let failed: { error: unknown } | null = null;
  const consumerP = Promise.resolve()
    .then(() => consumer(entry, out))
    .catch((error: unknown) => {
      settled = true;
      failed = { error };
      throw error;
    })
    .finally(() => {
      settled = true;
      started?.();
      const w = wake;
      wake = null;
      w?.();
    });
  consumerP.catch(() => undefined);
  out.once('close', () => {
    started?.();
    const w = wake;
    wake = null;
    w?.();
  });
  await firstRead;
  started = null;
  if (pull !== null) return finishPull();
  try {
    for await (const chunk of { [Symbol.asyncIterator]: () => it }) {
      hash.update(chunk);
      // A failed consumer (disk full...) stops the download at once.
      if (failed) throw (failed as { error: unknown }).error;
      if (settled || out.destroyed) continue; // consumer done early: keep verifying, drop the bytes
      if (!out.push(chunk)) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    }
    const err = verify();
    if (err) throw err;
    out.push(null);
  } catch (e) {
    // A consumer still at work sees the error on its stream; one that already returned or threw
    // is not reading any more: release the stream without an error event (no 'end' either).
    if (settled) out.destroy();
    else out.destroy(e as Error);
    // Let the consumer unwind before we report.
    await consumerP.catch(() => undefined);
    throw e;
  }
  await consumerP;

  // After the consumer: its verdict, or the reader's own error, or the rest of the bytes verified.
  async function finishPull(): Promise<void> {
    try {
      await consumerP;
    } catch (e) {
      // The reader's error (truncated, tool failure, checksum) is the real cause of what the
      // consumer threw; otherwise the consumer's own error (disk full...) stops the read.
      const p = pull as { error: unknown } | 'active' | 'done';
      if (typeof p === 'object') throw p.error;
      throw e;
    } finally {
      onPull(false);
      if (pull !== 'done') out.destroy();
    }
    const p = pull as { error: unknown } | 'active' | 'done';
    if (typeof p === 'object') throw p.error;
    if (p === 'done') return;
    // The consumer returned before the end: keep verifying, as the stream path does.
    for (let r = await it.next(); !r.done; r = await it.next()) hash.update(r.value);
    const err = verify();
    if (err) throw err;
  }
}

/**
 * Reads and verifies a Mender artifact in one pass. Resolves with the headers once every byte is
 * verified; rejects with an ArtifactError (or the error thrown by onHeaders / onPayloadFile).
 */
export async function readArtifact(input: Readable | string, opts: ReadOptions & ReaderExtras = {}): Promise<ArtifactHeaders> {
  // A file is read with large positional reads (and its compressed payloads go to the tool
  // straight from the file); a stream as it comes.
  const src = typeof input === 'string' ? await FileSource.open(input, 'artifact') : new ByteSource(input, 'artifact');
  if (src instanceof FileSource && opts.syncReads) src.syncReads = true;
  const cleanups: Array<() => void> = [];
  try {
    const headers = await readFrom(src, opts, cleanups);
    if (src instanceof FileSource) await src.close();
    return headers;
  } catch (e) {
    for (const c of cleanups) c();
    await src.close();
    if (typeof input !== 'string') input.destroy();
    throw e;
  }
}

async function readFrom(src: ByteSource | FileSource, opts: ReadOptions & ReaderExtras, cleanups: Array<() => void>): Promise<ArtifactHeaders> {
  const maxHeaderBytes = opts.maxHeaderBytes ?? 16 * 1024 * 1024;
  const maxFileBytes = opts.maxHeaderFileBytes ?? 1024 * 1024;
  const outer = new TarReader(src, 'artifact', maxFileBytes);

  const next = async (): Promise<TarHeader | null> => {
    const h = await outer.next();
    if (h) {
      checkSafeName(h.name, 'artifact');
      if (h.type !== 'file') throw new ArtifactError('UNEXPECTED_MEMBER', `artifact member ${h.name} is not a regular file`);
    }
    return h;
  };
  const expectMember = async (expected: string): Promise<TarHeader> => {
    const h = await next();
    if (!h) throw new ArtifactError('ORDER', `artifact ends where ${expected} was expected`);
    return h;
  };

  // version
  let h = await expectMember('version');
  if (h.name !== 'version') throw describeUnexpected(h.name, 'version first');
  const versionBytes = await outer.readAll(MAX_VERSION_BYTES, 'version');
  peekVersion(versionBytes);

  // manifest
  h = await expectMember('manifest');
  if (h.name !== 'manifest') throw describeUnexpected(h.name, 'manifest after version');
  const manifestBytes = await outer.readAll(maxFileBytes, 'manifest');
  const manifest = parseManifest(manifestBytes);
  const lists: Array<Map<string, string>> = [manifest];
  const checklist = new Checklist(lists);
  checklist.check('version', sha256(versionBytes));
  const formatVersion = parseVersion(versionBytes);

  // manifest.sig, manifest-augment
  h = await expectMember('header.tar');
  let sig: Buffer | null = null;
  if (h.name === 'manifest.sig') {
    sig = await outer.readAll(MAX_SIG_BYTES, 'manifest.sig');
    h = await expectMember('header.tar');
  }
  let augmentManifest: Map<string, string> | null = null;
  if (h.name === 'manifest-augment' && formatVersion === 3) {
    augmentManifest = parseManifest(await outer.readAll(maxFileBytes, 'manifest-augment'), 'manifest-augment');
    for (const k of augmentManifest.keys()) {
      if (manifest.has(k)) throw new ArtifactError('MANIFEST_SYNTAX', `manifest-augment repeats ${k} from the signed manifest`);
    }
    lists.push(augmentManifest);
    h = await expectMember('header.tar');
  }

  let signature: SignatureState = sig ? 'unverified' : 'none';
  if (opts.verifyKeys && opts.verifyKeys.length > 0) {
    if (!sig) throw new ArtifactError('SIGNATURE_REQUIRED', 'artifact is not signed but a verification key was given');
    verifyManifest(manifestBytes, sig, opts.verifyKeys);
    signature = 'verified';
  } else if (opts.requireSignature && !sig) {
    throw new ArtifactError('SIGNATURE_REQUIRED', 'artifact is not signed');
  }

  // header.tar*
  const compression = compressionFromName(h.name, 'header.tar');
  if (compression === null) throw describeUnexpected(h.name, 'header.tar[.gz|.xz|.zst]');
  const headerRaw = await outer.readAll(maxHeaderBytes, h.name);
  if (manifest.has(h.name)) checklist.check(h.name, sha256(headerRaw));
  else throw new ArtifactError('MANIFEST_MISSING_ENTRY', `${h.name} is not listed in the manifest`);
  const headerTar = await decompressSmall(compression, headerRaw, maxHeaderBytes, h.name, opts.engine);
  const parsed = await parseHeaderTar(headerTar, formatVersion, { maxFileBytes });

  // header-augment.tar*
  let hn = await next();
  let aug: ParsedHeader | null = null;
  if (hn && hn.name.startsWith('header-augment.tar')) {
    const ac = compressionFromName(hn.name, 'header-augment.tar');
    if (ac === null) throw describeUnexpected(hn.name, 'data/NNNN.tar*');
    if (!augmentManifest) throw new ArtifactError('UNEXPECTED_MEMBER', `${hn.name} without manifest-augment`);
    const raw = await outer.readAll(maxHeaderBytes, hn.name);
    if (!augmentManifest.has(hn.name)) throw new ArtifactError('MANIFEST_MISSING_ENTRY', `${hn.name} is not listed in manifest-augment`);
    checklist.check(hn.name, sha256(raw));
    aug = await parseHeaderTar(await decompressSmall(ac, raw, maxHeaderBytes, hn.name, opts.engine), formatVersion, { maxFileBytes }, true);
    hn = await next();
  }

  const headers: ArtifactHeaders = {
    formatVersion,
    name: parsed.name,
    provides: parsed.provides,
    depends: parsed.depends,
    payloads: buildPayloads(parsed, aug),
    scripts: parsed.scripts,
    signature,
    manifest: new Map([...manifest, ...(augmentManifest ?? [])]),
    compression,
    augmented: augmentManifest !== null,
  };
  if (opts.onHeaders) await opts.onHeaders(headers);

  // data/NNNN.tar*
  let lastIndex = -1;
  for (; hn; hn = await next()) {
    const m = DATA_NAME.exec(hn.name);
    if (!m) throw describeUnexpected(hn.name, 'data/NNNN.tar* (payloads are last)');
    const index = parseInt(m[1]!, 10);
    if (index === lastIndex) throw new ArtifactError('DUPLICATE_MEMBER', `artifact contains payload ${m[1]} twice`);
    if (index < lastIndex) throw new ArtifactError('ORDER', `payload ${m[1]} comes after payload ${lastIndex}`);
    if (index >= headers.payloads.length) throw new ArtifactError('UNEXPECTED_MEMBER', `${hn.name} has no header (header-info lists ${headers.payloads.length} payload(s))`);
    lastIndex = index;
    const dataCompression = compressionFromName(hn.name, `data/${m[1]}.tar`)!;
    await readPayload(outer, src, hn.size, dataCompression, headers.payloads[index]!, hn.name, checklist, opts, cleanups);
  }

  const unused = checklist.unused();
  if (unused.length > 0) throw new ArtifactError('MANIFEST_UNUSED_ENTRY', `manifest lists ${unused.join(', ')} but the artifact does not contain ${unused.length === 1 ? 'it' : 'them'}`);
  return headers;
}

/** Whether a gzip member this big goes to a worker thread (and this Node can: zlib's handle). */
async function gunzipWorkerUsable(memberSize: number, opts: ReaderExtras): Promise<boolean> {
  const min = opts.gunzipWorkerMinBytes ?? (await gunzipWorkerModule()).GUNZIP_WORKER_MIN_BYTES;
  return memberSize >= min && (await gunzipModule()).gunzipInPlaceUsable();
}

async function readPayload(
  outer: TarReader,
  src: ByteSource | FileSource,
  memberSize: number,
  compression: Compression,
  payload: PayloadHeader,
  memberName: string,
  checklist: Checklist,
  opts: ReadOptions & ReaderExtras,
  cleanups: Array<() => void>,
): Promise<void> {
  const idx = String(payload.index).padStart(4, '0');
  let inner: ByteSource;
  let pumpDone: Promise<void> = Promise.resolve();
  // Bytes allowed after the payload's end-of-archive marker (compressor padding).
  let trailingAllowed = MAX_TRAILING_BYTES;
  // A source of our own whose read buffers may be reused (recycle) and that must be closed.
  let owned: { recycle: boolean; close(): Promise<void> } | null = null;
  const eng = compression === 'none' ? null : await engines();
  if (compression === 'none' || !eng) {
    inner = new ByteSource(outer.body(), memberName);
    // Nobody but our hash sees the bytes: the file reader may reuse its buffers.
    if (src instanceof FileSource && !opts.onPayloadFile) {
      src.recycle = true;
      cleanups.push(() => (src.recycle = false));
    }
  } else if (src instanceof FileSource && eng.canDecompressFileRegion(compression, opts.engine)) {
    // The tool reads the member from the file itself; the outer reader then seeks past it.
    const start = src.fileOffset();
    if (start + memberSize > src.size) {
      throw new ArtifactError('TRUNCATED', `artifact ends after ${src.size} bytes, inside ${memberName} (${start + memberSize - src.size} bytes short)`);
    }
    // The last member (only the outer tar's padding and end-of-archive after it): zstd may read the
    // file itself and copy those few bytes through after its frames (RegionOptions.tail), which
    // the drain below then allows for.
    const after = src.size - (start + memberSize);
    const tail = compression === 'zstd' && after <= eng.REGION_TAIL_MAX;
    if (tail) trailingAllowed += after;
    // The tool writes into a FIFO read with blocking reads: on the main thread by a process that
    // waits on this read alone (syncReads), else on the thread pool (fd-source.ts).
    const region = await eng.decompressFileRegionToFifo(compression, src.path, start, memberSize, { tail });
    if (region) {
      const fifo = new FdSource(region, memberName, { onMainThread: src.syncReads });
      cleanups.push(() => void fifo.close());
      fifo.recycle = !opts.onPayloadFile;
      inner = owned = fifo;
    } else {
      const dec = await eng.decompressFileRegion(compression, src.path, start, memberSize, { tail });
      dec.on('error', () => undefined); // reported through the inner reader
      cleanups.push(() => dec.destroy());
      inner = new ByteSource(dec as AsyncIterable<Buffer>, memberName);
    }
  } else if (compression === 'gzip' && src instanceof FileSource && src.syncReads && !opts.onPayloadFile && (await gunzipWorkerUsable(memberSize, opts))) {
    // Inflated on a worker thread reading the file itself, hashed here meanwhile; the outer reader
    // then seeks past the member (gunzip-worker.ts). Only for a process that waits on this read
    // alone (the CLI): the worker costs ~9 MiB of RSS and, with event-loop waits (the library's
    // way), more CPU than it saves on a busy machine (bench, load 8-11: 0.94 against 0.59 s).
    const start = src.fileOffset();
    if (start + memberSize > src.size) {
      throw new ArtifactError('TRUNCATED', `artifact ends after ${src.size} bytes, inside ${memberName} (${start + memberSize - src.size} bytes short)`);
    }
    const gunzip = new (await gunzipWorkerModule()).GunzipWorkerSource(src.path, start, memberSize, memberName);
    gunzip.recycle = true;
    cleanups.push(() => void gunzip.close());
    inner = owned = gunzip;
  } else if (compression === 'gzip' && (await gunzipModule()).gunzipInPlaceUsable()) {
    // Inflated in-process into reused buffers, pulled as the tar reader asks (gunzip-source.ts).
    const gunzip = new (await gunzipModule()).GunzipSource(outer.body(), memberName);
    gunzip.recycle = !opts.onPayloadFile;
    cleanups.push(() => void gunzip.close());
    // Only the inflater sees the compressed bytes, and it is done with each read before it asks
    // for the next: the file reader may reuse its buffers whoever gets the payload.
    if (src instanceof FileSource) {
      src.recycle = true;
      cleanups.push(() => (src.recycle = false));
    }
    inner = owned = gunzip;
  } else {
    const dec = eng.createDecompressor(compression, opts.engine);
    const feed = Readable.from(outer.body(), { objectMode: false, highWaterMark: 1 << 16 });
    cleanups.push(() => {
      feed.destroy();
      dec.destroy();
    });
    pumpDone = new Promise<void>((resolve, reject) => {
      pipeline(feed, dec, (err) => (err ? reject(err) : resolve()));
    });
    pumpDone.catch(() => undefined);
    inner = new ByteSource(dec as AsyncIterable<Buffer>, memberName);
  }
  // A pulling consumer is done with a chunk when it asks for the next one (payloadPuller): the
  // source may then read into its reused buffers, as it does when only our hash sees the bytes.
  const recycler = owned ?? (compression === 'none' && src instanceof FileSource ? src : null);
  const recycleBase = recycler?.recycle ?? false;
  const setRecycle = (pulling: boolean): void => {
    if (recycler) recycler.recycle = pulling || recycleBase;
  };
  const tar = new TarReader(inner, memberName);
  const names = new Set<string>();
  try {
    for (let f = await tar.next(); f; f = await tar.next()) {
      checkSafeName(f.name, memberName);
      if (f.name.includes('/')) throw new ArtifactError('UNSAFE_PATH', `${memberName}: payload file ${JSON.stringify(f.name)} has a directory part`);
      if (f.type !== 'file') throw new ArtifactError('UNEXPECTED_MEMBER', `${memberName}: ${f.name} is not a regular file`);
      if (names.has(f.name)) throw new ArtifactError('DUPLICATE_MEMBER', `${memberName} contains ${f.name} twice`);
      names.add(f.name);
      const path = `data/${idx}/${f.name}`;
      const checksum = checklist.expect(path);
      payload.files.push({ name: f.name, size: f.size, checksum, modified: f.mtime });
      const entry: PayloadEntry = { payloadIndex: payload.index, name: f.name, size: f.size, modified: f.mtime, checksum };
      await deliverFile(tar.body(), entry, opts.onPayloadFile, (pulling) => setRecycle(pulling));
    }
    // Whatever follows the inner end-of-archive (compressor padding) is read so the pipe can finish.
    if ((await inner.drain(trailingAllowed)) > trailingAllowed) {
      throw new ArtifactError('TOO_LARGE', `${memberName} has more than ${MAX_TRAILING_BYTES} bytes after its end-of-archive marker`);
    }
    await pumpDone;
    await owned?.close();
    if (src instanceof FileSource) src.recycle = false;
  } catch (e) {
    // A truncated outer stream reaches us as the decompressor's error: the same ArtifactError.
    throw e;
  }
}
