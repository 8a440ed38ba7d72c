// Download resume across power loss and reboot (issue #17). The artifact's raw bytes are spooled to
// the data partition as they arrive (<DataDir>/download/<deployment>/artifact.part); every
// `checkpointBytes` the spool is fsynced and then checkpoint.json is replaced (durable.ts): the
// checkpoint never claims a byte that is not on disk. After a restart the artifact stream is
// rebuilt as spool[0, offset) followed by `Range: bytes=<offset>-` from the server, and fed to
// the ordinary artifact reader.
//
// Why a spool of the raw artifact, and not "resume the reader in the middle":
//  - Hash state: Node cannot serialise a hash. Replaying the spool re-hashes the prefix from local
//    storage (sequential reads, no network), so the manifest, the signature and every payload
//    checksum are verified over the whole artifact exactly as without a cut: a mix of two
//    artifacts can never verify, so it can never install.
//  - Compressed payloads: gzip/xz/zstd decompressors cannot restart mid-stream; replaying the raw
//    (compressed) prefix restarts decompression from byte 0 locally. So every artifact resumes,
//    whatever its compression and payload type (rootfs or update module); the installer simply
//    receives the payload again from its start (the rootfs prefix is rewritten with the same bytes).
//  - Cost: data-partition space of one artifact (compressed size), checked before spooling (no
//    room: no spool, Mender's behaviour); on resume, one local read + decompress + partition
//    rewrite of the prefix (bench/ "download resume" measures it against the download itself).
//
// Identity: the checkpoint keeps the deployment id, the link (and its x-men-expire), size, ETag,
// Last-Modified and a sha256 of the spool's first bytes (the artifact's version + manifest, its
// header). A resumed answer with another size, ETag or Last-Modified, a spool shorter than the
// checkpoint, a head that no longer hashes the same, or a torn checkpoint: the spool is dropped and
// the download starts over from byte 0, with a log line saying why. An expired link (x-men-expire
// passed, or 403) asks `freshLink` (the daemon: deployments/next for the same deployment).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat, statfs, truncate, mkdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { z } from 'zod';
import { downloadWithResume, type ArtifactIdentity, type DownloadOptions, type ResumingDownload } from './api/download.js';
import { DownloadError } from './api/errors.js';
import { replaceFile, syncDir } from './durable.js';
import { errorMessage } from './errors.js';
import { JsonStore } from './state/store.js';
import { killAtDownloadByte, killIfPastByte, traceOp } from './test-hooks.js';
import { INJECTED_BUG } from './injected-bug.js';

export const checkpointSchema = z.object({
  version: z.literal(1),
  deployment: z.string().min(1),
  url: z.string().min(1),
  /** x-men-expire of the link as ms since the epoch, when the link carries one. */
  expiresAt: z.number().nullable(),
  size: z.number().int().nonnegative(),
  etag: z.string().nullable(),
  lastModified: z.string().nullable(),
  /** Bytes of the artifact in the spool, fsynced before this checkpoint was written. */
  offset: z.number().int().nonnegative(),
  /** sha256 of the spool's first min(offset, HEAD_BYTES) bytes when written. */
  headSha256: z.string(),
});
export type Checkpoint = z.infer<typeof checkpointSchema>;

const HEAD_BYTES = 64 * 1024;
const SPOOL = 'artifact.part';
const CHECKPOINT = 'checkpoint';

/** Checkpoint spacing: a cut re-downloads at most this much: ≤ 1/32 of the artifact, ≤ 4 MiB, ≥ 64 KiB. */
export function checkpointSpacing(size: number): number {
  return Math.max(64 * 1024, Math.min(4 << 20, Math.floor(size / 32)));
}

export function spoolDir(dataDir: string, deployment: string): string {
  return join(dataDir, 'download', deployment);
}

/** x-men-expire of a Mender download link (RFC 3339), as ms since the epoch; null when absent or unreadable. */
export function linkExpiry(url: string): number | null {
  try {
    const v = new URL(url).searchParams.get('x-men-expire');
    if (!v) return null;
    const t = Date.parse(v);
    return Number.isNaN(t) ? null : t;
  } catch {
    return null;
  }
}

export interface SpoolOptions {
  dataDir: string;
  deployment: string;
  /** The link the deployment was offered with (a stored checkpoint's link is preferred when still valid). */
  url: string | null;
  /** A fresh link for the same deployment (expired link); null when the server no longer offers it. */
  freshLink?: () => Promise<string | null>;
  download: Omit<DownloadOptions, 'startAt' | 'expect' | 'signal'>;
  log: (line: string) => void;
  now?: () => number;
  /** Bytes between checkpoints (default checkpointSpacing(size)). */
  checkpointBytes?: number;
}

async function sha256Head(path: string, n: number): Promise<string> {
  const h = createHash('sha256');
  if (n > 0) for await (const c of createReadStream(path, { start: 0, end: n - 1 })) h.update(c as Buffer);
  return h.digest('hex');
}

