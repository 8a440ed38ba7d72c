// The server a board without a serial console is reached through: a scratch reference server per
// scenario that accepts the device when it asks (the operator's click, done for the lab), tells
// the LinkStrategy when the device's deviceconnect link comes up (each connection gets a growing
// id, so "the next boot" is a newer connection, never the one a power cut has not yet closed on
// the server), and opens shell sessions on it as consoles.
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { acceptDevice, startScratchServer, type ScratchServer } from '../../server-mock/admin-client.js';
import type { DeviceLink } from '../../server-mock/deviceconnect/hub.js';
import { DeviceConnectTransport } from '../console/deviceconnect-transport.js';
import { StreamConsole } from '../console/stream-console.js';
import { NoLinkYet, type ConnectLinks } from '../strategy/link-strategy.js';

/** How often the server's device list and connections are looked at (in-process, no sockets). */
const POLL_MS = 200;

/**
 * Connection ids grow across servers too: the board's strategy remembers the last id it used, and
 * the next scenario's fresh server must not hand out a smaller one for its first connection.
 */
let lastLinkId = 0;

export class BundledConnectServer implements ConnectLinks {
  private device: string | null = null;
  private readonly ids = new WeakMap<DeviceLink, number>();
  private closed = false;

  private constructor(
    private readonly server: ScratchServer,
    /** The loopback port the server listens on (QEMU's guestfwd leads the device's server address here). */
    readonly port: number,
  ) {}

  static async start(): Promise<BundledConnectServer> {
    const server = await startScratchServer();
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    return new BundledConnectServer(server, (server.app.server.address() as AddressInfo).port);
  }

  /** The accepted device's id, once it asked. */
  get deviceId(): string | null {
    return this.device;
  }

  async next(after: number | null, timeoutMs: number): Promise<number> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (this.closed) throw new Error('the bundled server was closed');
      const id = await this.look();
      if (id !== null && (after === null || id > after)) return id;
      if (Date.now() > until) throw new NoLinkYet(`the device opened no new deviceconnect link within ${Math.round(timeoutMs / 1000)} s`);
      await sleep(POLL_MS);
    }
  }

  /** Accepts a device that asks; the id of its open connection, or null. */
  private async look(): Promise<number | null> {
    if (!this.device) {
      const identity = await this.pendingIdentity();
      if (identity) this.device = await acceptDevice(this.server, identity);
      return null;
    }
    const link = this.server.app.flipside.connect.link(this.device);
    if (!link || link.closed) return null;
    let id = this.ids.get(link);
    if (id === undefined) this.ids.set(link, (id = ++lastLinkId));
    return id;
  }

  private async pendingIdentity(): Promise<Record<string, string> | null> {
    const r = await this.server.app.inject({ method: 'GET', url: '/api/management/v2/devauth/devices?per_page=500', headers: this.server.auth });
    if (r.statusCode !== 200) throw new Error(`the bundled server's device list answered ${r.statusCode}: ${r.body}`);
    const pending = r.json<Array<{ identity_data: Record<string, string>; auth_sets: Array<{ status: string }> }>>().filter((d) => d.auth_sets.some((a) => a.status === 'pending'));
    return pending[0]?.identity_data ?? null;
  }

  /** A shell session on the device's current connection, as a console (its transcript appended to `transcriptPath`). */
  async openConsole(name: string, transcriptPath: string): Promise<StreamConsole> {
    if (!this.device) throw new Error(`${name}: no device has connected to the bundled server`);
    const transport = new DeviceConnectTransport({ server: `http://127.0.0.1:${this.port}`, device: this.device, token: this.server.adminToken });
    const con = new StreamConsole(transport, { name, transcriptPath, plainTranscriptFile: true });
    await con.open();
    return con;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.server.close();
  }
}
