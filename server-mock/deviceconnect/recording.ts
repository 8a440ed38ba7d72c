// Session recording for deviceconnect's playback: what a remote terminal showed the user (the
// device's shell output), kept in order per session. A session keeps at most
// MAX_RECORDING_BYTES; past that the recording is marked truncated and the rest is not kept, so a
// long-running `cat` cannot fill the disk. Playback sends the chunks back as shell messages.
import type { Store } from '../store/store.js';

export const MAX_RECORDING_BYTES = 4 * 1024 * 1024;

export class SessionRecorder {
  private bytes = 0;
  private seq = 0;
  private truncated = false;
  private ended = false;

  constructor(
    private readonly store: Store,
    readonly sessionId: string,
    deviceId: string,
    userEmail: string,
    private readonly maxBytes = MAX_RECORDING_BYTES,
  ) {
    store.startRecording(sessionId, deviceId, userEmail);
  }

  /** The device's shell output, as the user received it. */
  output(data: Uint8Array): void {
    if (this.ended || this.truncated || data.byteLength === 0) return;
    const room = this.maxBytes - this.bytes;
    const kept = data.byteLength > room ? data.subarray(0, room) : data;
    if (kept.byteLength > 0) {
      this.bytes += kept.byteLength;
      try {
        this.store.appendRecording(this.sessionId, this.seq++, kept, this.bytes);
      } catch (e) {
        // The recording was deleted under the session (its device was decommissioned): the
        // terminal goes on, the recording does not come back.
        if (this.store.recording(this.sessionId)) throw e;
        this.ended = true;
        return;
      }
    }
    if (kept.byteLength < data.byteLength) this.truncated = true;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.store.finishRecording(this.sessionId, this.truncated);
  }
}
