// The server a lab board without a serial console is reached through, when the user runs it (a
// Flipside or Mender server on the bench, not a scenario's bundled one): as labgrid's drivers do,
// everything comes from the board file (server URL, the device by id or identity attributes, the
// CA) except the credentials, a user's management token from a file or the environment.
// The device's connect link is watched through the deviceconnect management API, as a user sees
// it: `GET /api/management/v1/deviceconnect/devices/{id}` says connected or disconnected, and its
// updated_ts changes with every new connection, so "the next boot" is a connection with an
// updated_ts not seen before. The shell opens on `/connect`, the WebSocket `mender-cli terminal`
// uses. A wrong token, a device the server does not know or has not accepted fail at once, with
// what to do; only a device that does not connect waits out the board file's deadline.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BoardFile } from '../../boards/schema.js';
import { DeviceConnectTransport, resolveToken } from '../console/deviceconnect-transport.js';
import { StreamConsole } from '../console/stream-console.js';
import { NoLinkYet, type ConnectLinks } from '../strategy/link-strategy.js';

type DeviceConnectConsole = Extract<NonNullable<BoardFile['lab']>['console'], { type: 'deviceconnect' }>;

/** How often the device's connection state is asked for while a boot is awaited. */
const POLL_MS = 500;

/** Connection ids grow across instances, as the bundled server's do (connect-server.ts). */
let lastLinkId = 0;

/** The server answered something the board file or the user must fix (not something to wait out). */
export class ServerLinkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServerLinkError';
  }
}

export interface ServerLinksOptions {
  board: string;
  /** The server's base URL as the harness reaches it. */
  server: string;
  token: string;
  /** Where the token came from, for the message when the server refuses it. */
  tokenSource: string;
  /** PEM text of the CA the server's certificate chains to. */
  ca?: string;
  /** The device's id, or the identity attributes to find it by. */
  device?: string;
  identity?: Record<string, string>;
  pollMs?: number;
}

interface ConnectionState {
  status: 'connected' | 'disconnected' | 'unknown';
  created_ts?: string;
  updated_ts?: string;
}

interface DevauthDevice {
  id: string;
  status: string;
  identity_data: Record<string, unknown>;
}

export class ServerConnectLinks implements ConnectLinks {
  private device: string | null;
  private checked = false;
  /** Connection (its updated_ts) → id, in the order first seen. */
  private readonly ids = new Map<string, number>();
  /** The id of a connection a power cut ended, which the server may not have noticed yet. */
  private stale: number | null = null;

  constructor(private readonly o: ServerLinksOptions) {
    this.device = o.device ?? null;
  }

  /** From a board file's deviceconnect console: the token from its file or environment variable, the CA read. */
  static fromBoardFile(board: string, c: DeviceConnectConsole, o: { pollMs?: number } = {}): ServerConnectLinks {
    const what = `board ${board}: deviceconnect console`;
    const token = resolveToken(c, what);
    let ca: string | undefined;
    if (c.ca) {
      try {
        ca = readFileSync(c.ca, 'utf8');
      } catch (e) {
        throw new ServerLinkError(`${what}: cannot read the CA file ${c.ca}: ${(e as Error).message}`);
      }
    }
    return new ServerConnectLinks({
      board,
      server: c.server,
      token,
      tokenSource: c.tokenFile ? `the token file ${c.tokenFile}` : `$${c.tokenEnv ?? 'FLIPSIDE_TOKEN'}`,
      ...(ca ? { ca } : {}),
      ...(c.device ? { device: c.device } : {}),
      ...(c.identity ? { identity: c.identity } : {}),
      ...o,
    });
  }

  /** The device's id on the server, once it is known to exist and to be accepted (else a ServerLinkError saying what to do). */
  async deviceId(): Promise<string> {
    const id = await this.acceptedDevice();
    if (id === null)
      throw new ServerLinkError(`${this.o.board}: no device with identity ${identityText(this.o.identity ?? {})} on ${this.o.server}: has the board booted with this server's address and asked to be admitted?`);
    return id;
  }

  /**
   * What can be checked before a card is flashed: the token, and a device the server already
   * knows (by id, or found by identity) must be accepted. A device named by identity that has
   * never asked is fine here: the card about to be flashed makes it ask (a board's first run).
   */
  async checkBeforeFlashing(): Promise<void> {
    await this.acceptedDevice();
  }

  /** The accepted device's id; null: none with the identity has asked yet. */
  private async acceptedDevice(): Promise<string | null> {
    if (this.device && this.checked) return this.device;
    const dev = this.device ? await this.byId(this.device) : await this.byIdentity(this.o.identity ?? {});
    if (!dev) return null;
    if (dev.status !== 'accepted')
      throw new ServerLinkError(
        `${this.o.board}: device ${dev.id} (${identityText(dev.identity_data)}) is ${dev.status} on ${this.o.server}, not accepted: accept it (the UI's Devices page, or PUT /api/management/v2/devauth/devices/${dev.id}/auth/<auth set>/status) and run again`,
      );
    this.device = dev.id;
    this.checked = true;
    return dev.id;
  }

