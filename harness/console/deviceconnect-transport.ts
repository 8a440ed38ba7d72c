// A console on a managed board through the server: a remote terminal over deviceconnect (the
// management WebSocket a user's `mender-cli terminal` opens), for lab boards that have a network
// but no serial cable. The link is one shell session: keystrokes go out as shell messages, the
// shell's output comes back as the stream's data; the device disconnecting (a reboot, a dropped
// network) or its shell ending ends the stream with the reason, so StreamConsole fails a pending
// expect() with it instead of waiting, or re-opens the session once the device is back when the
// board file sets reconnectIntervalMs.
import { readFileSync } from 'node:fs';
import { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { CONTROL, PROTO, SHELL, SHELL_STATUS, decodeMessage, encodeMessage, errorText, numberProp, type ProtoMsg } from '../../connect-protocol/protocol.js';
import type { ConsoleLink, ConsoleTransport } from './transport.js';

export interface DeviceConnectTarget {
  /** The server's base URL (http:// or https://). */
  server: string;
  /** The device's id on the server (the device must be accepted and connected). */
  device: string;
  /** A user's management API token (a JWT from POST /api/management/v1/useradm/auth/login). */
  token: string;
  /** PEM CA certificate(s) the server's TLS certificate chains to, for a server with its own CA. */
  ca?: string;
  /** Terminal size announced to the device's shell. */
  columns?: number;
  rows?: number;
  /** How long opening the session may take, WebSocket upgrade and the shell's answer (default 15 s). */
  openTimeoutMs?: number;
}

/** The management API token from the board file: the token itself, a file holding it, or an environment variable. */
export function resolveToken(o: { token?: string; tokenFile?: string; tokenEnv?: string }, what: string): string {
  if (o.token) return o.token;
  if (o.tokenFile) {
    let text: string;
    try {
      text = readFileSync(o.tokenFile, 'utf8');
    } catch (e) {
      throw new Error(`${what}: cannot read the token file ${o.tokenFile}: ${(e as Error).message}`, { cause: e });
    }
    const token = text.trim();
    if (!token) throw new Error(`${what}: the token file ${o.tokenFile} is empty`);
    return token;
  }
  const name = o.tokenEnv ?? 'FLIPSIDE_TOKEN';
  const token = process.env[name]?.trim();
  if (!token) throw new Error(`${what}: no management API token: set ${name} (or tokenFile / token in the console spec)`);
  return token;
}

export class DeviceConnectTransport implements ConsoleTransport {
  readonly description: string;
  private readonly url: string;

  constructor(
    private readonly target: DeviceConnectTarget,
    readonly reconnectIntervalMs?: number,
  ) {
    let base: URL;
    try {
      base = new URL(target.server);
    } catch {
      throw new Error(`deviceconnect console: server must be an http(s) URL, got ${JSON.stringify(target.server)}`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error(`deviceconnect console: server must be an http(s) URL, got ${JSON.stringify(target.server)}`);
    if (!target.device) throw new Error('deviceconnect console: a device id is required');
    if (!target.token) throw new Error('deviceconnect console: a management API token is required');
    const path = `${base.pathname.replace(/\/$/, '')}/api/management/v1/deviceconnect/devices/${encodeURIComponent(target.device)}/connect`;
    this.url = `${base.protocol === 'https:' ? 'wss' : 'ws'}://${base.host}${path}`;
    this.description = `deviceconnect ${base.host} device ${target.device}`;
  }

  async connect(): Promise<ConsoleLink> {
    const ws = new WebSocket(this.url, { headers: { Authorization: `Bearer ${this.target.token}` }, ...(this.target.ca ? { ca: this.target.ca } : {}) });
    const fail = (why: string) => new Error(`cannot open console ${this.description}: ${why}`);
    // Messages that arrive before the stream exists (the shell's first output right after its answer).
    const early: ProtoMsg[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(fail(`no shell within ${this.target.openTimeoutMs ?? 15_000} ms`));
      }, this.target.openTimeoutMs ?? 15_000);
      const done = (e?: Error) => {
        clearTimeout(timer);
        ws.removeAllListeners('message');
        ws.removeAllListeners('close');
        ws.removeAllListeners('unexpected-response');
        ws.removeAllListeners('error');
        if (e) {
          ws.on('error', () => {});
          ws.terminate();
          reject(e);
        } else resolve();
      };
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString('utf8')));
        res.on('end', () => {
          let text = body;
          try {
            text = (JSON.parse(body) as { error?: string }).error ?? body;
          } catch {
            // not JSON: the body as it is
          }
          done(fail(`the server answered ${res.statusCode}${text ? `: ${text}` : ''}`));
        });
      });
      ws.once('error', (e) => done(fail(e.message)));
      ws.once('close', (code, why) => done(fail(`the server closed the session (${code}${why.length ? `: ${why.toString('utf8')}` : ''})`)));
      ws.once('open', () => {
        ws.send(encodeMessage({ hdr: { proto: PROTO.shell, typ: SHELL.new, props: { terminal_width: this.target.columns ?? 200, terminal_height: this.target.rows ?? 50 } } }));
      });
      ws.on('message', (data: Buffer) => {
        let msg: ProtoMsg;
        try {
          msg = decodeMessage(data);
        } catch (e) {
          return done(fail(`the server sent a malformed message: ${(e as Error).message}`));
        }
        if (msg.hdr.proto === PROTO.shell && msg.hdr.typ === SHELL.new) {
          if (numberProp(msg, 'status') === SHELL_STATUS.error) return done(fail(`the device refused the shell: ${Buffer.from(msg.body ?? []).toString('utf8') || 'no reason given'}`));
          return done();
        }
        if (msg.hdr.typ === CONTROL.error || (msg.hdr.proto === PROTO.shell && msg.hdr.typ === SHELL.stop)) return done(fail(`the device ended the session: ${errorText(msg) || 'no reason given'}`));
        early.push(msg);
      });
    });
    const stream = new ShellStream(ws, this.description);
    for (const m of early) stream.receiveMessage(m);
    return { stream, close: () => stream.closeSession() };
  }
}

