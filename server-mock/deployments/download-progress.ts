// Per device and deployment, how far the artifact download got and how often it resumed, as the
// download route sees it: no device-side protocol, so the Mender client is followed as well as
// ours. Each request through a device's signed link (artifacts/links.ts) is a transfer: its first
// byte's offset, the bytes handed to the socket (an upper bound of what the device got: a cut
// connection loses what sat in the socket buffers), how it ended.
//
// Counting happens in memory; the database gets the numbers at bounded intervals (flushMs, one
// transaction for every download that moved) and when a transfer ends, never once per chunk: a
// 1 GiB artifact is 16,000 chunks of 64 KiB. A server killed mid-download loses at most flushMs of
// progress; the counts of requests, resumes and restarts are written with it.
import { EventEmitter } from 'node:events';
import type { DownloadProgressRow } from '../store/store.js';
import type { FlipsideStore as Store } from '../store/api.js';
import type { LinkHolder } from '../artifacts/links.js';
import { now } from '../store/store.js';

/** The management API's view of a download (the `download` field of a deployment's device). */
export type DownloadView = Pick<DownloadProgressRow, 'total' | 'served' | 'requests' | 'resumes' | 'restarts' | 'last_at'> & {
  /** Where the latest request got to (the row's position): the progress bar's value. */
  bytes: number;
  /** Whether a request is sending bytes now. */
  active: boolean;
};

export function downloadView(r: DownloadProgressRow, active = false): DownloadView {
  return { bytes: r.position, total: r.total, served: r.served, requests: r.requests, resumes: r.resumes, restarts: r.restarts, last_at: r.last_at, active };
}

/** One request serving bytes; call sent() per chunk and end() once, however the request ended. */
export interface Transfer {
  sent(n: number): void;
  end(): Promise<void>;
}

interface Entry {
  row: DownloadProgressRow;
  /** Requests of this device and deployment sending now. */
  open: number;
}

export const DEFAULT_FLUSH_MS = 2000;

/**
 * Events: `saved` (rows written, after each flush), `ended` (a transfer ended and its row was
 * written; the DownloadView as argument). Tests wait on them instead of on time.
 */
export class DownloadProgress extends EventEmitter {
  private readonly live = new Map<string, Entry>();
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Rows written so far (for tests and the benchmark: writes per download). */
  writes = 0;

  constructor(
    private readonly store: Store,
    private readonly flushMs = DEFAULT_FLUSH_MS,
    /** A write that failed (disk full, say): the numbers stay in memory for the next attempt. */
    private readonly onError: (e: unknown) => void = () => {},
  ) {
    super();
  }

  /** A transfer of `artifact` to `holder` from byte `start` begins. */
  async begin(holder: LinkHolder, artifact: { id: string; size: number }, start: number): Promise<Transfer> {
    if (this.closed) return { sent() {}, async end() {} };
    const key = `${holder.deploymentId}\n${holder.deviceId}`;
    let entry = this.live.get(key);
    if (!entry) {
      const stored = await this.store.downloadProgress(holder.deploymentId, holder.deviceId);
      entry = { row: stored ?? fresh(holder, artifact), open: 0 };
      this.live.set(key, entry);
    }
    const row = entry.row;
    if (row.artifact_id !== artifact.id) {
      // Another artifact behind the same deployment (replaced on the server): its bytes are new.
      Object.assign(row, { artifact_id: artifact.id, total: artifact.size, position: 0 });
    }
    if (start > 0) row.resumes++;
    else if (row.requests > 0) row.restarts++;
    row.requests++;
    row.position = start;
    row.last_at = now();
    entry.open++;
    this.touch(key);
    let ended = false;
    let position = start;
    return {
      sent: (n) => {
        if (ended) return;
        row.served += n;
        position += n;
        row.position = position;
        row.last_at = now();
        this.touch(key);
      },
      end: async () => {
        if (ended) return;
        ended = true;
        entry.open--;
        await this.save([key]);
        this.emit('ended', downloadView(row, entry.open > 0));
      },
    };
  }

  /** The downloads of a deployment by device id: stored rows with the live numbers over them. */
  async ofDeployment(deploymentId: string): Promise<Map<string, DownloadView>> {
    const out = new Map<string, DownloadView>();
    for (const r of await this.store.downloadProgressOf(deploymentId)) out.set(r.device_id, downloadView(r));
    for (const e of this.live.values()) {
      if (e.row.deployment_id === deploymentId) out.set(e.row.device_id, downloadView(e.row, e.open > 0));
    }
    return out;
  }

  /** One device's download in a deployment, live numbers first. */
  async ofDevice(deploymentId: string, deviceId: string): Promise<DownloadView | undefined> {
    const e = this.live.get(`${deploymentId}\n${deviceId}`);
    if (e) return downloadView(e.row, e.open > 0);
    const r = await this.store.downloadProgress(deploymentId, deviceId);
    return r && downloadView(r);
  }

  /** Writes every download that moved since the last write. */
  async flush(): Promise<void> {
    await this.save([...this.dirty]);
  }

  /** Writes what is left; later transfers are no longer recorded (the store is closing). */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private touch(key: string): void {
    this.dirty.add(key);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(async () => {
      this.timer = null;
      await this.flush();
    }, this.flushMs);
    this.timer.unref();
  }

  private async save(keys: string[]): Promise<void> {
    const rows: DownloadProgressRow[] = [];
    for (const k of keys) {
      this.dirty.delete(k);
      const e = this.live.get(k);
      if (e) rows.push({ ...e.row });
    }
    if (this.closed || rows.length === 0) return;
    try {
      await this.store.saveDownloadProgress(rows);
    } catch (e) {
      // Progress is a report, not the download: a failed write must not fail the transfer.
      for (const r of rows) this.dirty.add(`${r.deployment_id}\n${r.device_id}`);
      this.onError(e);
      this.schedule();
      return;
    }
    this.writes += rows.length;
    // Written and no request open: the database holds the numbers now.
    for (const k of keys) if (this.live.get(k)?.open === 0) this.live.delete(k);
    this.emit('saved', rows.length);
  }
}

function fresh(holder: LinkHolder, artifact: { id: string; size: number }): DownloadProgressRow {
  return {
    deployment_id: holder.deploymentId,
    device_id: holder.deviceId,
    artifact_id: artifact.id,
    position: 0,
    total: artifact.size,
    served: 0,
    requests: 0,
    resumes: 0,
    restarts: 0,
    last_at: now(),
  };
}
