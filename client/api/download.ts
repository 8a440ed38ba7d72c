// The artifact download as one Readable of the artifact's bytes, exactly once and in order,
// across dropped connections. When the body stops early (reset, early close, or no byte for
// stallTimeoutMs) it reconnects with `Range: bytes=<received>-`, after an exponential backoff,
// up to maxResumes times (Mender's RetryDownloadCount, default 10).
//
// What a resumed answer must look like:
//  - 206 whose Content-Range starts exactly at <received>, with the same total size: continue.
//    Any other start (or size) is an error, never a silent skip or duplicate.
//  - 200 (the server ignored Range): accepted if its Content-Length is the original size; the
//    first <received> bytes are read and discarded, so the consumer still sees each byte once.
//    Chosen over failing because plain static servers and some proxies drop Range, and the cost is
//    only re-reading the prefix.
//  - 5xx / 429 or no answer: counts as one more resume attempt. Other 4xx (an expired link): fatal.
// Backpressure: when the consumer (the artifact reader writing a partition) is slower than the
// network the socket is paused, and a paused socket does not count as a stall.
import type { ClientRequest, IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { parseContentRange } from './content-range.js';
import { DownloadError } from './errors.js';
import { openRequest } from './http.js';

export interface DownloadOptions {
  /** Reconnections allowed in all (default 10). */
  maxResumes?: number;
  /** No byte for this long while we want bytes: drop the connection and resume (default 60 s). */
  stallTimeoutMs?: number;
  /** First backoff before a reconnect; doubles each time up to backoffMaxMs (defaults 1 s, 60 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  signal?: AbortSignal;
  /** Trusted CAs (PEM list, see loadServerCa). */
  ca?: string[];
  /** Progress: bytes delivered so far and the total. */
  onData?: (received: number, total: number) => void;
  /** Told before each reconnect (for logs). */
  onResume?: (info: { offset: number; attempt: number; reason: string; waitMs: number }) => void;
  /**
   * Continue an artifact whose first `startAt` bytes the caller already has (a spool kept across a
   * restart): the first request asks for `bytes=<startAt>-` and the answer must be the artifact
   * described by `expect` (size, and the ETag / Last-Modified the server sent then, when it did),
   * else ARTIFACT_CHANGED.
   */
  startAt?: number;
  expect?: ArtifactIdentity;
}

/** What identifies the artifact behind a link across requests. */
export interface ArtifactIdentity {
  size: number;
  etag: string | null;
  lastModified: string | null;
}

type Phase = 'idle' | 'connecting' | 'streaming' | 'backoff' | 'done';

export class ResumingDownload extends Readable {
  /** Total size in bytes, known once the first answer arrived. */
  size: number | null = null;
  /** The artifact's identity, known once the first answer arrived (also emitted as 'identity'). */
  identity: ArtifactIdentity | null = null;
  /** Bytes delivered to the consumer so far. */
  received = 0;
  /** Reconnections made so far. */
  resumes = 0;

  private phase: Phase = 'idle';
  private generation = 0;
  private req: ClientRequest | null = null;
  private res: IncomingMessage | null = null;
  /** Bytes still to drop from a 200 answer to a Range request. */
  private skip = 0;
  private stallTimer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  /** Counts response events (data, headers): a stall check compares it before and after. */
  private progress = 0;
  private backoffTimer: NodeJS.Timeout | null = null;
  private readonly onAbort = (): void => {
    this.fail('ABORTED', 'aborted by the caller');
  };

  constructor(
    readonly url: string,
    private readonly o: DownloadOptions = {},
  ) {
    super({ highWaterMark: 1 << 20 });
    if (o.startAt !== undefined) {
      if (!o.expect || !Number.isSafeInteger(o.startAt) || o.startAt < 0 || o.startAt > o.expect.size) {
        throw new RangeError(`startAt ${o.startAt} needs the expected identity of the artifact and must lie within it`);
      }
      this.received = o.startAt;
      this.size = o.expect.size;
    }
    if (o.signal?.aborted) queueMicrotask(this.onAbort);
    else o.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  override _read(): void {
    if (this.phase === 'idle') {
      this.connect();
      return;
    }
    if (this.phase === 'streaming' && this.res?.isPaused()) {
      this.res.resume();
      this.armStall();
    }
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.phase = 'done';
    this.generation++;
    this.clearTimers();
    this.req?.destroy();
    this.o.signal?.removeEventListener('abort', this.onAbort);
    cb(err);
  }

  private connect(): void {
    const gen = ++this.generation;
    this.phase = 'connecting';
    this.skip = 0;
    const headers: Record<string, string> = {};
    if (this.received > 0) headers.Range = `bytes=${this.received}-`;
    let opened: ReturnType<typeof openRequest>;
    try {
      opened = openRequest({ method: 'GET', url: this.url, headers, ca: this.o.ca });
    } catch (e) {
      this.fail('BAD_URL', (e as Error).message, e);
      return;
    }
    this.req = opened.req;
    this.armStall();
    opened.response.then(
      (res) => {
        if (gen !== this.generation) res.destroy();
        else this.onResponse(res, gen);
      },
      (e: Error) => {
        if (gen === this.generation) this.interrupted(`connection failed: ${e.message}`);
      },
    );
  }

  private onResponse(res: IncomingMessage, gen: number): void {
    this.progress++;
    const status = res.statusCode ?? 0;
    const resuming = this.received > 0;
    if (status >= 500 || status === 429) {
      res.resume();
      this.interrupted(`HTTP ${status}`);
      return;
    }
    if (status === 200) {
      const len = Number(res.headers['content-length']);
      if (!res.headers['content-length'] || !Number.isSafeInteger(len) || len < 0) {
        // Without a length an early close cannot be told from the end of the artifact.
        res.destroy();
        this.fail('NO_LENGTH', 'the server sent no Content-Length; refusing a download of unknown size');
        return;
      }
      if (this.size !== null && len !== this.size) {
        res.destroy();
        this.fail('SIZE_CHANGED', `the artifact is now ${len} bytes, was ${this.size}`);
        return;
      }
      this.size = len;
      // Range ignored: read the prefix again and drop it.
      this.skip = resuming ? this.received : 0;
    } else if (status === 206 && resuming) {
      const cr = parseContentRange(res.headers['content-range'] as string | undefined);
      const raw = res.headers['content-range'] ?? '(none)';
      if (!cr || cr.start !== this.received) {
        res.destroy();
        this.fail('BAD_RANGE', `asked for bytes ${this.received}-, the server sent Content-Range ${raw}`);
        return;
      }
      if ((cr.total !== null && cr.total !== this.size) || cr.end !== this.size! - 1) {
        res.destroy();
        this.fail('SIZE_CHANGED', `Content-Range ${raw} does not match the ${this.size}-byte artifact`);
        return;
      }
    } else {
      res.resume();
      this.fail('HTTP_STATUS', `HTTP ${status}${resuming ? ` to a Range request from ${this.received}` : ''}`, undefined, status);
      return;
    }
    const seen: ArtifactIdentity = {
      size: this.size!,
      etag: typeof res.headers.etag === 'string' ? res.headers.etag : null,
      lastModified: typeof res.headers['last-modified'] === 'string' ? res.headers['last-modified'] : null,
    };
    const known = this.identity ?? this.o.expect ?? null;
    const changed = known && ((known.etag !== null && seen.etag !== null && known.etag !== seen.etag) || (known.lastModified !== null && seen.lastModified !== null && known.lastModified !== seen.lastModified));
    if (changed) {
      res.destroy();
      this.fail('ARTIFACT_CHANGED', `the artifact changed on the server (ETag ${known.etag ?? '-'} → ${seen.etag ?? '-'}, Last-Modified ${known.lastModified ?? '-'} → ${seen.lastModified ?? '-'})`);
      return;
    }
    if (!this.identity) {
      this.identity = { size: seen.size, etag: seen.etag ?? known?.etag ?? null, lastModified: seen.lastModified ?? known?.lastModified ?? null };
      this.emit('identity', this.identity);
    }
    this.res = res;
    this.phase = 'streaming';
    this.armStall();
    res.on('data', (chunk: Buffer) => {
      if (gen === this.generation) this.onChunk(chunk, res);
    });
    res.on('end', () => {
      if (gen !== this.generation) return;
      if (this.received === this.size) this.finish();
      else this.interrupted(`connection closed at ${this.received} of ${this.size} bytes`);
    });
    res.on('error', (e) => {
      if (gen === this.generation) this.interrupted(e.message);
    });
    res.on('close', () => {
      if (gen === this.generation && this.phase === 'streaming') this.interrupted('connection closed');
    });
    if (this.size === this.received) this.finish();
  }

  private onChunk(chunk: Buffer, res: IncomingMessage): void {
    this.progress++;
    let data = chunk;
    if (this.skip > 0) {
      const n = Math.min(this.skip, data.length);
      this.skip -= n;
      data = data.subarray(n);
    }
    this.armStall();
    if (data.length === 0) return;
    if (this.received + data.length > this.size!) {
      this.fail('TOO_LONG', `the server sent more than the announced ${this.size} bytes`);
      return;
    }
    this.received += data.length;
    this.o.onData?.(this.received, this.size!);
    if (!this.push(data)) {
      res.pause();
      // Waiting on the consumer, not the network: not a stall.
      this.clearStall();
    }
  }

  private finish(): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    this.generation++;
    this.clearTimers();
    this.o.signal?.removeEventListener('abort', this.onAbort);
    this.push(null);
  }

  private interrupted(reason: string): void {
    if (this.phase === 'done' || this.destroyed) return;
    this.generation++;
    this.clearTimers();
    this.req?.destroy();
    this.req = null;
    this.res = null;
    const max = this.o.maxResumes ?? 10;
    if (this.resumes >= max) {
      this.fail('TOO_MANY_RESUMES', `gave up after ${this.resumes} resumes; last: ${reason}`);
      return;
    }
    this.resumes++;
    const waitMs = Math.min((this.o.backoffBaseMs ?? 1000) * 2 ** (this.resumes - 1), this.o.backoffMaxMs ?? 60_000);
    this.o.onResume?.({ offset: this.received, attempt: this.resumes, reason, waitMs });
    this.phase = 'backoff';
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = null;
      this.connect();
    }, waitMs);
  }

  private fail(code: DownloadError['code'], message: string, cause?: unknown, status?: number): void {
    // After the end was pushed (or the stream was destroyed) nothing can fail any more.
    if (this.destroyed || this.phase === 'done') return;
    const e = new DownloadError(code, this.url, this.received, message, { cause });
    if (status !== undefined) e.status = status;
    this.destroy(e);
  }

  private armStall(): void {
    this.clearStall();
    const ms = this.o.stallTimeoutMs ?? 60_000;
    const progress = this.progress;
    this.stallTimer = setTimeout(() => {
      // A starved event loop (a busy machine) runs expired timers before it reads the sockets
      // that have data waiting: judge the stall only after this loop turn's I/O was read.
      this.stallTimer = setImmediate(() => {
        this.stallTimer = null;
        if (this.progress !== progress) this.armStall();
        else this.interrupted(`no data for ${ms} ms`);
      });
    }, ms);
  }

  /** True while a stall timeout is counting (never while the consumer holds the socket paused). */
  get stallTimerArmed(): boolean {
    return this.stallTimer !== null;
  }

  private clearStall(): void {
    if (this.stallTimer) {
      clearTimeout(this.stallTimer as NodeJS.Timeout);
      clearImmediate(this.stallTimer as NodeJS.Immediate);
    }
    this.stallTimer = null;
  }

  private clearTimers(): void {
    this.clearStall();
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.backoffTimer = null;
  }
}

/** The artifact at `url` as a Readable that survives dropped connections (see above). */
export function downloadWithResume(url: string, opts: DownloadOptions = {}): ResumingDownload {
  return new ResumingDownload(url, opts);
}