/**
 * The shell session as a byte stream. Reading is paced by the WebSocket: a console that stops
 * reading pauses the socket, so the server and then the device hold back (no unbounded queue).
 */
class ShellStream extends Duplex {
  private ended = false;
  private readonly wsClosed: Promise<void>;

  constructor(
    private readonly ws: WebSocket,
    private readonly what: string,
  ) {
    super({ allowHalfOpen: false });
    this.wsClosed = new Promise((resolve) => ws.once('close', () => resolve()));
    ws.on('message', (data: Buffer) => {
      let msg: ProtoMsg;
      try {
        msg = decodeMessage(data);
      } catch (e) {
        return this.finish(`the server sent a malformed message: ${(e as Error).message}`);
      }
      this.receiveMessage(msg);
    });
    ws.on('close', (code, why) => this.finish(`the session closed (${code}${why.length ? `: ${why.toString('utf8')}` : ''})`));
    ws.on('error', (e) => this.finish(e.message));
  }

  receiveMessage(msg: ProtoMsg): void {
    if (msg.hdr.proto === PROTO.shell) {
      if (msg.hdr.typ === SHELL.data && msg.body?.byteLength) {
        if (!this.push(Buffer.from(msg.body.buffer, msg.body.byteOffset, msg.body.byteLength))) this.ws.pause();
      } else if (msg.hdr.typ === SHELL.ping) this.send({ hdr: { proto: PROTO.shell, typ: SHELL.pong } });
      else if (msg.hdr.typ === SHELL.stop) this.finish("the device's shell ended");
    } else if (msg.hdr.typ === CONTROL.error) this.finish(`the device said: ${errorText(msg)}`);
  }

  override _read(): void {
    if (this.ws.isPaused) this.ws.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.ended || this.ws.readyState !== WebSocket.OPEN) return cb(new Error(`${this.what}: the session is closed`));
    this.ws.send(encodeMessage({ hdr: { proto: PROTO.shell, typ: SHELL.data }, body: chunk }), (e) => cb(e ?? null));
  }

  private send(msg: ProtoMsg): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeMessage(msg));
  }

  /** The session is over: the console sees why (an error) and then the end. */
  private finish(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.ws.terminate();
    this.destroy(new Error(`${this.what}: ${reason}`));
  }

  /** Stops the device's shell and closes the WebSocket (the server ends the session). */
  async closeSession(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      this.send({ hdr: { proto: PROTO.shell, typ: SHELL.stop } });
      this.ws.close(1000, 'console closed');
      const timer = setTimeout(() => this.ws.terminate(), 2000);
      await this.wsClosed;
      clearTimeout(timer);
    }
    this.destroy();
  }
}
