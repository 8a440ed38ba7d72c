// The device's side of deviceconnect (what mender-connect does): one WebSocket to the server,
// opened with the device's JWT and reopened when it drops, carrying sessions (sid) for the remote
// terminal, file transfer and port forwarding. A frame that cannot be read is answered with an
// error and dropped; the connection stays up for the sessions that work.
import WebSocket from 'ws';
import { CONTROL, MENDER_CLIENT, MENDER_CLIENT_STATUS, PROTO, PROTOCOL_VERSION, SHELL, ProtocolError, decodeMessage, encodeBody, encodeMessage, errorMessage, type ProtoMsg } from '../../connect-protocol/protocol.js';
import { ShellSession, DEFAULT_SHELL, type ShellOptions, type Send } from './shell.js';
import { FileSession } from './files.js';
import { ForwardSession } from './forward.js';

export interface DeviceConnectOptions {
  /** The server's base URL (http(s)://...). */
  server: () => string;
  /** The device's JWT, or null while it has none (not authorized yet). */
  token: () => string | null;
  /** The server refused the token (401): the daemon authenticates again. */
  tokenRefused: () => void;
  /** CA certificates for https servers (ServerCertificate). */
  ca?: string[];
  log: (line: string) => void;
  shell?: ShellOptions;
  /** At most this many terminals at once (mender-connect: MaxShellsSpawned, 5). */
  maxShells?: number;
  fileTransfer?: boolean;
  portForward?: boolean;
  /**
   * The update client, for the server's check-update and send-inventory requests (mender-connect
   * runs `mender check-update` / `send-inventory` for them); without it they fail.
   */
  menderClient?: { checkUpdate(): void; sendInventory(): void };
  /** Reconnect backoff: first and largest wait. */
  reconnectMs?: { min: number; max: number };
}

interface Session {
  shell?: ShellSession;
  files?: FileSession;
  forward?: ForwardSession;
}

export class DeviceConnect {
  private ws: WebSocket | null = null;
  private stopped = false;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly sessions = new Map<string, Session>();
  private onOpen: Array<() => void> = [];

