// The devices connected over deviceconnect and the sessions running on each connection. A device
// holds one WebSocket (a new one replaces the old); a session (a user's terminal or port forward,
// a server-side file transfer) is a `sid` on that connection, and the device's messages for it
// are handed to the session's peer. Connection state is kept in memory: after a restart every
// device is disconnected until it connects again, which is what it does.
import type { WebSocket } from 'ws';
import { randomUUID } from 'node:crypto';
import { encodeMessage, type ProtoMsg } from '../../connect-protocol/protocol.js';

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

export class DeviceLink {
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
    return link;
  }

  detach(link: DeviceLink, reason: string): void {
    link.dropSessions(reason);
    if (this.links.get(link.deviceId) !== link) return;
    this.links.delete(link.deviceId);
    const h = this.history.get(link.deviceId);
    if (h) h.updated = new Date().toISOString();
  }

  link(deviceId: string): DeviceLink | undefined {
    return this.links.get(deviceId);
  }

  state(deviceId: string): DeviceConnectionState {
    const h = this.history.get(deviceId);
    return { device_id: deviceId, status: this.links.has(deviceId) ? 'connected' : h ? 'disconnected' : 'unknown', ...(h ? { created_ts: h.created, updated_ts: h.updated } : {}) };
  }

  /** Opens a session on the device's connection; the peer gets the device's messages for it. */
  openSession(link: DeviceLink, peer: SessionPeer, who: Omit<SessionInfo, 'id' | 'device_id' | 'start_ts'>): SessionInfo {
    const info: SessionInfo = { id: randomUUID(), device_id: link.deviceId, start_ts: new Date().toISOString(), ...who };
    link.sessions.set(info.id, peer);
    this.running.set(info.id, info);
    return info;
  }

  closeSession(link: DeviceLink, sid: string): void {
    link.sessions.delete(sid);
    this.running.delete(sid);
  }

  sessions(deviceId?: string): SessionInfo[] {
    return [...this.running.values()].filter((s) => !deviceId || s.device_id === deviceId);
  }

  /** Closes every device connection (server shutdown). */
  closeAll(): void {
    for (const link of [...this.links.values()]) {
      this.detach(link, 'the server is shutting down');
      link.close(1001, 'server shutting down');
    }
  }
}
