// Who may join the pending queue. Device auth requests are unauthenticated, so anyone can send
// them; these limits keep a flood from filling the database:
//  - id_data and the public key have size caps (413 with the sizes);
//  - each source address may add `newPerSourcePerMinute` new pending auth sets a minute (429
//    with Retry-After; Mender clients retry their auth request on any failure);
//  - the pending queue holds at most `maxPending` auth sets. Policy: refuse, never evict. A full
//    queue answers 503 with Retry-After until someone accepts, rejects or removes pending
//    devices, because evicting the oldest would let a flood push real devices out unseen.
// Requests from devices already known (same identity and key) are never counted or refused.
// The counts are in `stats` for the management API and the UI (per process). The rate per source
// is a NewDeviceRate in this process, or the supervisor's under `--workers N` (cluster-shared.ts),
// so N processes let in what one does.
import { ApiError, tooMany } from '../http-errors.js';

export interface DeviceAdmissionOptions {
  maxIdDataBytes: number;
  maxPubkeyBytes: number;
  newPerSourcePerMinute: number;
  maxPending: number;
}

export const DEFAULT_DEVICE_ADMISSION: DeviceAdmissionOptions = { maxIdDataBytes: 4096, maxPubkeyBytes: 8192, newPerSourcePerMinute: 30, maxPending: 10_000 };

export interface AdmissionStats {
  /** New pending auth sets let in since the server started. */
  admitted: number;
  refused_too_large: number;
  refused_rate_limited: number;
  refused_queue_full: number;
  /** When the counting started (server start). */
  since: string;
}

const MAX_SOURCES = 20_000;

/** New pending auth sets per source address in the last minute. */
export class NewDeviceRate {
  private readonly recent = new Map<string, number[]>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one new device from `source`: 0 when let in, else the seconds until one would be. */
  take(source: string): number {
    const t = this.now();
    let times = this.recent.get(source);
    if (!times) {
      if (this.recent.size >= MAX_SOURCES) this.recent.delete(this.recent.keys().next().value!);
      times = [];
      this.recent.set(source, times);
    }
    while (times.length && times[0]! <= t - 60_000) times.shift();
    if (times.length >= this.perMinute) return Math.max(1, Math.ceil((times[0]! + 60_000 - t) / 1000));
    times.push(t);
    return 0;
  }
}

/** Where admitNew counts: a NewDeviceRate here, or the supervisor's. */
export interface NewDeviceRateGate {
  take(source: string): Promise<number>;
}

export class DeviceAdmission {
  readonly stats: AdmissionStats = { admitted: 0, refused_too_large: 0, refused_rate_limited: 0, refused_queue_full: 0, since: new Date().toISOString() };
  private readonly rate: NewDeviceRateGate;

  constructor(
    readonly opts: DeviceAdmissionOptions = DEFAULT_DEVICE_ADMISSION,
    now: () => number = Date.now,
    shared?: NewDeviceRateGate,
  ) {
    const local = new NewDeviceRate(opts.newPerSourcePerMinute, now);
    this.rate = shared ?? { take: async (source) => local.take(source) };
  }

  /** Refuses an identity or key larger than the caps. */
  checkSizes(idData: string, pubkey: string): void {
    const idBytes = Buffer.byteLength(idData);
    const keyBytes = Buffer.byteLength(pubkey);
    if (idBytes > this.opts.maxIdDataBytes) {
      this.stats.refused_too_large++;
      throw new ApiError(413, `id_data is ${idBytes} bytes; at most ${this.opts.maxIdDataBytes} are accepted`);
    }
    if (keyBytes > this.opts.maxPubkeyBytes) {
      this.stats.refused_too_large++;
      throw new ApiError(413, `pubkey is ${keyBytes} bytes; at most ${this.opts.maxPubkeyBytes} are accepted`);
    }
  }

  /** Lets one new pending auth set in from `source`, or throws 429 / 503. */
  async admitNew(source: string, pendingNow: number): Promise<void> {
    if (pendingNow >= this.opts.maxPending) {
      this.stats.refused_queue_full++;
      throw new ApiError(503, `the pending device queue is full (${pendingNow} of ${this.opts.maxPending}): an administrator must accept, reject or remove pending devices`, { 'retry-after': '60' });
    }
    const wait = await this.rate.take(source);
    if (wait > 0) {
      this.stats.refused_rate_limited++;
      throw tooMany(`too many new devices from this address: at most ${this.opts.newPerSourcePerMinute} a minute; try again in ${wait} s`, wait);
    }
    this.stats.admitted++;
  }
}
