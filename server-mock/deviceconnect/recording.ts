// Session recording for deviceconnect's playback: what a remote terminal showed the user (the
// device's shell output), kept in order per session. A session keeps at most
// MAX_RECORDING_BYTES; past that the recording is marked truncated and the rest is not kept, so a
// long-running `cat` cannot fill the disk. Playback sends the chunks back as shell messages.
import type { FlipsideStore as Store } from '../store/api.js';

export const MAX_RECORDING_BYTES = 4 * 1024 * 1024;

export class SessionRecorder {
  private bytes = 0;
  private seq = 0;
  private truncated = false;
  private ended = false;
  /** The recording was deleted while the session ran: nothing more is written. */
  private deleted = false;
  // The store's writes run one after another, in the order the output came (a store across the
  // network could otherwise reorder them); the first failure is kept and end() reports it.
  private writes: Promise<void>;
  private failure: unknown;

  constructor(
    private readonly store: Store,
    readonly sessionId: string,
    deviceId: string,
    userEmail: string,
    private readonly maxBytes = MAX_RECORDING_BYTES,
  ) {
    this.writes = this.settle(store.startRecording(sessionId, deviceId, userEmail));
  }

  private settle(p: Promise<void>): Promise<void> {
    return p.catch((e: unknown) => {
      this.failure ??= e;
    });
  }
  private queue(write: () => Promise<void>): void {
    this.writes = this.writes.then(() => (this.failure ? undefined : this.settle(write())));
  }

  /** The device's shell output, as the user received it. */
  output(data: Uint8Array): void {
    if (this.ended || this.truncated || data.byteLength === 0) return;
    const room = this.maxBytes - this.bytes;
    const kept = data.byteLength > room ? data.subarray(0, room) : data;
    if (kept.byteLength > 0) {
      this.bytes += kept.byteLength;
      const seq = this.seq++;
      const bytes = this.bytes;
      this.queue(async () => {
        if (this.deleted) return;
        try {
          await this.store.appendRecording(this.sessionId, seq, kept, bytes);
        } catch (e) {
          // The recording was deleted under the session (its device was decommissioned): the
          // terminal goes on, the recording does not come back.
          if (await this.store.recording(this.sessionId)) throw e;
          this.deleted = true;
        }
      });
    }
    if (kept.byteLength < data.byteLength) this.truncated = true;
  }

  /** Ends the recording once every earlier write is stored; rejects with the first write that failed. */
  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    const truncated = this.truncated;
    this.queue(async () => {
      if (!this.deleted) await this.store.finishRecording(this.sessionId, truncated);
    });
    await this.writes;
    if (this.failure) throw this.failure;
  }
}
