// A Console over any duplex byte stream: serial port, ser2net TCP, a unix socket, a process.
// It owns what every console needs and no transport should repeat: decoding, line splitting that
// survives \r\n/\r and escape sequences, timestamps, the expect buffer, bounded memory, typed-input
// pacing, the transcript file, and re-opening links that vanish (USB serial on a power cycle).
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Console, ConsoleLine } from '../types.js';
import { ExpectBuffer } from './expect-buffer.js';
import { LineParser } from './line-parser.js';
import { Transcript } from './transcript.js';
import type { ConsoleLink, ConsoleTransport } from './transport.js';

export interface StreamConsoleOptions {
  name?: string;
  /** Delay after each typed character; slow bootloader UARTs drop input without it (LAVA uses 10 ms for U-Boot). */
  charDelayMs?: number;
  /** Append every line, timestamped, to this file. */
  transcriptPath?: string;
  /** How much unmatched text expect() keeps (characters). */
  maxExpectChars?: number;
  /** How many lines transcript() keeps in memory (the file keeps all). */
  maxTranscriptLines?: number;
  maxLineLength?: number;
  /** How long write() waits for a vanished link to come back before failing. */
  reconnectWaitMs?: number;
  /**
   * How long open() keeps trying while the far end is not there yet (QEMU creates its console
   * socket some time after it starts); 0, the default, fails at the first refusal.
   */
  openWaitMs?: number;
  /**
   * Write the transcript file as expect() sees the text, escapes dropped. The default keeps them
   * for post-mortems; a guest whose only escapes are a shell's cursor queries gains nothing from
   * them, and `cat`ing such a file makes the terminal type its answer into the shell.
   */
  plainTranscriptFile?: boolean;
}

/** How often open() tries again while waiting for the far end to appear. */
const OPEN_RETRY_MS = 25;

export class StreamConsole implements Console {
  readonly name: string;
  private readonly charDelayMs: number;
  private readonly reconnectWaitMs: number;
  private readonly openWaitMs: number;
  private readonly plainTranscriptFile: boolean;
  private readonly parser: LineParser;
  private readonly buffer: ExpectBuffer;
  private readonly record: Transcript;
  private readonly listeners = new Set<(line: ConsoleLine) => void>();
  private decoder = new StringDecoder('utf8');
  private link: ConsoleLink | null = null;
  private state: 'new' | 'open' | 'lost' | 'closed' = 'new';
  private lostAt = 0;
  /** Settles when the current link goes away: a write stuck on a vanished device must not hang. */
  private loss: { link: ConsoleLink; gone: Promise<void>; signal: () => void } | null = null;
  private linkWaiters: Array<() => void> = [];
  private writeChain: Promise<void> = Promise.resolve();
  private reconnecting: Promise<void> | null = null;

  constructor(
    private readonly transport: ConsoleTransport,
    opts: StreamConsoleOptions = {},
  ) {
    this.name = opts.name ?? transport.description;
    this.charDelayMs = opts.charDelayMs ?? 0;
    if (!Number.isFinite(this.charDelayMs) || this.charDelayMs < 0) {
      throw new RangeError(`console ${this.name}: charDelayMs must be a non-negative number, got ${opts.charDelayMs}`);
    }
    this.reconnectWaitMs = opts.reconnectWaitMs ?? 30_000;
    this.openWaitMs = opts.openWaitMs ?? 0;
    this.plainTranscriptFile = opts.plainTranscriptFile ?? false;
    this.parser = new LineParser(opts.maxLineLength);
    this.buffer = new ExpectBuffer(this.name, opts.maxExpectChars);
    this.record = new Transcript(opts.maxTranscriptLines, opts.transcriptPath);
  }

  /** Whether the link is up right now (false while a vanished serial device is being re-opened). */
  get connected(): boolean {
    return this.state === 'open';
  }

  async open(): Promise<void> {
    if (this.state !== 'new') throw new Error(`console ${this.name}: open() called twice`);
    this.record.open();
    let link: ConsoleLink;
    try {
      link = await this.firstLink();
    } catch (e) {
      await this.record.close().catch(() => {});
      throw e;
    }
    if (this.state !== 'new') {
      // close() was called while we waited: nobody wants this link any more.
      await link.close();
      throw this.closedWhileOpening();
    }
    this.record.note(Date.now(), `console ${this.name}: opened ${this.transport.description}`);
    this.attach(link);
  }

  /** Connects, retrying for openWaitMs while the far end is not there yet; close() ends the wait. */
  private async firstLink(): Promise<ConsoleLink> {
    const deadline = Date.now() + this.openWaitMs;
    for (;;) {
      try {
        return await this.transport.connect();
      } catch (e) {
        if (Date.now() + OPEN_RETRY_MS > deadline) throw e;
      }
      await sleep(OPEN_RETRY_MS);
      if (this.state !== 'new') throw this.closedWhileOpening();
    }
  }

  private closedWhileOpening(): Error {
    return new Error(`console ${this.name}: closed while opening`);
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    const link = this.link;
    this.link = null;
    this.loss?.signal();
    await link?.close();
    await this.reconnecting;
    const rest = this.parser.flush();
    if (rest) this.addLine(Date.now(), rest.text, rest.raw);
    this.record.note(Date.now(), `console ${this.name}: closed`);
    this.buffer.close();
    for (const wake of this.linkWaiters.splice(0)) wake();
    await this.record.close();
  }

  write(text: string): Promise<void> {
    if (typeof text !== 'string') return Promise.reject(new TypeError(`console ${this.name}: write needs a string`));
    // Writes are queued so two callers never interleave their paced characters.
    const next = this.writeChain.then(() => this.writeNow(text));
    this.writeChain = next.catch(() => {});
    return next;
  }

