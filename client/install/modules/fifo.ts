// Named pipes for the streaming download. Node has no mkfifo(), so coreutils/busybox `mkfifo`
// makes them. Opening the write end uses O_NONBLOCK and polls: it fails with ENXIO until the
// module opens the read end, so we never park a libuv thread in a blocking open() on a module
// that may exit without reading (Mender needs a helper thread and a "jerk it loose" open for
// that). The non-blocking fd then goes into a net.Socket, which gives real backpressure and an
// EPIPE error instead of a blocked write when the module goes away.
import { execFile } from 'node:child_process';
import { constants, open } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';

// Promisified on use: child_process loads only when an update module needs a FIFO.
const execFileAsync = (file: string, args: string[]) => promisify(execFile)(file, args);
const POLL_FIRST_MS = 1;
const POLL_MAX_MS = 20;

export async function makeFifo(path: string): Promise<void> {
  await execFileAsync('mkfifo', ['-m', '0600', path]);
}

function openNonBlockingWriter(path: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    open(path, constants.O_WRONLY | constants.O_NONBLOCK, (err, fd) => {
      if (!err) resolve(fd);
      else if (err.code === 'ENXIO') resolve(null);
      else reject(err);
    });
  });
}

/**
 * Opens the write end once a reader has the FIFO open. Returns null if `gaveUp()` turns true
 * first (the module exited or the download was aborted).
 */
export async function openFifoWriter(path: string, gaveUp: () => boolean): Promise<Socket | null> {
  let wait = POLL_FIRST_MS;
  for (;;) {
    const fd = await openNonBlockingWriter(path);
    if (fd !== null) return new Socket({ fd, readable: false, writable: true });
    if (gaveUp()) return null;
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, POLL_MAX_MS);
  }
}

/** Writes `data` and closes the pipe; the reader sees EOF after it. */
export function writeAndClose(sock: Socket, data: string): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.end(data, () => {
      sock.destroy();
      resolve();
    });
  });
}

/**
 * Pipes `source` into the FIFO with backpressure and closes it at the end. On a write error
 * (EPIPE: the reader went away) the source is unpiped and left as it is, not destroyed, so the
 * artifact reader decides what happens to the rest of the artifact.
 */
export function pipeIntoFifo(source: Readable, sock: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      source.unpipe(sock);
      sock.destroy();
      reject(e);
    };
    sock.once('error', fail);
    source.once('error', fail);
    source.once('close', () => {
      if (!source.readableEnded) fail(new Error('payload stream closed before its end'));
    });
    sock.once('finish', () => {
      if (settled) return;
      settled = true;
      sock.destroy();
      resolve();
    });
    source.pipe(sock);
  });
}
