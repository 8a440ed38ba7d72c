// The devices connected over deviceconnect and the sessions running on each connection. A device
// holds one WebSocket (a new one replaces the old); a session (a user's terminal or port forward,
// a server-side file transfer) is a `sid` on that connection, and the device's messages for it
// are handed to the session's peer. Connection state is kept in memory: after a restart every
// device is disconnected until it connects again, which is what it does.
// Under `flipside-server --workers N` the device's connection may be in another worker: a
// ClusterRelay (cluster-relay.ts) finds it and carries the messages; a session then runs on a
// RemoteLink here and on a proxy peer in the device's worker.
import type { WebSocket } from 'ws';
import { randomUUID } from 'node:crypto';
import { CONTROL, PROTO, SHELL, encodeMessage, type ProtoMsg } from '../../connect-protocol/protocol.js';
import type { ClusterRelay, ToWorker } from './cluster-relay.js';

/** Whoever receives a session's messages from the device. */
export interface SessionPeer {
  deliver(msg: ProtoMsg): void;
  /** The device's connection ended (or was replaced) while the session ran. */
  deviceGone(reason: string): void;
}

export interface SessionInfo {
  id: string;
  device_id: string;
  user_id: string;
  user_email: string;
  /** terminal-or-port-forward (a user's WebSocket), download, upload. */
  kind: 'connect' | 'download' | 'upload';
  start_ts: string;
}

/** A device's connection as sessions see it: in this process (DeviceLink) or another (RemoteLink). */
export interface Link {
  readonly deviceId: string;
  readonly sessions: Map<string, SessionPeer>;
  /** False when the connection is gone: the message was not sent. */
  send(msg: ProtoMsg): boolean;
}

export class DeviceLink implements Link {
  readonly sessions = new Map<string, SessionPeer>();
  closed = false;

  constructor(
    readonly deviceId: string,
    private readonly ws: WebSocket,
  ) {}

  /** False when the connection is gone: the message was not sent. */
  send(msg: ProtoMsg): boolean {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return false;
    this.ws.send(encodeMessage(msg));
    return true;
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  /** Ends every session on this connection; called once, when the connection ends. */
  dropSessions(reason: string): void {
    this.closed = true;
    const peers = [...this.sessions.values()];
    this.sessions.clear();
    for (const p of peers) p.deviceGone(reason);
  }
}

/** A device connected to another worker: messages go through the relay. */
export class RemoteLink implements Link {
  readonly sessions = new Map<string, SessionPeer>();
  closed = false;

  constructor(
    readonly deviceId: string,
    /** The worker holding the device's connection. */
    readonly worker: number,
    private readonly relay: ClusterRelay,
  ) {}

  send(msg: ProtoMsg): boolean {
    if (this.closed) return false;
    this.relay.send({ relay: 'to-device', worker: this.worker, device: this.deviceId, msg });
    return true;
  }
}

export interface DeviceConnectionState {
  device_id: string;
  /** unknown: the device has not connected since the server started. */
  status: 'connected' | 'disconnected' | 'unknown';
  created_ts?: string;
  updated_ts?: string;
}

export class ConnectHub {
  private readonly links = new Map<string, DeviceLink>();
  private readonly history = new Map<string, { created: string; updated: string }>();
  private readonly running = new Map<string, SessionInfo>();
  /** Sessions of this worker on devices connected elsewhere, by session id. */
  private readonly remote = new Map<string, RemoteLink>();
  /** Sessions of other workers on devices connected here: session id → the user's worker. */
  private readonly proxies = new Map<string, { from: number; link: DeviceLink }>();

  constructor(private readonly relay?: ClusterRelay) {
    relay?.onRelayed((m) => this.relayed(m));
  }

  /** Registers a device's new connection; an older one is closed (the device reconnected). */
  attach(deviceId: string, ws: WebSocket): DeviceLink {
    const old = this.links.get(deviceId);
    const link = new DeviceLink(deviceId, ws);
    this.links.set(deviceId, link);
    if (old) {
      old.dropSessions('the device opened a new connection');
      old.close(1000, 'replaced by a new connection');
    }
    const now = new Date().toISOString();
    this.history.set(deviceId, { created: this.history.get(deviceId)?.created ?? now, updated: now });
    this.relay?.send({ relay: 'attach', device: deviceId, ts: now });
    return link;
  }

  detach(link: DeviceLink, reason: string): void {
    link.dropSessions(reason);
    if (this.links.get(link.deviceId) !== link) return;
    this.links.delete(link.deviceId);
    const h = this.history.get(link.deviceId);
    const now = new Date().toISOString();
    if (h) h.updated = now;
    this.relay?.send({ relay: 'detach', device: link.deviceId, ts: now });
  }

