// Member-name suffixes of each compression, apart from the (de)compressors in compression.ts: the
// reader needs them for every artifact, the engines (zlib, child_process, fzstd, xz-decompress:
// ~40 ms of CPU to load) only for a compressed one.
import type { Compression } from './types.js';

const SUFFIX: Record<Compression, string> = { none: '', gzip: '.gz', xz: '.xz', zstd: '.zst' };

export function compressionSuffix(c: Compression): string {
  return SUFFIX[c];
}

/** Compression of a member from its name's suffix (`header.tar.gz` → gzip), null if not a tar member. */
export function compressionFromName(name: string, base: string): Compression | null {
  if (!name.startsWith(base)) return null;
  const rest = name.slice(base.length);
  for (const [c, s] of Object.entries(SUFFIX) as Array<[Compression, string]>) if (rest === s) return c;
  return null;
}
