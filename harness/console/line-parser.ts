// Turns decoded console text into lines and into the flat text that expect() matches against.
// Serial consoles end lines with \r\n, \n\r, bare \r (progress output, some bootloaders) or even
// \r\r\n (a tty's onlcr on top of a program's own \r\n); all of these become one "\n" here.
// An empty line produced by a bare \r is dropped: a carriage return on an empty line moves nothing.
import { EscapeScanner } from './escape-scanner.js';

export interface ParsedLine {
  /** The line without escapes or control characters. */
  text: string;
  /** The line as received, escapes included (the transcript keeps it). */
  raw: string;
}

export interface ParseResult {
  /** Clean text with normalised line endings, for the expect buffer. */
  text: string;
  lines: ParsedLine[];
}

export class LineParser {
  private readonly scanner = new EscapeScanner();
  private text = '';
  private raw = '';
  /** After a run of \r: whether one of them ended a line (so a following \n must not). */
  private afterCr: 'ended' | 'noop' | null = null;

  /** Lines longer than this are split so one endless line cannot hold memory. */
  constructor(private readonly maxLineLength = 4096) {}

  /** The incomplete last line (a prompt usually lives here). */
  get partial(): ParsedLine {
    return { text: this.text, raw: this.raw };
  }

  feed(chunk: string): ParseResult {
    const out: ParseResult = { text: '', lines: [] };
    for (const ch of chunk) {
      const code = ch.codePointAt(0)!;
      if (this.scanner.consume(code)) {
        this.raw += ch;
        continue;
      }
      if (code === 0x0a) {
        // \r\n and \r\r\n end one line; \n after a no-op \r is a real (maybe empty) line.
        if (this.afterCr !== 'ended') this.endLine(out);
        this.afterCr = null;
        continue;
      }
      if (code === 0x0d) {
        if (this.afterCr === null) {
          this.afterCr = this.text === '' ? 'noop' : 'ended';
          if (this.afterCr === 'ended') this.endLine(out);
        }
        continue;
      }
      this.afterCr = null;
      this.text += ch;
      this.raw += ch;
      out.text += ch;
      if (this.text.length >= this.maxLineLength) {
        this.endLine(out);
      }
    }
    return out;
  }

  /** Ends the partial line, e.g. before noting a disconnect in the transcript. */
  flush(): ParsedLine | null {
    if (this.text === '' && this.raw === '') return null;
    const line = { text: this.text, raw: this.raw };
    this.text = '';
    this.raw = '';
    this.afterCr = null;
    return line;
  }

  private endLine(out: ParseResult): void {
    out.lines.push({ text: this.text, raw: this.raw });
    out.text += '\n';
    this.text = '';
    this.raw = '';
  }
}
