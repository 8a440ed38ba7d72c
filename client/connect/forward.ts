// Port forwarding on the device: each `new` opens a TCP connection to remote_host:remote_port
// (from the device's point of view) named by the user's connection_id. Data goes both ways as
// `forward` messages, each acknowledged; the device sends the next one only after the ack, which
// keeps one message in flight per direction (what mender-cli does too) and bounds memory.
import { connect, type Socket } from 'node:net';
import { FORWARD, PROTO, decodeBody, encodeBody, stringProp, type ProtoMsg } from '../../connect-protocol/protocol.js';
import type { Send } from './shell.js';

interface Forwarded {
  socket: Socket;
  /** Waiting for the ack of the last data sent. */
  inFlight: boolean;
  stopped: boolean;
}

export class ForwardSession {
  private readonly conns = new Map<string, Forwarded>();

  constructor(
    private readonly send: Send,
    private readonly log: (line: string) => void,
  ) {}

  handle(msg: ProtoMsg): void {
    const id = stringProp(msg, 'connection_id');
    if (!id) return this.error(undefined, msg.hdr.typ, 'the message has no connection_id');
    const c = this.conns.get(id);
    switch (msg.hdr.typ) {
      case FORWARD.new:
        return this.open(id, msg);
      case FORWARD.data:
        if (!c) return this.error(id, msg.hdr.typ, `no connection ${id}`);
        c.socket.write(msg.body ?? Buffer.alloc(0), () => this.send({ hdr: { proto: PROTO.portForward, typ: FORWARD.ack, props: { connection_id: id } } }));
        return;
      case FORWARD.ack:
        if (c) {
          c.inFlight = false;
          c.socket.resume();
        }
        return;
      case FORWARD.stop:
        if (c) {
          c.stopped = true;
          this.conns.delete(id);
          c.socket.destroy();
        }
        return;
      default:
        return this.error(id, msg.hdr.typ, `unknown port forward message "${msg.hdr.typ}"`);
    }
  }

  private error(id: string | undefined, typ: string, err: string): void {
    this.log(`port forward: ${err}`);
    this.send({ hdr: { proto: PROTO.portForward, typ: FORWARD.error, props: id ? { connection_id: id } : {} }, body: encodeBody({ err, msgtype: typ, close: false }) });
  }

  private open(id: string, msg: ProtoMsg): void {
    if (this.conns.has(id)) return this.error(id, FORWARD.new, `connection ${id} exists already`);
    let body: Record<string, unknown>;
    try {
      body = decodeBody(msg);
    } catch (e) {
      return this.error(id, FORWARD.new, (e as Error).message);
    }
    const host = typeof body.remote_host === 'string' && body.remote_host ? body.remote_host : '127.0.0.1';
    const port = body.remote_port;
    const protocol = body.protocol ?? 'tcp';
    if (protocol !== 'tcp') return this.error(id, FORWARD.new, `protocol ${String(protocol)} is not supported (tcp only)`);
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return this.error(id, FORWARD.new, `remote_port ${String(port)} is not a TCP port`);
    const socket = connect({ host, port });
    const c: Forwarded = { socket, inFlight: false, stopped: false };
    this.conns.set(id, c);
    const props = { connection_id: id };
    socket.once('connect', () => {
      this.log(`port forward: ${id} connected to ${host}:${port}`);
      this.send({ hdr: { proto: PROTO.portForward, typ: FORWARD.new, props } });
    });
    socket.on('data', (data) => {
      c.inFlight = true;
      socket.pause();
      this.send({ hdr: { proto: PROTO.portForward, typ: FORWARD.data, props }, body: data });
    });
    socket.on('error', (e) => {
      if (!c.stopped) this.error(id, FORWARD.new, `${host}:${port}: ${e.message}`);
    });
    socket.once('close', () => {
      if (this.conns.get(id) === c) this.conns.delete(id);
      if (!c.stopped) this.send({ hdr: { proto: PROTO.portForward, typ: FORWARD.stop, props } });
      c.stopped = true;
    });
  }

  close(): void {
    for (const c of this.conns.values()) {
      c.stopped = true;
      c.socket.destroy();
    }
    this.conns.clear();
  }
}
