// The smallest telnet that gives a clean 8-bit console over ser2net's telnet mode: incoming IAC
// commands are removed from the data and answered (we let the far side echo and suppress go-ahead,
// and refuse every other option, RFC 2217 port control included); outgoing 0xFF bytes are doubled.
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

const IAC = 0xff;
const DONT = 0xfe;
const DO = 0xfd;
const WONT = 0xfc;
const WILL = 0xfb;
const SB = 0xfa;
const SE = 0xf0;
const OPT_ECHO = 1;
const OPT_SGA = 3;

type State = 'data' | 'iac' | 'option' | 'sub' | 'sub-iac';

export class TelnetStream extends Duplex {
  private state: State = 'data';
  private verb = 0;

  constructor(private readonly socket: Socket) {
    super({ allowHalfOpen: false });
    socket.on('data', (chunk: Buffer) => {
      const data = this.decode(chunk);
      // Backpressure: stop reading the socket until our reader catches up.
      if (data.length > 0 && !this.push(data)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (e) => this.destroy(e));
    socket.on('close', () => this.destroy());
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    this.socket.write(escapeIac(chunk), done);
  }

  override _final(done: (e?: Error | null) => void): void {
    this.socket.end(done);
  }

  override _destroy(err: Error | null, done: (e?: Error | null) => void): void {
    this.socket.destroy();
    done(err);
  }

  private decode(chunk: Buffer): Buffer {
    const out = Buffer.allocUnsafe(chunk.length);
    let n = 0;
    for (const byte of chunk) {
      switch (this.state) {
        case 'data':
          if (byte === IAC) this.state = 'iac';
          else out[n++] = byte;
          break;
        case 'iac':
          if (byte === IAC) {
            out[n++] = IAC;
            this.state = 'data';
          } else if (byte === SB) this.state = 'sub';
          else if (byte === DO || byte === DONT || byte === WILL || byte === WONT) {
            this.verb = byte;
            this.state = 'option';
          } else this.state = 'data'; // NOP, GA, BREAK…: nothing to do
          break;
        case 'option':
          this.answer(this.verb, byte);
          this.state = 'data';
          break;
        case 'sub':
          if (byte === IAC) this.state = 'sub-iac';
          break;
        case 'sub-iac':
          this.state = byte === SE ? 'data' : 'sub';
          break;
      }
    }
    return out.subarray(0, n);
  }

  private answer(verb: number, option: number): void {
    let reply: number | null = null;
    if (verb === DO) reply = WONT; // we offer nothing
    else if (verb === WILL) reply = option === OPT_ECHO || option === OPT_SGA ? DO : DONT;
    // DONT/WONT need no answer: we never enabled anything.
    if (reply !== null && !this.socket.destroyed) this.socket.write(Buffer.from([IAC, reply, option]));
  }
}

export function escapeIac(chunk: Buffer): Buffer {
  if (!chunk.includes(IAC)) return chunk;
  const out: number[] = [];
  for (const byte of chunk) {
    out.push(byte);
    if (byte === IAC) out.push(IAC);
  }
  return Buffer.from(out);
}
