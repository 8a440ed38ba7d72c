// Takes an uploaded artifact stream: writes it to a temp blob while the artifact reader validates
// the same bytes (one pass, backpressure from the slower of the two), hashes it, and hands back
// the metadata. The caller stores it only if this resolves; on any failure the temp file is gone.
import { createWriteStream, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ArtifactHeaders } from '../../artifact/types.js';
import type { ArtifactMeta } from '../store/store.js';
import type { BlobStore } from '../store/blobs.js';
import { loadReader } from './reader.js';
import { ApiError, badRequest } from '../http-errors.js';

export interface IngestedArtifact {
  tempPath: string;
  size: number;
  checksum: string;
  headers: ArtifactHeaders;
}

export async function ingestArtifact(source: Readable, blobs: BlobStore, maxBytes: number): Promise<IngestedArtifact> {
  const readArtifact = await loadReader();
  const tempPath = blobs.tempPath();
  const file = createWriteStream(tempPath, { flags: 'wx', mode: 0o600 });
  const toReader = new PassThrough({ highWaterMark: 256 * 1024 });
  const hash = createHash('sha256');
  let size = 0;
  let refused: Error | undefined;

  const reading = readArtifact(toReader);
  // The reader may give up early: from then on the rest of the upload is only drained (never
  // written), so the client gets the reader's message instead of a stalled request.
  reading.catch((e: Error) => {
    refused ??= e;
    toReader.resume();
  });

  const pump = async () => {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) throw new ApiError(413, `artifact larger than the limit of ${maxBytes} bytes`);
      if (refused) continue;
      hash.update(chunk);
      await Promise.all([write(file, chunk), toReader.destroyed ? undefined : write(toReader, chunk)]);
    }
    if ((source as Readable & { truncated?: boolean }).truncated) throw new ApiError(413, `artifact larger than the limit of ${maxBytes} bytes`);
    toReader.end();
    file.end();
    await finished(file);
  };

  try {
    try {
      await pump();
    } catch (e) {
      toReader.destroy();
      throw e;
    }
    let headers: ArtifactHeaders;
    try {
      headers = await reading;
    } catch (e) {
      throw badRequest(`invalid artifact: ${(e as Error).message}`);
    }
    if (size === 0) throw badRequest('empty artifact');
    return { tempPath, size, checksum: hash.digest('hex'), headers };
  } catch (e) {
    // The file opens asynchronously: wait until it is closed, or the open could recreate it
    // after the removal.
    file.destroy();
    if (!file.closed) await new Promise<void>((resolve) => file.once('close', () => resolve()));
    rmSync(tempPath, { force: true });
    throw e;
  }
}

function write(w: Writable, chunk: Buffer): Promise<void> | undefined {
  if (w.write(chunk)) return undefined;
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      w.off('error', onError);
      w.off('close', onDrain);
      resolve();
    };
    const onError = (e: Error) => {
      w.off('drain', onDrain);
      reject(e);
    };
    w.once('drain', onDrain);
    w.once('close', onDrain);
    w.once('error', onError);
  });
}

/** What listings and depends matching need from the reader's view of the artifact. */
export function artifactMeta(h: ArtifactHeaders): ArtifactMeta {
  const provides: Record<string, string> = { artifact_name: h.provides.artifact_name };
  if (h.provides.artifact_group) provides.artifact_group = h.provides.artifact_group;
  const depends: Record<string, unknown> = { device_type: h.depends.device_type };
  if (h.depends.artifact_name?.length) depends.artifact_name = h.depends.artifact_name;
  if (h.depends.artifact_group?.length) depends.artifact_group = h.depends.artifact_group;
  const clears: string[] = [];
  for (const p of h.payloads) {
    Object.assign(provides, p.typeInfo.artifact_provides ?? {});
    Object.assign(depends, p.typeInfo.artifact_depends ?? {});
    clears.push(...(p.typeInfo.clears_artifact_provides ?? []));
  }
  return {
    format: 'mender',
    version: h.formatVersion,
    signed: h.signature !== 'none',
    artifact_provides: provides,
    artifact_depends: depends,
    clears_artifact_provides: clears,
    updates: h.payloads.map((p) => ({
      type_info: { type: p.type },
      files: p.files.map((f) => ({ name: f.name, checksum: f.checksum, size: f.size, date: f.modified.toISOString() })),
      meta_data: p.metaData ? [p.metaData] : [],
    })),
  };
}
