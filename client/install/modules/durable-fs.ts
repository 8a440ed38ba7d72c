// Writes that survive a power cut: data is fsynced before it is relied on, and the directory entry
// that names it is fsynced too, so a restarted client finds either the whole file or none.
import { open, mkdir } from 'node:fs/promises';
import type { Readable } from 'node:stream';

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Creates (or truncates) `path` with `data` and fsyncs it; the caller fsyncs the directory. */
export async function writeFileSynced(path: string, data: string | Buffer): Promise<void> {
  const fh = await open(path, 'w', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Streams `source` into `path` with backpressure, then fsyncs the file and its directory. */
export async function writeStreamSynced(path: string, dir: string, source: Readable): Promise<void> {
  await mkdir(dir, { recursive: true });
  const fh = await open(path, 'w', 0o644);
  try {
    // Pulling the next chunk only after the previous write finished is the backpressure. (A
    // pipeline into fh.createWriteStream({autoClose: false}) never settles: it waits for 'close'.)
    for await (const chunk of source) await fh.write(chunk as Buffer);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsyncDir(dir);
}
