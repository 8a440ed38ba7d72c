// A server-side session with a device, read as a queue: the file transfer routes send a request
// and wait for the device's next message. The device never sends more than the protocol's window
// ahead, so the queue stays small; a device that goes away, or says nothing for `idleMs`, fails
// the wait with a message that names what was awaited.
import { ApiError } from '../http-errors.js';
import type { ProtoMsg } from '../../connect-protocol/protocol.js';
import type { ConnectHub, Link, SessionInfo, SessionPeer } from './hub.js';

export class DeviceGone extends ApiError {
  constructor(reason: string) {
    super(409, `the device's connection ended: ${reason}`);
  }
}

export class SessionChannel implements SessionPeer {
  private readonly queue: ProtoMsg[] = [];
  private waiter: { resolve: (m: ProtoMsg) => void; reject: (e: Error) => void } | null = null;
  private gone: string | null = null;
  private goneListeners: Array<(e: DeviceGone) => void> = [];
  info!: SessionInfo;

  constructor(
    private readonly hub: ConnectHub,
    readonly link: Link,
    private readonly idleMs: number,
  ) {}

  deliver(msg: ProtoMsg): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve(msg);
    } else this.queue.push(msg);
  }

  deviceGone(reason: string): void {
    this.gone = reason;
    const w = this.waiter;
    this.waiter = null;
    w?.reject(new DeviceGone(reason));
    for (const l of this.goneListeners.splice(0)) l(new DeviceGone(reason));
  }

  /** Called when the device goes away: for work that is not waiting on next() just then. */
  onGone(listener: (e: DeviceGone) => void): void {
    if (this.gone !== null) listener(new DeviceGone(this.gone));
    else this.goneListeners.push(listener);
  }

  get sid(): string {
    return this.info.id;
  }

  send(msg: Omit<ProtoMsg, 'hdr'> & { hdr: Omit<ProtoMsg['hdr'], 'sid'> }): void {
    if (this.gone !== null || !this.link.send({ ...msg, hdr: { ...msg.hdr, sid: this.sid } })) throw new DeviceGone(this.gone ?? 'not connected');
  }

  /** The device's next message on this session. */
  next(awaiting: string): Promise<ProtoMsg> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.gone !== null) return Promise.reject(new DeviceGone(this.gone));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new ApiError(504, `the device did not answer within ${Math.round(this.idleMs / 1000)} s (awaiting ${awaiting})`));
      }, this.idleMs);
      this.waiter = {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  close(): void {
    this.hub.closeSession(this.link, this.sid);
  }
}
