// Turns a script's stdout/stderr chunks into log lines with bounded memory: a line longer than
// maxLineChars is cut, at most maxLines lines are logged per stream (the rest only counted), and
// only the last tailBytes of the stream are kept for the failure report (Mender keeps 10 KiB).
import { StringDecoder } from 'node:string_decoder';

export interface CaptureLimits {
  maxLineChars: number;
  maxLines: number;
  tailBytes: number;
}

export const DEFAULT_CAPTURE_LIMITS: CaptureLimits = { maxLineChars: 4096, maxLines: 1000, tailBytes: 10 * 1024 };

export class OutputCapture {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private cutting = false;
  private logged = 0;
  private dropped = 0;
  private tailChunks: Buffer[] = [];
  private tailLength = 0;

  constructor(
    private readonly emit: (line: string) => void,
    private readonly limits: CaptureLimits = DEFAULT_CAPTURE_LIMITS,
  ) {}

  push(chunk: Buffer): void {
    this.keepTail(chunk);
    const text = this.decoder.write(chunk);
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      this.take(text.slice(start, nl), true);
      start = nl + 1;
    }
    this.take(text.slice(start), false);
  }

  /** Flushes an unterminated last line and, if lines were dropped, says how many. */
  end(): void {
    this.take(this.decoder.end(), false);
    if (this.partial !== '') this.line(this.partial);
    this.partial = '';
    if (this.dropped > 0) this.emit(`(${this.dropped} more lines not logged)`);
  }

  /** The last tailBytes of the stream, as text. */
  tail(): string {
    const all = Buffer.concat(this.tailChunks);
    return all.subarray(Math.max(0, all.length - this.limits.tailBytes)).toString('utf8');
  }

  private take(piece: string, complete: boolean): void {
    if (this.cutting) {
      if (complete) this.cutting = false;
      return;
    }
    this.partial += piece;
    if (this.partial.length > this.limits.maxLineChars) {
      this.line(`${this.partial.slice(0, this.limits.maxLineChars)}… (line cut)`);
      this.partial = '';
      this.cutting = !complete;
      return;
    }
    if (complete) {
      this.line(this.partial);
      this.partial = '';
    }
  }

  private line(text: string): void {
    if (this.logged < this.limits.maxLines) {
      this.logged++;
      this.emit(text.replace(/\r$/, ''));
    } else this.dropped++;
  }

  private keepTail(chunk: Buffer): void {
    this.tailChunks.push(chunk);
    this.tailLength += chunk.length;
    while (this.tailLength - this.tailChunks[0]!.length >= this.limits.tailBytes) {
      this.tailLength -= this.tailChunks.shift()!.length;
    }
    if (this.tailLength > this.limits.tailBytes * 2) {
      const joined = Buffer.concat(this.tailChunks).subarray(this.tailLength - this.limits.tailBytes);
      this.tailChunks = [Buffer.from(joined)];
      this.tailLength = joined.length;
    }
  }
}