  async next(after: number | null, timeoutMs: number): Promise<number> {
    const floor = Math.max(after ?? 0, this.stale ?? 0);
    const until = Date.now() + timeoutMs;
    for (;;) {
      // A device named by identity may ask to be admitted only now (its first card): wait for it;
      // once it has asked, one the user has not accepted fails at once.
      const device = await this.acceptedDevice();
      const id = device === null ? null : await this.current(device);
      if (id !== null && id > floor) return id;
      if (Date.now() > until)
        throw new NoLinkYet(
          device === null
            ? `no device with identity ${identityText(this.o.identity ?? {})} asked ${this.o.server} to be admitted within ${Math.round(timeoutMs / 1000)} s`
            : `device ${device} opened no new deviceconnect link on ${this.o.server} within ${Math.round(timeoutMs / 1000)} s`,
        );
      await sleep(this.o.pollMs ?? POLL_MS);
    }
  }

  /**
   * The power was cut: the connection the server shows now is from before, even where the server
   * has not noticed yet (no TCP close from a board without power); the next boot is a newer one.
   */
  async forgetCurrent(): Promise<void> {
    // Only a device the server knows has a connection to forget.
    if (!this.device || !this.checked) return;
    const id = await this.current(this.device);
    if (id !== null) this.stale = Math.max(this.stale ?? 0, id);
  }

  /** A shell session on the device's current connection, as a console (its transcript appended to `transcriptPath`). */
  async openConsole(name: string, transcriptPath: string): Promise<StreamConsole> {
    const device = await this.deviceId();
    const transport = new DeviceConnectTransport({ server: this.o.server, device, token: this.o.token, ...(this.o.ca ? { ca: this.o.ca } : {}) });
    const con = new StreamConsole(transport, { name, transcriptPath, plainTranscriptFile: true });
    await con.open();
    return con;
  }

  /** The id of the device's open connection, or null. */
  private async current(device: string): Promise<number | null> {
    const s = await this.get<ConnectionState>(`/api/management/v1/deviceconnect/devices/${encodeURIComponent(device)}`, `device ${device}'s connection state`);
    if (s.status !== 'connected') return null;
    const key = s.updated_ts ?? s.created_ts ?? 'connected';
    let id = this.ids.get(key);
    if (id === undefined) this.ids.set(key, (id = ++lastLinkId));
    return id;
  }

  private async byId(id: string): Promise<DevauthDevice> {
    return this.get<DevauthDevice>(`/api/management/v2/devauth/devices/${encodeURIComponent(id)}`, `device ${id}`);
  }

  private async byIdentity(identity: Record<string, string>): Promise<DevauthDevice | null> {
    const want = Object.entries(identity);
    const found: DevauthDevice[] = [];
    for (let page = 1; ; page++) {
      const devices = await this.get<DevauthDevice[]>(`/api/management/v2/devauth/devices?page=${page}&per_page=500`, 'the device list');
      found.push(...devices.filter((d) => want.every(([k, v]) => String(d.identity_data[k]) === v)));
      if (devices.length < 500) break;
    }
    if (found.length === 0) return null;
    if (found.length > 1) throw new ServerLinkError(`${this.o.board}: ${found.length} devices match identity ${identityText(identity)} on ${this.o.server} (${found.map((d) => d.id).join(', ')}): name more attributes, or the device id`);
    return found[0]!;
  }

  /** GET on the server with the user's token; answers other than 200 become errors that say what to fix. */
  private async get<T>(path: string, what: string): Promise<T> {
    const base = this.o.server.replace(/\/$/, '');
    let r: { status: number; body: string };
    try {
      r = await getText(`${base}${path}`, this.o.token, this.o.ca);
    } catch (e) {
      throw new ServerLinkError(`${this.o.board}: cannot reach ${this.o.server} for ${what}: ${(e as Error).message}`);
    }
    if (r.status === 200) return JSON.parse(r.body) as T;
    const said = errorText(r.body);
    if (r.status === 401) throw new ServerLinkError(`${this.o.board}: ${this.o.server} refused the management token from ${this.o.tokenSource} (401${said ? `: ${said}` : ''}): log in again and put the new token there`);
    if (r.status === 403) throw new ServerLinkError(`${this.o.board}: the user of the token from ${this.o.tokenSource} may not read ${what} on ${this.o.server} (403${said ? `: ${said}` : ''}): it needs a role with ReadDevices and ConnectToDevices`);
    if (r.status === 404) throw new ServerLinkError(`${this.o.board}: ${this.o.server} knows no ${what} (404${said ? `: ${said}` : ''}): check the board file's device id`);
    throw new ServerLinkError(`${this.o.board}: ${this.o.server} answered ${r.status} for ${what}${said ? `: ${said}` : ''}`);
  }
}

function identityText(identity: Record<string, unknown>): string {
  return Object.entries(identity)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ');
}

function errorText(body: string): string {
  try {
    return (JSON.parse(body) as { error?: string }).error ?? body.trim();
  } catch {
    return body.trim();
  }
}

/** A GET with a bearer token, trusting `ca` for https (fetch cannot take a CA per request). */
function getText(url: string, token: string, ca?: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(u, { method: 'GET', headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, timeout: 15_000, ...(ca && u.protocol === 'https:' ? { ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 15 s')));
    req.on('error', reject);
    req.end();
  });
}
