// deviceconnect across the processes of `flipside-server --workers N`. A device's WebSocket lives
// in one worker, a user's (terminal, port forward, file transfer, check-update) may land in
// another: the workers pass the protocol messages through the supervisor's IPC channels, which
// also keep the registry of which worker holds which device and the sessions running.
//
//   user ⇄ worker A ──(to-device: device id + message)──▶ supervisor ──▶ worker B ⇄ device
//   user ⇄ worker A ◀──(to-session: session id + message)── supervisor ◀── worker B ⇄ device
//
// The registry is the supervisor's memory: it lives exactly as long as the connections it lists
// (a worker's death drops its devices and sessions and tells the others, which end the sessions
// that crossed it). The IPC channel keeps each pair's messages in order.
import type { Cluster, Worker } from 'node:cluster';
import type { ProtoMsg } from '../../connect-protocol/protocol.js';
import type { DeviceConnectionState, SessionInfo } from './hub.js';

type Question = { q: 'locate'; device: string } | { q: 'state'; device: string } | { q: 'sessions'; device?: string };

/** What a worker sends to the supervisor. */
export type ToPrimary =
  | { relay: 'attach' | 'detach'; device: string; ts: string }
  | { relay: 'session-open'; info: SessionInfo }
  | { relay: 'session-close'; sid: string }
  | { relay: 'to-device'; worker: number; device: string; msg: ProtoMsg }
  | { relay: 'to-session' | 'session-gone'; worker: number; sid: string; msg?: ProtoMsg; reason?: string }
  | ({ relay: 'ask'; id: number } & Question);

/** What the supervisor sends to a worker. */
export type ToWorker =
  | { relay: 'to-device'; from: number; device: string; msg: ProtoMsg }
  | { relay: 'to-session'; sid: string; msg: ProtoMsg }
  | { relay: 'session-gone'; sid: string; reason: string }
  | { relay: 'replaced'; device: string }
  | { relay: 'worker-gone'; worker: number }
  | { relay: 'answer'; id: number; value: unknown };

const isRelay = (m: unknown): m is { relay: string } => typeof m === 'object' && m !== null && typeof (m as { relay?: unknown }).relay === 'string';

/** The supervisor's side: the registry, the answers, the forwarding. */
export function relayPrimary(cluster: Cluster): void {
  const devices = new Map<string, { worker: number | null; created: string; updated: string }>();
  const sessions = new Map<string, SessionInfo & { worker: number }>();
  const send = (id: number, m: ToWorker): boolean => {
    const w = cluster.workers?.[id];
    if (!w || w.isDead() || !w.isConnected()) return false;
    w.send(m);
    return true;
  };
  const answer = (q: Question): unknown => {
    if (q.q === 'locate') return devices.get(q.device)?.worker ?? null;
    if (q.q === 'sessions') return [...sessions.values()].filter((s) => !q.device || s.device_id === q.device).map(({ worker: _w, ...s }) => s);
    const d = devices.get(q.device);
    const state: DeviceConnectionState = { device_id: q.device, status: d ? (d.worker !== null ? 'connected' : 'disconnected') : 'unknown', ...(d ? { created_ts: d.created, updated_ts: d.updated } : {}) };
    return state;
  };
  cluster.on('message', (w: Worker, m: unknown) => {
    if (!isRelay(m)) return;
    const msg = m as ToPrimary;
    switch (msg.relay) {
      case 'attach': {
        const d = devices.get(msg.device);
        if (d?.worker != null && d.worker !== w.id) send(d.worker, { relay: 'replaced', device: msg.device });
        devices.set(msg.device, { worker: w.id, created: d?.created ?? msg.ts, updated: msg.ts });
        break;
      }
      case 'detach': {
        const d = devices.get(msg.device);
        if (d && d.worker === w.id) Object.assign(d, { worker: null, updated: msg.ts });
        break;
      }
      case 'session-open':
        sessions.set(msg.info.id, { ...msg.info, worker: w.id });
        break;
      case 'session-close':
        sessions.delete(msg.sid);
        break;
      case 'to-device':
        if (!send(msg.worker, { relay: 'to-device', from: w.id, device: msg.device, msg: msg.msg }) && msg.msg.hdr.sid) {
          w.send({ relay: 'session-gone', sid: msg.msg.hdr.sid, reason: 'the server process holding the device connection stopped' } satisfies ToWorker);
        }
        break;
      case 'to-session':
        send(msg.worker, { relay: 'to-session', sid: msg.sid, msg: msg.msg! });
        break;
      case 'session-gone':
        send(msg.worker, { relay: 'session-gone', sid: msg.sid, reason: msg.reason ?? 'ended' });
        break;
      case 'ask':
        w.send({ relay: 'answer', id: msg.id, value: answer(msg) } satisfies ToWorker);
        break;
    }
  });
  cluster.on('exit', (w: Worker) => {
    const ts = new Date().toISOString();
    for (const d of devices.values()) if (d.worker === w.id) Object.assign(d, { worker: null, updated: ts });
    for (const [sid, s] of sessions) if (s.worker === w.id) sessions.delete(sid);
    for (const other of Object.values(cluster.workers ?? {})) if (other && other !== w) send(other.id, { relay: 'worker-gone', worker: w.id });
  });
}

/** The worker's side, used by ConnectHub (hub.ts). */
export class ClusterRelay {
  private nextId = 1;
  private readonly waiting = new Map<number, (v: unknown) => void>();
  private handler: (m: ToWorker) => void = () => {};

  constructor(
    /** This worker's cluster id (unique for the supervisor's life; a restarted worker gets a new one). */
    readonly self: number,
    private readonly channel: { send(m: ToPrimary): unknown; on(event: 'message', fn: (m: unknown) => void): unknown; off(event: 'message', fn: (m: unknown) => void): unknown },
  ) {
    channel.on('message', this.onMessage);
  }

  private readonly onMessage = (m: unknown): void => {
    if (!isRelay(m)) return;
    const msg = m as ToWorker;
    if (msg.relay === 'answer') {
      this.waiting.get(msg.id)?.(msg.value);
      this.waiting.delete(msg.id);
      return;
    }
    this.handler(msg);
  };

  /** The hub's handler for messages from other workers. */
  onRelayed(fn: (m: ToWorker) => void): void {
    this.handler = fn;
  }

  /** Dropped when the channel to the supervisor is gone (this worker is stopping). */
  send(m: ToPrimary): void {
    try {
      this.channel.send(m);
    } catch {
      // ERR_IPC_CHANNEL_CLOSED: the supervisor dropped this worker; nobody is left to tell.
    }
  }

  private ask<T>(q: Question): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve) => {
      this.waiting.set(id, resolve as (v: unknown) => void);
      this.send({ relay: 'ask', id, ...q });
    });
  }

  /** The worker holding the device's connection, or null. */
  locate(device: string): Promise<number | null> {
    return this.ask({ q: 'locate', device });
  }
  state(device: string): Promise<DeviceConnectionState> {
    return this.ask({ q: 'state', device });
  }
  sessions(device?: string): Promise<SessionInfo[]> {
    return this.ask({ q: 'sessions', ...(device ? { device } : {}) });
  }

  close(): void {
    this.channel.off('message', this.onMessage);
    for (const done of this.waiting.values()) done(null);
    this.waiting.clear();
  }
}
