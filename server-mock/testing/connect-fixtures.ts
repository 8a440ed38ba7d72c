// Test helpers for deviceconnect: a listening server with an accepted device whose real
// device-side client (client/connect) is connected, and a user's WebSocket session read as a queue.
import type { AddressInfo } from 'node:net';
import type { ExecutionContext } from 'ava';
import WebSocket from 'ws';
import { startTestServer, acceptedDevice, type TestServer } from './fixtures.js';
import type { BuildServerOptions } from '../app.js';
import type { SimDevice } from './device-sim.js';
import { DeviceConnect, type DeviceConnectOptions } from '../../client/connect/device-connect.js';
import { decodeMessage, encodeMessage, type ProtoMsg } from '../../connect-protocol/protocol.js';

export interface ConnectedDevice {
  s: TestServer;
  url: string;
  device: SimDevice;
  deviceId: string;
  client: DeviceConnect;
  log: string[];
}

/** `server` adds to the server's deviceconnect options (e.g. a recording retention policy). */
export async function connectedDevice(t: ExecutionContext, o: Partial<DeviceConnectOptions> = {}, server: NonNullable<BuildServerOptions['deviceConnect']> = {}): Promise<ConnectedDevice> {
  const s = await startTestServer({ deviceConnect: { transferIdleMs: 30_000, ...server } });
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`;
  const device = await acceptedDevice(s);
  const log: string[] = [];
  const client = new DeviceConnect({ server: () => url, token: () => device.token ?? null, tokenRefused: () => undefined, log: (l) => log.push(l), reconnectMs: { min: 50, max: 500 }, ...o });
  t.teardown(async () => {
    client.stop();
    await s.close();
  });
  client.start();
  await client.connected();
  return { s, url, device, deviceId: device.deviceId!, client, log };
}

/** A user's WebSocket to a device: messages queue up until read. */
export class UserSocket {
  private readonly queue: ProtoMsg[] = [];
  private waiter: ((m: ProtoMsg | null) => void) | null = null;
  closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const m = decodeMessage(data);
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(m);
      } else this.queue.push(m);
    });
    this.closed = new Promise((r) =>
      ws.on('close', (code, reason) => {
        this.waiter?.(null);
        r({ code, reason: reason.toString('utf8') });
      }),
    );
  }

  static open(url: string, deviceId: string, token: string): Promise<UserSocket | { status: number; body: string }> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/management/v1/deviceconnect/devices/${deviceId}/connect`, { headers: { Authorization: `Bearer ${token}` } });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new UserSocket(ws)));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      ws.once('error', reject);
    });
  }

  send(msg: ProtoMsg): void {
    this.ws.send(encodeMessage(msg));
  }

  /** The next message; null when the socket closed first. */
  next(): Promise<ProtoMsg | null> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve(null);
    return new Promise((r) => (this.waiter = r));
  }

  /** Reads until `done` says so (or the socket closes); returns what was read. */
  async until(done: (m: ProtoMsg) => boolean): Promise<ProtoMsg[]> {
    const seen: ProtoMsg[] = [];
    for (;;) {
      const m = await this.next();
      if (!m) return seen;
      seen.push(m);
      if (done(m)) return seen;
    }
  }
}

export async function openUser(t: ExecutionContext, c: ConnectedDevice, token = c.s.adminToken): Promise<UserSocket> {
  const u = await UserSocket.open(c.url, c.deviceId, token);
  if (!(u instanceof UserSocket)) throw new Error(`connect refused: ${u.status} ${u.body}`);
  t.teardown(() => u.ws.terminate());
  return u;
}
