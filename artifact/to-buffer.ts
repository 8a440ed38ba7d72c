// A whole artifact written into memory, for callers that hold it at once anyway (an upload body,
// the fleet simulator's deployment, tests). A payload that does not fit in memory goes to a file
// through writeArtifact(spec, path) instead.
import { Writable } from 'node:stream';
import { writeArtifact, type WriteSpec } from './writer.js';

class Collect extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(c: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.chunks.push(c);
    cb();
  }
}

export async function writeArtifactToBuffer(spec: WriteSpec): Promise<Buffer> {
  const c = new Collect();
  await writeArtifact(spec, c);
  return Buffer.concat(c.chunks);
}
