// Helpers shared by the artifact tests: in-memory artifacts, hand-built tars for malformed
// inputs, and the conformance vectors' location. Not part of the public API.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { END_OF_ARCHIVE, encodeHeader, padding } from '../tar.js';
import type { ByteSource } from '../byte-source.js';
import { ArtifactError } from '../errors.js';

export { CONFORMANCE_DIR as VECTORS } from '../../test-support/shared-dir.js';

export interface RawMember {
  name: string;
  body: Buffer;
  mode?: number;
}

/** A tar in Go's layout from raw members (no validation: tests use it to build bad artifacts). */
export function buildTar(members: RawMember[], end = true): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    parts.push(encodeHeader({ name: m.name, size: m.body.length, mode: m.mode ?? 0o600 }), m.body, Buffer.alloc(padding(m.body.length)));
  }
  if (end) parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

/** Splits a tar into members (valid input only: the tests' own artifacts). */
export function splitTar(tar: Buffer): RawMember[] {
  const out: RawMember[] = [];
  let off = 0;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 136).toString('ascii').replace(/\0.*$/s, ''), 8);
    const mode = parseInt(h.subarray(100, 108).toString('ascii').replace(/\0.*$/s, ''), 8);
    out.push({ name, body: Buffer.from(tar.subarray(off + 512, off + 512 + size)), mode });
    off += 512 + size + padding(size);
  }
  return out;
}

export { writeArtifactToBuffer as writeToBuffer } from '../to-buffer.js';

export function bufferStream(b: Buffer, chunk = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < b.length; i += chunk) yield b.subarray(i, i + chunk);
    })(),
    { objectMode: false },
  );
}

/** Compressible pseudo-random bytes (deterministic for a seed). */
export function pseudoRandom(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i - (i + 4 > size ? i + 4 - size : 0));
  }
  return b;
}

export function tempDir(prefix = 'flipside-artifact-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Everything a source hands out, copied as it comes (recycled chunks are valid until the next
 * pull), then closes it. take() of more than there is ends TRUNCATED: the end of the stream.
 */
export async function drainSource(src: ByteSource & { close(): Promise<void> }): Promise<Buffer> {
  const parts: Buffer[] = [];
  try {
    for await (const c of src.take(Number.MAX_SAFE_INTEGER)) parts.push(Buffer.from(c));
  } catch (e) {
    if (!(e instanceof ArtifactError && e.code === 'TRUNCATED')) throw e;
  } finally {
    await src.close();
  }
  return Buffer.concat(parts);
}