  expect(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return this.buffer.expect(re, timeoutMs);
  }

  /**
   * Fails a pending expect() at once, e.g. a command's end marker after the board's power was
   * cut: the link may well stay up (an adapter powered from the host), but that output never comes,
   * and the next boot's expect() must not be refused as concurrent.
   */
  abandonExpect(reason: string): void {
    this.buffer.abandon(reason);
  }

  /** Forgets unmatched output, so the next expect() sees only what arrives from now on. */
  clearExpectBuffer(): void {
    this.buffer.clear();
  }

  transcript(): readonly ConsoleLine[] {
    return this.record.snapshot();
  }

  onLine(listener: (line: ConsoleLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private attach(link: ConsoleLink): void {
    this.link = link;
    let signal = () => {};
    const lossSeen = new Promise<void>((resolve) => (signal = resolve));
    this.loss = { link, gone: lossSeen, signal };
    this.state = 'open';
    this.decoder = new StringDecoder('utf8');
    for (const wake of this.linkWaiters.splice(0)) wake();
    let reason = 'end of stream';
    link.stream.on('data', (chunk: Buffer | string) => this.receive(chunk));
    link.stream.on('error', (e: Error) => (reason = e.message));
    const gone = () => this.lost(link, reason);
    link.stream.once('end', gone);
    link.stream.once('close', gone);
  }

  private receive(chunk: Buffer | string): void {
    const t = Date.now();
    const { text, lines } = this.parser.feed(typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    for (const line of lines) this.addLine(t, line.text, line.raw);
    this.buffer.append(text);
  }

  private addLine(t: number, text: string, raw: string): void {
    const line: ConsoleLine = { t, text };
    this.record.add(line, this.plainTranscriptFile ? text : raw);
    for (const listener of this.listeners) {
      try {
        listener(line);
      } catch {
        // A faulty listener must not stop the console from reading.
      }
    }
  }

  private lost(link: ConsoleLink, reason: string): void {
    if (this.link !== link || this.state !== 'open') return;
    this.link = null;
    this.lostAt = Date.now();
    this.loss?.signal();
    void link.close().catch(() => {});
    const rest = this.parser.flush();
    if (rest) this.addLine(this.lostAt, rest.text, rest.raw);
    this.record.note(this.lostAt, `console ${this.name}: link lost (${reason})`);
    if (this.transport.reconnectIntervalMs === undefined) {
      this.state = 'closed';
      this.buffer.close(`link lost: ${reason}`);
      for (const wake of this.linkWaiters.splice(0)) wake();
      void this.record.close().catch(() => {});
      return;
    }
    this.state = 'lost';
    this.reconnecting = this.reconnect(this.transport.reconnectIntervalMs);
  }

  private async reconnect(intervalMs: number): Promise<void> {
    let attempts = 0;
    while (this.state === 'lost') {
      await sleep(intervalMs);
      if (this.state !== 'lost') return;
      attempts++;
      let link: ConsoleLink;
      try {
        link = await this.transport.connect();
      } catch {
        continue; // the device node is not back yet
      }
      if (this.state !== 'lost') {
        await link.close();
        return;
      }
      const now = Date.now();
      this.record.note(now, `console ${this.name}: link back after ${now - this.lostAt} ms (${attempts} attempts)`);
      this.attach(link);
    }
  }

  private async waitForLink(): Promise<ConsoleLink> {
    const deadline = Date.now() + this.reconnectWaitMs;
    while (!this.link) {
      if (this.state === 'closed') throw new Error(`console ${this.name}: closed`);
      if (this.state === 'new') throw new Error(`console ${this.name}: not open`);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`console ${this.name}: link lost ${Date.now() - this.lostAt} ms ago and not back within ${this.reconnectWaitMs} ms`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.linkWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.link;
  }

  private async writeNow(text: string): Promise<void> {
    // A write waits for a vanished link to come back before it starts, but never carries on across
    // a loss: the board was power-cycled meanwhile, and the rest of a half-typed command would land
    // in the next boot (a stray key stops U-Boot's autoboot).
    const link = await this.waitForLink();
    const chunks = this.charDelayMs === 0 ? [text] : [...text];
    const total = [...text].length;
    let sent = 0;
    for (const chunk of chunks) {
      if (this.link !== link) throw this.lostWhileTyping(sent, total, text);
      await this.writeOnLink(link, chunk, () => this.lostWhileTyping(sent, total, text));
      sent += [...chunk].length;
      if (this.charDelayMs > 0) await sleep(this.charDelayMs);
    }
  }

  /** One write that fails, instead of hanging or blaming the bytes, when the link dies under it. */
  private async writeOnLink(link: ConsoleLink, chunk: string, lost: () => Error): Promise<void> {
    const gone = this.loss?.link === link ? this.loss.gone : Promise.resolve();
    try {
      await Promise.race([writeTo(link, Buffer.from(chunk, 'utf8'), this.name), gone]);
    } catch (e) {
      // A vanishing USB device fails the write (EIO) a moment before the stream reports its end.
      await Promise.race([gone, sleep(500)]);
      if (this.link === link) throw e;
    }
    if (this.link !== link) throw lost();
  }

  private lostWhileTyping(sent: number, total: number, text: string): Error {
    return new Error(`console ${this.name}: link lost while typing; ${sent} of ${total} characters sent, the rest dropped (${JSON.stringify(text.slice(0, 40))})`);
  }
}

function writeTo(link: ConsoleLink, bytes: Buffer, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    link.stream.write(bytes, (e) => (e ? reject(new Error(`console ${name}: write failed: ${e.message}`, { cause: e })) : resolve()));
  });
}
