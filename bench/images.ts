// Test images for the benchmarks: written block by block, never whole in memory.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

// Half pseudo-random, half zero 64 KiB blocks: compresses about 2:1 like a real rootfs.
export async function makeImage(path: string, size: number): Promise<void> {
  const out = createWriteStream(path);
  const block = 64 * 1024;
  let x = 0x2545f491;
  const zero = Buffer.alloc(block);
  for (let off = 0, i = 0; off < size; off += block, i++) {
    let b = zero;
    if (i % 2 === 0) {
      b = Buffer.alloc(block);
      for (let j = 0; j < block; j += 4) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        b.writeUInt32LE(x >>> 0, j);
      }
    }
    if (!out.write(b)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}
