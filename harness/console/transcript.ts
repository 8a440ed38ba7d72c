// The console's record: a bounded in-memory list of timestamped lines for the report, and an
// append-only file with every line ever seen (raw, escapes kept) for post-mortems. Gaps such as a
// USB serial adapter vanishing are written as notes so the file stays one continuous story.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import type { ConsoleLine } from '../types.js';

export class Transcript {
  private readonly lines: ConsoleLine[] = [];
  private file: WriteStream | null = null;
  private fileError: Error | null = null;

  constructor(
    private readonly maxLines = 20_000,
    private readonly path?: string,
  ) {
    if (!Number.isInteger(maxLines) || maxLines < 1) throw new RangeError(`transcript maxLines must be a positive integer, got ${maxLines}`);
  }

  open(): void {
    if (!this.path || this.file) return;
    mkdirSync(dirname(this.path), { recursive: true });
    this.file = createWriteStream(this.path, { flags: 'a' });
    // A full disk must not kill the test run; the error surfaces on close().
    this.file.on('error', (e) => (this.fileError ??= e));
  }

  add(line: ConsoleLine, raw = line.text): void {
    this.lines.push(line);
    // Dropping in batches keeps the cost of trimming amortised.
    if (this.lines.length > this.maxLines + Math.ceil(this.maxLines / 10)) this.lines.splice(0, this.lines.length - this.maxLines);
    this.writeFile(line.t, '  ', raw);
  }

  /** An event that is not console output (disconnect, reconnect), marked `--` in the file. */
  note(t: number, text: string): void {
    this.writeFile(t, '--', text);
  }

  snapshot(): readonly ConsoleLine[] {
    return this.lines.length > this.maxLines ? this.lines.slice(-this.maxLines) : this.lines.slice();
  }

  async close(): Promise<void> {
    const f = this.file;
    this.file = null;
    if (f) await new Promise<void>((resolve) => f.end(resolve));
    if (this.fileError) throw new Error(`transcript ${this.path}: ${this.fileError.message}`);
  }

  private writeFile(t: number, mark: string, text: string): void {
    this.file?.write(`${new Date(t).toISOString()} ${mark} ${text}\n`);
  }
}
