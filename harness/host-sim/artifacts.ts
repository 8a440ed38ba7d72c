// Test artifacts for the host-sim: rootfs images with recognisable content, written by our own
// writer, plus the payload bytes of any artifact (to byte-compare a partition after install).
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { readArtifact } from '../../artifact/reader.js';
import { writeArtifact, type WriteSpec } from '../../artifact/writer.js';
import { BROKEN_ROOTFS_MAGIC } from './board.js';

export const CONFORMANCE_DIR = '/work/shared/conformance/mender-artifact-4.0.0';

/** `size` bytes derived from `seed` (fast: one hash per 32 bytes would be slow, so a repeated block). */
export function rootfsImage(seed: string, size: number, opts: { broken?: boolean } = {}): Buffer {
  const block = Buffer.alloc(64 * 1024);
  let h = createHash('sha256').update(seed).digest();
  for (let o = 0; o < block.length; o += h.length) {
    h.copy(block, o);
    h = createHash('sha256').update(h).digest();
  }
  const out = Buffer.alloc(size);
  for (let o = 0; o < size; o += block.length) block.copy(out, o, 0, Math.min(block.length, size - o));
  if (opts.broken) BROKEN_ROOTFS_MAGIC.copy(out, 0);
  return out;
}

export async function writeRootfsArtifact(
  dir: string,
  name: string,
  content: Buffer,
  spec: Partial<WriteSpec> = {},
): Promise<string> {
  const out = join(dir, `${name}-${Math.random().toString(36).slice(2, 8)}.mender`);
  await writeArtifact(
    { type: 'rootfs-image', name, deviceTypes: ['qemux86-64'], files: [{ name: 'rootfs.img', content }], compression: 'none', ...spec },
    out,
  );
  return out;
}

/** The (single) payload file of an artifact, whole, for comparison in tests. */
export async function payloadOf(path: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  await readArtifact(path, {
    onPayloadFile: async (_e, s) => {
      for await (const c of s) parts.push(c as Buffer);
    },
  });
  return Buffer.concat(parts);
}
