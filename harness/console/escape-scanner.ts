// Terminal escape sequences (colour, cursor moves, `\e[6n` cursor-position queries, bracketed
// paste toggles) arrive split across reads at arbitrary points, so recognising them needs state
// that survives between chunks. The scanner classifies one character at a time: part of an escape
// (kept in the raw transcript, hidden from matching) or plain text.

const ESC = 0x1b;
const BEL = 0x07;
const CSI_8BIT = 0x9b;
const OSC_8BIT = 0x9d;

type State = 'text' | 'esc' | 'esc-intermediate' | 'csi' | 'string' | 'string-esc';

/** A garbled or unterminated sequence must not hide the rest of the session. */
const MAX_SEQUENCE_LENGTH = 256;

export class EscapeScanner {
  private state: State = 'text';
  private length = 0;

  /** True when `code` belongs to an escape sequence (or is a control character to hide). */
  consume(code: number): boolean {
    if (this.state === 'text') this.length = 0;
    else if (++this.length > MAX_SEQUENCE_LENGTH) {
      this.state = 'text';
      this.length = 0;
    }
    switch (this.state) {
      case 'text':
        if (code === ESC) {
          this.state = 'esc';
          return true;
        }
        if (code === CSI_8BIT) {
          this.state = 'csi';
          return true;
        }
        if (code === OSC_8BIT) {
          this.state = 'string';
          return true;
        }
        // Other C0 controls (BEL, NUL, backspace…) carry no text worth matching; tab, LF and CR
        // are layout that the line parser needs.
        return code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d;
      case 'esc':
        if (code === 0x5b /* [ */) this.state = 'csi';
        else if (code === 0x5d /* ] */ || code === 0x50 /* P */ || code === 0x5f /* _ */ || code === 0x5e /* ^ */) {
          // OSC, DCS, APC, PM: strings ended by BEL or ESC \.
          this.state = 'string';
        } else if (code >= 0x20 && code <= 0x2f) this.state = 'esc-intermediate';
        else this.state = 'text'; // two-character sequence such as ESC c or ESC 7
        return true;
      case 'esc-intermediate':
        // e.g. ESC ( B (character set selection): intermediates then one final character.
        if (!(code >= 0x20 && code <= 0x2f)) this.state = 'text';
        return true;
      case 'csi':
        // Parameters and intermediates are 0x20–0x3f; a final byte 0x40–0x7e ends the sequence.
        // Anything else (a newline in a garbled sequence) aborts it so text is not swallowed.
        if (code >= 0x40 && code <= 0x7e) this.state = 'text';
        else if (code < 0x20 || code > 0x7e) {
          this.state = 'text';
          return this.consume(code);
        }
        return true;
      case 'string':
        if (code === BEL) this.state = 'text';
        else if (code === ESC) this.state = 'string-esc';
        return true;
      case 'string-esc':
        this.state = code === 0x5c /* \ */ ? 'text' : 'string';
        return true;
    }
  }
}

/** Removes escape sequences and stray control characters from a complete string. */
export function stripTerminalEscapes(text: string): string {
  const scanner = new EscapeScanner();
  let out = '';
  for (const ch of text) if (!scanner.consume(ch.codePointAt(0)!)) out += ch;
  return out;
}