  constructor(private readonly o: DeviceConnectOptions) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Resolves once the connection is open (tests and the daemon's log). */
  connected(): Promise<void> {
    if (this.ws?.readyState === WebSocket.OPEN) return Promise.resolve();
    return new Promise((r) => this.onOpen.push(r));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.endSessions();
    this.ws?.terminate();
    this.ws = null;
  }

  private get protocols(): number[] {
    return [PROTO.shell, ...(this.o.fileTransfer !== false ? [PROTO.fileTransfer] : []), ...(this.o.portForward !== false ? [PROTO.portForward] : [])];
  }

  private retry(why: string, count = true): void {
    if (this.stopped) return;
    const { min, max } = this.o.reconnectMs ?? { min: 1000, max: 60_000 };
    // Waiting for the daemon's first token is not a failure: look again soon, quietly.
    const wait = count ? Math.min(max, min * 2 ** Math.min(this.failures, 16)) : min;
    if (count) {
      this.failures++;
      this.o.log(`deviceconnect: ${why}; reconnecting in ${wait} ms`);
    }
    this.timer = setTimeout(() => this.connect(), wait);
    this.timer.unref();
  }

  private connect(): void {
    this.timer = null;
    if (this.stopped) return;
    const token = this.o.token();
    if (!token) return this.retry('no device token yet', false);
    const url = `${this.o.server().replace(/\/+$/, '').replace(/^http/, 'ws')}/api/devices/v1/deviceconnect/connect`;
    const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` }, ca: this.o.ca, maxPayload: 1024 * 1024, handshakeTimeout: 30_000 });
    this.ws = ws;
    ws.on('unexpected-response', (_req, res) => {
      if (res.statusCode === 401) this.o.tokenRefused();
      res.resume();
      ws.terminate();
      this.ws = null;
      this.retry(`the server refused the connection (${res.statusCode})`);
    });
    ws.on('open', () => {
      this.failures = 0;
      this.o.log(`deviceconnect: connected to ${this.o.server()}`);
      for (const r of this.onOpen.splice(0)) r();
    });
    ws.on('message', (data: Buffer) => this.receive(data));
    ws.on('error', (e) => this.o.log(`deviceconnect: ${e.message}`));
    ws.on('close', (code, reason) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.endSessions();
      this.retry(`connection closed (${code}${reason.length ? `: ${reason.toString('utf8')}` : ''})`);
    });
  }

  private write(msg: ProtoMsg): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(encodeMessage(msg));
  }

  private sender(sid: string): Send {
    return (m) => this.write({ ...m, hdr: { ...m.hdr, sid } });
  }

  private receive(data: Buffer): void {
    let msg: ProtoMsg;
    try {
      msg = decodeMessage(data);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.o.log(`deviceconnect: dropped a malformed message: ${e.message}`);
      return this.write(errorMessage(PROTO.control, undefined, `malformed message: ${e.message}`));
    }
    const { proto, typ, sid } = msg.hdr;
    if (proto === PROTO.control) {
      if (typ === CONTROL.ping) return this.write({ hdr: { proto, typ: CONTROL.pong, sid } });
      if (!sid) return;
      if (typ === CONTROL.open) return this.write({ hdr: { proto, typ: CONTROL.accept, sid }, body: encodeBody({ version: PROTOCOL_VERSION, protocols: this.protocols }) });
      if (typ === CONTROL.close) return this.endSession(sid);
      return;
    }
    // Mender sends these with no session: they are requests to the device, not to a user's session.
    if (proto === PROTO.menderClient) return this.menderClient(msg);
    if (!sid) return this.write(errorMessage(proto, undefined, `${typ} message without a session id`, msg.hdr));
    if (!this.protocols.includes(proto)) return this.write(errorMessage(proto, sid, `protocol ${proto} is not enabled on this device`, msg.hdr));
    const s = this.sessions.get(sid) ?? {};
    this.sessions.set(sid, s);
    if (proto === PROTO.shell) return this.shell(s, sid, msg);
    if (proto === PROTO.fileTransfer) {
      s.files ??= new FileSession(this.sender(sid), this.o.log);
      return s.files.handle(msg);
    }
    if (proto === PROTO.portForward) {
      s.forward ??= new ForwardSession(this.sender(sid), this.o.log);
      return s.forward.handle(msg);
    }
    this.write(errorMessage(proto, sid, `protocol ${proto} is not handled`, msg.hdr));
  }

  /**
   * Answered as mender-connect does: the same proto, type and session, `status` 1 when the update
   * client took the request, 2 with the reason in the body when not.
   */
  private menderClient(msg: ProtoMsg): void {
    const { typ, sid } = msg.hdr;
    const client = this.o.menderClient;
    const known = typ === MENDER_CLIENT.checkUpdate || typ === MENDER_CLIENT.sendInventory;
    const answer = (why?: string) => {
      if (why) this.o.log(`deviceconnect: ${why}`);
      this.write({ hdr: { proto: PROTO.menderClient, typ, sid, props: { status: why ? MENDER_CLIENT_STATUS.error : MENDER_CLIENT_STATUS.normal } }, body: why ? Buffer.from(why) : undefined });
    };
    if (!known) return answer(`unknown mender client message "${typ}"`);
    if (!client) return answer(`${typ}: no update client on this device`);
    this.o.log(`deviceconnect: the server asked for ${typ === MENDER_CLIENT.checkUpdate ? 'an update check' : 'the inventory'} now`);
    if (typ === MENDER_CLIENT.checkUpdate) client.checkUpdate();
    else client.sendInventory();
    answer();
  }

  private shell(s: Session, sid: string, msg: ProtoMsg): void {
    switch (msg.hdr.typ) {
      case SHELL.new: {
        if (s.shell?.running) return this.write(errorMessage(PROTO.shell, sid, 'a shell runs on this session already', msg.hdr));
        const running = [...this.sessions.values()].filter((x) => x.shell?.running).length;
        const send = this.sender(sid);
        s.shell = new ShellSession(send, this.o.shell ?? DEFAULT_SHELL, this.o.log);
        if (running >= (this.o.maxShells ?? 5)) {
          send({ hdr: { proto: PROTO.shell, typ: SHELL.new, props: { status: 2 } }, body: Buffer.from(`at most ${this.o.maxShells ?? 5} terminals at once`) });
          return;
        }
        return s.shell.start(msg);
      }
      case SHELL.data:
        return s.shell?.input(msg.body ?? new Uint8Array(0));
      case SHELL.stop:
        return s.shell?.stop();
      case SHELL.resize:
      case SHELL.pong:
      case SHELL.ping:
        return;
      default:
        return this.write(errorMessage(PROTO.shell, sid, `unknown shell message "${msg.hdr.typ}"`, msg.hdr));
    }
  }

  private endSession(sid: string): void {
    const s = this.sessions.get(sid);
    this.sessions.delete(sid);
    s?.shell?.stop();
    void s?.files?.close();
    s?.forward?.close();
  }

  private endSessions(): void {
    for (const sid of [...this.sessions.keys()]) this.endSession(sid);
  }
}


