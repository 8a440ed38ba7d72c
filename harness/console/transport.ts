// What a console sits on: anything that yields a duplex byte stream. Transports stay tiny (one per
// kind of connection) so StreamConsole holds all the parsing, pacing and reconnect logic once.
import type { Duplex } from 'node:stream';

export interface ConsoleLink {
  readonly stream: Duplex;
  /** Releases the connection (closes the port, kills the process). Safe to call twice. */
  close(): Promise<void>;
}

export interface ConsoleTransport {
  /** Says where the console is, for error messages and the transcript (`serial /dev/ttyUSB0@115200`). */
  readonly description: string;
  /**
   * Set when a lost link is expected to come back by itself, as a USB serial adapter powered by the
   * board does after a power cycle: the console then keeps re-opening instead of giving up.
   */
  readonly reconnectIntervalMs?: number;
  connect(): Promise<ConsoleLink>;
}

/** Resolves once `stream` emits `readyEvent`, rejects on its first error. */
export function waitForReady(stream: Duplex, readyEvent: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onReady = () => {
      stream.off('error', onError);
      resolve();
    };
    const onError = (e: Error) => {
      stream.off(readyEvent, onReady);
      reject(new Error(`${what}: ${e.message}`, { cause: e }));
    };
    stream.once(readyEvent, onReady);
    stream.once('error', onError);
  });
}

/** Ends a stream and waits for it to be gone (or for `graceMs`, then destroys it). */
export function closeStream(stream: Duplex, graceMs = 1000): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => stream.destroy(), graceMs);
    stream.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    stream.end();
  });
}