/**
 * Where to continue: a checkpoint that is readable, for this deployment, backed by the spool and
 * whose head still hashes the same; null (after saying why) means start from byte 0.
 */
export async function usableCheckpoint(dir: string, deployment: string, log: (l: string) => void): Promise<Checkpoint | null> {
  let cp: Checkpoint | null;
  try {
    cp = await new JsonStore(dir).read(CHECKPOINT, checkpointSchema);
  } catch (e) {
    log(`download checkpoint unusable (${errorMessage(e)}); starting the download over`);
    return null;
  }
  if (!cp) return null;
  if (INJECTED_BUG === 'spool-unvalidated') {
    const size = (await stat(join(dir, SPOOL)).catch(() => null))?.size ?? 0;
    return { ...cp, offset: Math.min(size, cp.size) };
  }
  if (cp.deployment !== deployment) {
    log(`download checkpoint belongs to deployment ${cp.deployment}, not ${deployment}; starting over`);
    return null;
  }
  const have = (await stat(join(dir, SPOOL)).catch(() => null))?.size ?? 0;
  if (have < cp.offset) {
    log(`download checkpoint claims ${cp.offset} bytes but the spool holds ${have}; starting the download over`);
    return null;
  }
  if (cp.offset > cp.size) {
    log(`download checkpoint claims ${cp.offset} bytes of a ${cp.size}-byte artifact; starting over`);
    return null;
  }
  if ((await sha256Head(join(dir, SPOOL), Math.min(cp.offset, HEAD_BYTES))) !== cp.headSha256) {
    log('the spooled artifact head does not match its checkpoint; starting the download over');
    return null;
  }
  return cp;
}

/** Drops a deployment's spool (after it finished, or to start over). */
export async function dropSpool(dataDir: string, deployment: string): Promise<void> {
  traceOp({ op: 'rmtree', path: spoolDir(dataDir, deployment) });
  await rm(spoolDir(dataDir, deployment), { recursive: true, force: true });
}

/**
 * Opens the artifact stream of `o.deployment`: the spooled prefix (if any) and then the network,
 * spooling and checkpointing what arrives. Resolves once the server's first answer identified the
 * artifact (so a changed artifact or expired link is handled here, before any byte is consumed).
 */
export async function openSpooled(o: SpoolOptions, signal: AbortSignal): Promise<Readable> {
  const dir = spoolDir(o.dataDir, o.deployment);
  const now = o.now ?? Date.now;
  await mkdir(dir, { recursive: true });
  let cp = await usableCheckpoint(dir, o.deployment, o.log);
  let url = cp?.url ?? o.url;
  let refreshed = false;
  const refresh = async (why: string): Promise<string> => {
    if (refreshed || !o.freshLink) throw new DownloadError('HTTP_STATUS', url ?? '(none)', cp?.offset ?? 0, `${why} and no fresh link can be had`);
    refreshed = true;
    o.log(`${why}: asking the server for a fresh link`);
    const fresh = await o.freshLink();
    if (!fresh) throw new DownloadError('HTTP_STATUS', url ?? '(none)', cp?.offset ?? 0, `${why} and the server no longer offers deployment ${o.deployment}`);
    return fresh;
  };
  if (!url) url = await refresh('no download link is known');
  const exp = linkExpiry(url);
  if (exp !== null && exp <= now()) url = await refresh('the download link has expired');
  for (;;) {
    if (!cp) await startOver(dir);
    try {
      const dl = await connect(url, cp, o, signal);
      return await spoolStream(dir, url, cp, dl, o);
    } catch (e) {
      const de = e instanceof DownloadError ? e : null;
      if (de && (de.code === 'ARTIFACT_CHANGED' || de.code === 'SIZE_CHANGED') && cp) {
        o.log(`${de.message}; dropping the ${cp.offset} spooled bytes and starting the download over`);
        cp = null;
        continue;
      }
      if (de && de.code === 'HTTP_STATUS' && (de.status === 403 || de.status === 410) && !refreshed && o.freshLink) {
        url = await refresh(`the download link was refused (HTTP ${de.status})`);
        continue;
      }
      throw e;
    }
  }
}

async function startOver(dir: string): Promise<void> {
  traceOp({ op: 'unlink', path: join(dir, `${CHECKPOINT}.json`) });
  traceOp({ op: 'unlink', path: join(dir, SPOOL) });
  await rm(join(dir, `${CHECKPOINT}.json`), { force: true });
  await rm(join(dir, SPOOL), { force: true });
  await syncDir(dir);
}

