// Writes that bypass the page cache (O_DIRECT) for the payload's whole megabytes. Through the
// page cache every byte is copied once more by the kernel and its pages are tracked, dirtied and
// written back; on a CPU-bound device that was about half of what writing the slot cost
// (qemu-aarch64 guest, instructions counted: `zstd -dc | dd of=slot bs=1M conv=fsync` 0.42 s for
// 72 MiB against 0.21 s with oflag=direct, and 0.20 s for `zstd -dc | cat`). The install's CPU
// per MiB there went from 8.4 to 5.6 ms with the whole megabytes written direct (bench/guest.bench.ts).
// O_DIRECT needs the buffer's address aligned to the device's block size, and Node's Buffers are
// not (malloc'd, 16-byte aligned: writes fail with EINVAL); a WebAssembly.Memory is mapped whole
// pages, so views into it are. Everything here may be unavailable (no O_DIRECT on the platform or
// the file system, no WebAssembly): callers then write through the page cache as before.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

const WASM_PAGE = 64 * 1024;

/** The target opened again for direct writes, or null where the platform or file system refuses. */
export async function openDirect(path: string): Promise<FileHandle | null> {
  const direct = (constants as Record<string, number | undefined>).O_DIRECT;
  if (!direct) return null;
  try {
    return await open(path, constants.O_RDWR | direct);
  } catch {
    return null;
  }
}

/**
 * `count` buffers of `size` bytes (a multiple of 64 KiB), each starting on a page boundary, or
 * null without WebAssembly. Their memory lives as long as any of them does.
 */
export function alignedBuffers(count: number, size: number): Buffer[] | null {
  if (size % WASM_PAGE !== 0) throw new Error(`alignedBuffers: ${size} is not a multiple of ${WASM_PAGE}`);
  // (The project's type libraries leave WebAssembly out: typed here as far as it is used.)
  const wasm = (globalThis as { WebAssembly?: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } }).WebAssembly;
  if (!wasm) return null;
  let mem: { buffer: ArrayBuffer };
  try {
    mem = new wasm.Memory({ initial: (count * size) / WASM_PAGE });
  } catch {
    return null;
  }
  return Array.from({ length: count }, (_, i) => Buffer.from(mem.buffer, i * size, size));
}
