// Where `flipside install` reads an artifact from: a local file or a plain HTTP(S) GET, streamed
// (never buffered whole), so a 1 GiB artifact needs no 1 GiB anywhere.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import type { Readable } from 'node:stream';
import { ClientError, errorMessage } from './errors.js';
import type { ArtifactSource } from './state/types.js';
import { openSpooled, type SpoolOptions } from './download-spool.js';
import { DownloadError } from './api/errors.js';

const MAX_REDIRECTS = 5;

export class FileSource implements ArtifactSource {
  readonly describe: string;
  /** Size in bytes, known after open(), for progress. */
  size: number | null = null;

  constructor(readonly path: string) {
    this.describe = path;
  }

  async open(signal?: AbortSignal): Promise<Readable> {
    try {
      const st = await stat(this.path);
      if (!st.isFile()) throw new Error('not a regular file');
      this.size = st.size;
    } catch (e) {
      throw new ClientError('SOURCE', `cannot read artifact ${this.path}: ${errorMessage(e)}`, { cause: e });
    }
    return createReadStream(this.path, { highWaterMark: 1 << 20, signal });
  }
}

export class HttpSource implements ArtifactSource {
  readonly describe: string;
  size: number | null = null;

  constructor(readonly url: string) {
    this.describe = url;
  }

  open(signal?: AbortSignal): Promise<Readable> {
    return this.fetch(this.url, 0, signal);
  }

  private fetch(url: string, redirects: number, signal?: AbortSignal): Promise<Readable> {
    return new Promise((resolve, reject) => {
      const get = url.startsWith('https:') ? httpsGet : httpGet;
      const req = get(url, { signal }, (res: IncomingMessage) => {
        const code = res.statusCode ?? 0;
        if (code >= 300 && code < 400 && res.headers.location) {
          res.resume();
          if (redirects >= MAX_REDIRECTS) {
            reject(new ClientError('SOURCE', `${this.url}: more than ${MAX_REDIRECTS} redirects`));
            return;
          }
          resolve(this.fetch(new URL(res.headers.location, url).toString(), redirects + 1, signal));
          return;
        }
        if (code !== 200) {
          res.resume();
          reject(new ClientError('SOURCE', `GET ${url} answered HTTP ${code}`));
          return;
        }
        const len = Number(res.headers['content-length']);
        this.size = Number.isFinite(len) ? len : null;
        resolve(res);
      });
      req.on('error', (e) => reject(new ClientError('SOURCE', `GET ${url} failed: ${errorMessage(e)}`, { cause: e })));
    });
  }
}

/**
 * An http(s) URL through the download spool: `flipside install URL` run again after a power cut
 * resumes where the spool's checkpoint says (download-spool.ts). No redirects (a Range resume
 * needs the final link).
 */
export class SpooledHttpSource implements ArtifactSource {
  readonly describe: string;

  constructor(
    readonly url: string,
    private readonly o: Pick<SpoolOptions, 'dataDir' | 'download' | 'log'>,
  ) {
    this.describe = url;
  }

  async open(signal: AbortSignal, deployment: string): Promise<Readable> {
    try {
      return await openSpooled({ ...this.o, deployment, url: this.url }, signal);
    } catch (e) {
      // A server that sends no length (chunked) cannot be resumed with Range: a plain download.
      if (!(e instanceof DownloadError && e.code === 'NO_LENGTH')) throw e;
      this.o.log(`${this.url} has no Content-Length: downloading without resume`);
      return new HttpSource(this.url).open(signal);
    }
  }
}

/** A file, or a URL (spooled for resume when `spool` is given). */
export function sourceFor(arg: string, spool?: Pick<SpoolOptions, 'dataDir' | 'download' | 'log'>): ArtifactSource {
  if (!/^https?:\/\//i.test(arg)) return new FileSource(arg);
  return spool ? new SpooledHttpSource(arg, spool) : new HttpSource(arg);
}