/** Connects at the checkpoint's offset; resolves once the artifact was identified (or rejects). */
function connect(url: string, cp: Checkpoint | null, o: SpoolOptions, signal: AbortSignal): Promise<ResumingDownload> {
  const expect: ArtifactIdentity | undefined = cp ? { size: cp.size, etag: cp.etag, lastModified: cp.lastModified } : undefined;
  const dl = downloadWithResume(url, { ...o.download, signal, ...(cp ? { startAt: cp.offset, expect } : {}) });
  // Errors after the identity reach the consumer through its iteration (the stream is destroyed).
  dl.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => {
      dl.off('identity', onIdentity);
      reject(e);
    };
    const onIdentity = (): void => {
      dl.off('error', onError);
      resolve(dl);
    };
    dl.once('error', onError);
    dl.once('identity', onIdentity);
    if (cp && cp.offset === cp.size) {
      // Everything is spooled: no request (a Range from the end would be unsatisfiable).
      dl.identity = expect!;
      queueMicrotask(onIdentity);
      return;
    }
    // A Readable connects on its first read: ask for the first chunk now, keep it for the consumer.
    dl.pause();
    dl.read(0);
  });
}

/** spool[0, offset) then the network bytes, each network chunk appended to the spool first. */
async function spoolStream(dir: string, url: string, cp: Checkpoint | null, dl: ResumingDownload, o: SpoolOptions): Promise<Readable> {
  const id = dl.identity!;
  const path = join(dir, SPOOL);
  let offset = cp?.offset ?? 0;
  if (!cp) {
    // Room for the whole artifact, or no spool at all (the download still runs, as Mender's).
    // statfs arrived in Node 18.15: without it the spool is tried (a full disk fails the write typed).
    const fs = typeof statfs === 'function' ? await statfs(dir).catch(() => null) : null;
    if (fs && fs.bavail * fs.bsize < id.size + (1 << 20)) {
      o.log(`no room for a ${id.size}-byte download spool on the data partition; this download cannot resume after a restart`);
      return dl;
    }
  }
  // The spool's writes and fsyncs go to the campaign's trace (FLIPSIDE_TEST_TRACE) like the state store's.
  traceOp({ op: 'truncate', path, length: offset });
  await truncate(path, offset).catch(async (e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
    await (await open(path, 'w', 0o600)).close();
  });
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const fh: FileHandle = await open(path, 'r+');
  const spacing = o.checkpointBytes ?? checkpointSpacing(id.size);
  let unsynced = 0;
  const hook = killAtDownloadByte();
  const checkpoint = async (): Promise<void> => {
    await fh.sync();
    traceOp({ op: 'sync', path });
    traceOp({ op: 'fsync', path });
    const next: Checkpoint = {
      version: 1,
      deployment: o.deployment,
      url,
      expiresAt: linkExpiry(url),
      size: id.size,
      etag: id.etag,
      lastModified: id.lastModified,
      offset,
      headSha256: await sha256Head(path, Math.min(offset, HEAD_BYTES)),
    };
    await replaceFile(join(dir, `${CHECKPOINT}.json`), `${JSON.stringify(next)}\n`);
    unsynced = 0;
  };
  if (!cp) await checkpoint();
  const pump = async (): Promise<void> => {
    try {
      if (offset > 0) {
        o.log(`resuming the download of deployment ${o.deployment} at byte ${offset} of ${id.size} (the first ${offset} bytes are replayed from the spool)`);
        for await (const c of createReadStream(path, { start: 0, end: offset - 1, highWaterMark: 1 << 20 })) {
          if (!out.write(c)) await new Promise((r) => out.once('drain', r));
        }
      }
      // A spool that holds the whole artifact needs no network (a Range from its end is answered
      // 416): reading the download would connect, so it is not read but closed.
      if (offset === id.size) dl.destroy();
      for await (const chunk of offset === id.size ? [] : dl) {
        // A read may return all that was buffered (up to 1 MiB): spooled in slices that end at the
        // next checkpoint, so checkpoints stay `spacing` apart whatever the chunk sizes.
        const whole = chunk as Buffer;
        for (let at = 0; at < whole.length; ) {
          const b = whole.subarray(at, at + (spacing - unsynced));
          at += b.length;
          // Spooled before it is used: what the reader has seen is always in the spool.
          let done = 0;
          traceOp({ op: 'write', path, offset, bytes: b });
          while (done < b.length) done += (await fh.write(b, done, b.length - done, offset + done)).bytesWritten;
          offset += b.length;
          unsynced += b.length;
          killIfPastByte(offset, hook);
          if (unsynced >= spacing) await checkpoint();
          if (!out.write(b)) await new Promise((r) => out.once('drain', r));
        }
      }
      if (unsynced > 0) await checkpoint();
      out.end();
      // The reader may stop before it reads the stream's very end (tar padding): 'end' would never
      // come, so the network side's end is told on its own (the daemon's keep-alive stops on it).
      out.emit('downloaded');
    } catch (e) {
      out.destroy(e as Error);
    } finally {
      await fh.close().catch(() => undefined);
    }
  };
  void pump();
  return out;
}
