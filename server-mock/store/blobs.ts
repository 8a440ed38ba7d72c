// Artifact bytes live as files under <dataDir>/blobs, named by artifact id. A blob is first
// written under <dataDir>/tmp, fsynced, then renamed into place (and the directory fsynced), so
// a crash leaves either nothing or a complete file; the database row is written after the
// rename, and startup removes blobs that have no row (a crash between the two).
import { mkdirSync, openSync, fsyncSync, closeSync, readdirSync, rmSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BlobReader } from './blob-reader.js';

const SAFE_ID = /^[A-Za-z0-9-]{1,64}$/;

export class BlobStore {
  readonly blobDir: string;
  readonly tmpDir: string;
  /** Shared by every worker on this data dir: direct uploads between their PUT and complete. */
  readonly stagingDir: string;
  /** Downloads read through one kept-open descriptor per blob (blob-reader.ts). */
  private readonly reader = new BlobReader((id) => this.pathOf(id));

  /**
   * `worker`: one of several server processes on this data dir (--workers N). Each has its own
   * tmp/worker-<n>, so a worker that starts again empties only its own unfinished uploads, never
   * one another worker is receiving.
   */
  constructor(dataDir: string, worker?: number) {
    this.blobDir = join(dataDir, 'blobs');
    this.tmpDir = worker === undefined ? join(dataDir, 'tmp') : join(dataDir, 'tmp', `worker-${worker}`);
    mkdirSync(this.blobDir, { recursive: true, mode: 0o700 });
    // Anything in tmp is an upload that never finished: it was never acknowledged.
    rmSync(this.tmpDir, { recursive: true, force: true });
    mkdirSync(this.tmpDir, { recursive: true, mode: 0o700 });
    // Emptied by the process that starts first (the single server, or --workers' supervisor):
    // staged uploads point at files under tmp, which are gone too.
    this.stagingDir = join(dataDir, 'direct-uploads');
    if (worker === undefined) rmSync(this.stagingDir, { recursive: true, force: true });
    mkdirSync(this.stagingDir, { recursive: true, mode: 0o700 });
  }

  /** A fresh path under tmp for one upload. */
  tempPath(): string {
    return join(this.tmpDir, `${randomUUID()}.part`);
  }

  /** Path of a stored blob; throws on ids that could escape the blob directory. */
  pathOf(id: string): string {
    if (!SAFE_ID.test(id)) throw new Error(`invalid blob id ${JSON.stringify(id)}`);
    return join(this.blobDir, id);
  }

  /** Moves a fully written, fsynced temp file into place durably. */
  commit(tempPath: string, id: string): void {
    const fd = openSync(tempPath, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tempPath, this.pathOf(id));
    syncDir(this.blobDir);
    this.reader.forget(id); // a descriptor open on a file this replaced would read the old bytes
  }

  remove(id: string): void {
    rmSync(this.pathOf(id), { force: true });
    this.reader.forget(id);
  }

  /** Bytes [start, end] (inclusive) of a stored blob; a missing one fails the stream (ENOENT). */
  read(id: string, start?: number, end?: number): Readable {
    return this.reader.stream(id, start, end);
  }

  /** Closes the kept-open descriptors (those with reads in flight once the reads end). */
  close(): void {
    this.reader.closeAll();
  }

  size(id: string): number {
    return statSync(this.pathOf(id)).size;
  }

  /** Deletes blobs whose id is not known: left by a crash between rename and row insert. */
  removeOrphans(known: Set<string>): string[] {
    const removed: string[] = [];
    for (const name of readdirSync(this.blobDir)) {
      if (!known.has(name)) {
        rmSync(join(this.blobDir, name), { force: true });
        removed.push(name);
      }
    }
    return removed;
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