  /** The device's connection, in this worker or (under --workers) in another. */
  async find(deviceId: string): Promise<Link | undefined> {
    const local = this.links.get(deviceId);
    if (local || !this.relay) return local;
    const worker = await this.relay.locate(deviceId);
    return worker === null || worker === this.relay.self ? undefined : new RemoteLink(deviceId, worker, this.relay);
  }

  /** state(), across every worker under --workers. */
  async connectionState(deviceId: string): Promise<DeviceConnectionState> {
    return (this.relay && (await this.relay.state(deviceId))) || this.state(deviceId);
  }

  /** sessions(), across every worker under --workers. */
  async allSessions(deviceId?: string): Promise<SessionInfo[]> {
    return (this.relay && (await this.relay.sessions(deviceId))) || this.sessions(deviceId);
  }

  /** A message from another worker (through the supervisor). */
  private relayed(m: ToWorker): void {
    const relay = this.relay!;
    switch (m.relay) {
      case 'to-device': {
        const link = this.links.get(m.device);
        const sid = m.msg.hdr.sid;
        if (!link || link.closed) {
          if (sid) relay.send({ relay: 'session-gone', worker: m.from, sid, reason: 'the device is not connected' });
          return;
        }
        if (sid && !link.sessions.has(sid)) {
          link.sessions.set(sid, {
            deliver: (msg) => relay.send({ relay: 'to-session', worker: m.from, sid, msg }),
            deviceGone: (reason) => {
              this.proxies.delete(sid);
              relay.send({ relay: 'session-gone', worker: m.from, sid, reason });
            },
          });
          this.proxies.set(sid, { from: m.from, link });
        }
        link.send(m.msg);
        if (sid && m.msg.hdr.proto === PROTO.control && m.msg.hdr.typ === CONTROL.close) {
          link.sessions.delete(sid);
          this.proxies.delete(sid);
        }
        return;
      }
      case 'to-session':
        this.remote.get(m.sid)?.sessions.get(m.sid)?.deliver(m.msg);
        return;
      case 'session-gone': {
        const link = this.remote.get(m.sid);
        const peer = link?.sessions.get(m.sid);
        this.remote.delete(m.sid);
        link?.sessions.delete(m.sid);
        peer?.deviceGone(m.reason);
        return;
      }
      case 'replaced':
        this.links.get(m.device)?.close(1000, 'replaced by a new connection');
        return;
      case 'worker-gone':
        // The user's worker died: the device ends what its sessions left running.
        for (const [sid, p] of [...this.proxies]) {
          if (p.from !== m.worker) continue;
          this.proxies.delete(sid);
          p.link.sessions.delete(sid);
          p.link.send({ hdr: { proto: PROTO.shell, typ: SHELL.stop, sid } });
          p.link.send({ hdr: { proto: PROTO.control, typ: CONTROL.close, sid } });
        }
        // The device's worker died: its sessions here end as if the device had gone.
        for (const [sid, link] of [...this.remote]) {
          if (link.worker !== m.worker) continue;
          this.remote.delete(sid);
          link.closed = true;
          const peer = link.sessions.get(sid);
          link.sessions.delete(sid);
          peer?.deviceGone('the server process holding the device connection stopped');
        }
        return;
      case 'answer':
        return;
    }
  }

  link(deviceId: string): DeviceLink | undefined {
    return this.links.get(deviceId);
  }

  state(deviceId: string): DeviceConnectionState {
    const h = this.history.get(deviceId);
    return { device_id: deviceId, status: this.links.has(deviceId) ? 'connected' : h ? 'disconnected' : 'unknown', ...(h ? { created_ts: h.created, updated_ts: h.updated } : {}) };
  }

  /** Opens a session on the device's connection; the peer gets the device's messages for it. */
  openSession(link: Link, peer: SessionPeer, who: Omit<SessionInfo, 'id' | 'device_id' | 'start_ts'>): SessionInfo {
    const info: SessionInfo = { id: randomUUID(), device_id: link.deviceId, start_ts: new Date().toISOString(), ...who };
    link.sessions.set(info.id, peer);
    this.running.set(info.id, info);
    if (link instanceof RemoteLink) this.remote.set(info.id, link);
    this.relay?.send({ relay: 'session-open', info });
    return info;
  }

  closeSession(link: Link, sid: string): void {
    link.sessions.delete(sid);
    this.remote.delete(sid);
    if (this.running.delete(sid)) this.relay?.send({ relay: 'session-close', sid });
  }

  sessions(deviceId?: string): SessionInfo[] {
    return [...this.running.values()].filter((s) => !deviceId || s.device_id === deviceId);
  }

  /** Closes every device connection (server shutdown). */
  closeAll(): void {
    this.relay?.close();
    for (const link of [...this.links.values()]) {
      this.detach(link, 'the server is shutting down');
      link.close(1001, 'server shutting down');
    }
  }
}
