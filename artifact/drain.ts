// Waiting for a Writable to drain without leaking listeners, and failing (not hanging) when it
// errors or closes first.
import type { Writable } from 'node:stream';

export function waitDrain(s: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      s.off('drain', onDrain);
      s.off('error', onError);
      s.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onError = (e: Error) => done(e);
    const onClose = () => done(s.errored ?? new Error('stream closed before all data was written'));
    s.on('drain', onDrain);
    s.on('error', onError);
    s.on('close', onClose);
  });
}

/** write() with backpressure. */
export async function writeAll(s: Writable, chunk: Buffer): Promise<void> {
  if (s.destroyed) throw s.errored ?? new Error('stream destroyed');
  if (!s.write(chunk)) await waitDrain(s);
}
