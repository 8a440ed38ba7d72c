// A TCP proxy between a device and the server that can misbehave on command: the network side of
// the board model (drop, restore, shape) plus exact faults — cut a connection after byte N,
// refuse connections, drop for a while — with byte counters and events a fault scheduler triggers
// on. Data flows through Pumps (pump.ts) with backpressure end to end: nothing here buffers more
// than a bounded window per direction and connection.
import { EventEmitter } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Network, NetworkShape } from '../types.js';
import { checkShape, LinkShaper } from './link-shaper.js';
import { Pump, type Direction } from './pump.js';

export interface FaultProxyOptions {
  /** Where the real server listens. */
  target: { host: string; port: number };
  /** Where the proxy listens (127.0.0.1 and a free port by default; a real board needs a LAN address). */
  listen?: { host?: string; port?: number };
  name?: string;
  /** Seeds the loss draws so a run replays the same stalls. */
  seed?: number;
  /** First retransmission stall of a lost segment (doubles per consecutive loss). */
  lossRtoMs?: number;
  /** Consecutive losses after which a connection is reset. */
  lossMaxRetries?: number;
  /** How long a cut connection may stay half-open (FIN sent) before it is closed. */
  cutGraceMs?: number;
}

export interface ProxyStats {
  connections: number;
  active: number;
  held: number;
  refused: number;
  cuts: number;
  resets: number;
  /** Bytes delivered client → server. */
  bytesUp: number;
  /** Bytes delivered server → client. */
  bytesDown: number;
}

export interface BytesEvent {
  direction: Direction;
  bytes: number;
  /** Running total in that direction since the proxy started. */
  total: number;
  connection: number;
}

export interface CutEvent {
  direction: Direction;
  connection: number;
  /** Bytes that passed in that direction since the cut was armed. */
  bytes: number;
}

export type DropMode = 'hold' | 'refuse';

export class FaultProxy extends EventEmitter implements Network {
  readonly name: string;
  private readonly server: Server;
  private readonly links: Record<Direction, LinkShaper>;
  private readonly connections = new Map<number, ProxyConnection>();
  private readonly heldSockets = new Map<number, Socket>();
  private readonly totals = { connections: 0, refused: 0, cuts: 0, resets: 0, bytesUp: 0, bytesDown: 0 };
  private cutArm: { direction: Direction; at: number; passed: number } | null = null;
  private dropped: DropMode | null = null;
  private refusing = false;
  private restoreTimer: NodeJS.Timeout | null = null;
  private address: AddressInfo | null = null;

  constructor(private readonly opts: FaultProxyOptions) {
    super();
    const { host, port } = opts.target ?? {};
    if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`fault proxy: target must be {host, port 1–65535}, got ${JSON.stringify(opts.target)}`);
    }
    this.name = opts.name ?? `proxy→${host}:${port}`;
    const loss = { rtoMs: opts.lossRtoMs ?? 200, maxRetries: opts.lossMaxRetries ?? 6 };
    const seed = opts.seed ?? 1;
    // Independent generators per direction, so traffic in one direction does not shift the other's draws.
    this.links = { up: new LinkShaper(seed, loss), down: new LinkShaper(seed ^ 0x5bd1e995, loss) };
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.accept(socket));
    // After listen() succeeded, accept errors (EMFILE…) must not crash the run; they are reported
    // as 'warning' events and the connection attempt simply fails for the client.
    this.server.on('error', (e) => {
      if (this.address) this.emit('warning', e);
    });
  }

  async listen(): Promise<{ host: string; port: number }> {
    const host = this.opts.listen?.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.listen?.port ?? 0, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.address = this.server.address() as AddressInfo;
    return { host: this.address.address, port: this.address.port };
  }

  get port(): number {
    if (!this.address) throw new Error(`${this.name}: not listening yet`);
    return this.address.port;
  }

  async close(): Promise<void> {
    this.clearRestoreTimer();
    for (const c of this.connections.values()) c.reset('proxy closed');
    for (const s of this.heldSockets.values()) hardClose(s);
    this.heldSockets.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  stats(): ProxyStats {
    return { ...this.totals, active: this.connections.size, held: this.heldSockets.size };
  }

  /** Running totals for a fault scheduler's byte trigger (server → client by default). */
  onBytes(listener: (total: number) => void, direction: Direction = 'down'): () => void {
    const handler = (e: BytesEvent) => {
      if (e.direction === direction) listener(e.total);
    };
    this.on('bytes', handler);
    return () => this.off('bytes', handler);
  }

  /**
   * Once `bytes` more bytes have passed in `direction` (server → client by default), the connection
   * carrying the last of them is cut: exactly those bytes reach the receiver, which then sees the
   * stream end (FIN; a reset would discard bytes still queued for it) and, if it keeps the socket
   * open, is closed after `cutGraceMs`; the other side is reset at once. One-shot: later connections (a resumed download) pass.
   */
  cutAtByte(bytes: number, direction: Direction = 'down'): void {
    if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`${this.name}: cutAtByte needs a byte count >= 0, got ${bytes}`);
    if (direction !== 'up' && direction !== 'down') throw new RangeError(`${this.name}: direction must be 'up' or 'down', got ${direction}`);
    this.cutArm = { direction, at: bytes, passed: 0 };
  }

  /**
   * Takes the link down: open connections are reset, and new ones are held unanswered ('hold', a
   * pulled cable: the client's connect succeeds locally but nothing comes back until restore) or
   * reset at once ('refuse').
   */
  async drop(mode: DropMode = 'hold'): Promise<void> {
    if (mode !== 'hold' && mode !== 'refuse') throw new RangeError(`${this.name}: drop mode must be 'hold' or 'refuse', got ${mode}`);
    this.clearRestoreTimer();
    this.dropped = mode;
    for (const c of [...this.connections.values()]) c.reset('link dropped');
    if (mode === 'refuse') this.releaseHeld(false);
  }

  /** Drops for `ms`, then restores by itself. */
  async dropFor(ms: number, mode: DropMode = 'hold'): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`${this.name}: dropFor needs ms >= 0, got ${ms}`);
    await this.drop(mode);
    this.restoreTimer = setTimeout(() => void this.restore(), ms);
  }

  /** New connections are reset as they arrive (the server is down); open ones carry on. */
  async refuse(): Promise<void> {
    this.refusing = true;
  }

  /** Undoes drop(), dropFor() and refuse(); held connections are connected through now. */
  async restore(): Promise<void> {
    this.clearRestoreTimer();
    this.dropped = null;
    this.refusing = false;
    this.releaseHeld(true);
  }

  /** Rate, latency and loss for both directions from now on; `{}` removes shaping. */
  async shape(shape: NetworkShape): Promise<void> {
    checkShape(shape, this.name);
    this.links.up.set(shape);
    this.links.down.set(shape);
  }

  private accept(client: Socket): void {
    const id = ++this.totals.connections;
    this.emit('connection', { connection: id });
    if (this.refusing || this.dropped === 'refuse') {
      this.totals.refused++;
      hardClose(client);
      return;
    }
    if (this.dropped === 'hold') {
      this.heldSockets.set(id, client);
      client.once('close', () => this.heldSockets.delete(id));
      client.on('error', () => {});
      return;
    }
    this.forward(id, client);
  }

  private releaseHeld(connectThrough: boolean): void {
    const held = [...this.heldSockets];
    this.heldSockets.clear();
    for (const [id, client] of held) {
      if (client.destroyed) continue;
      if (connectThrough) this.forward(id, client);
      else {
        this.totals.refused++;
        hardClose(client);
      }
    }
  }

  private forward(id: number, client: Socket): void {
    const conn = new ProxyConnection(id, client, this.opts.target, this.links, {
      allowance: (direction) => {
        const arm = this.cutArm;
        return arm && arm.direction === direction ? arm.at - arm.passed : Infinity;
      },
      delivered: (direction, bytes) => {
        if (this.cutArm?.direction === direction) this.cutArm.passed += bytes;
        const total = direction === 'up' ? (this.totals.bytesUp += bytes) : (this.totals.bytesDown += bytes);
        this.emit('bytes', { direction, bytes, total, connection: id } satisfies BytesEvent);
      },
      cut: (direction) => {
        const passed = this.cutArm?.passed ?? 0;
        this.cutArm = null;
        this.totals.cuts++;
        conn.cut(direction, this.opts.cutGraceMs ?? 1000);
        this.emit('cut', { direction, connection: id, bytes: passed } satisfies CutEvent);
      },
      reset: (reason) => {
        this.totals.resets++;
        conn.reset(reason);
        this.emit('reset', { connection: id, reason });
      },
    });
    this.connections.set(id, conn);
    conn.closed.then(() => this.connections.delete(id));
  }

  private clearRestoreTimer(): void {
    if (this.restoreTimer) clearTimeout(this.restoreTimer);
    this.restoreTimer = null;
  }
}

/** A client socket, its upstream socket and the two pumps between them. */
class ProxyConnection {
  readonly closed: Promise<void>;
  private readonly upstream: Socket;
  private readonly pumps: Pump[] = [];
  private ending = false;

  constructor(
    readonly id: number,
    private readonly client: Socket,
    target: { host: string; port: number },
    links: Record<Direction, LinkShaper>,
    hooks: ConstructorParameters<typeof Pump>[4],
  ) {
    this.upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true });
    client.on('error', () => {});
    this.upstream.on('error', () => {});
    const closedSide = (s: Socket) => new Promise<void>((r) => (s.destroyed && s.closed ? r() : s.once('close', () => r())));
    this.closed = Promise.all([closedSide(client), closedSide(this.upstream)]).then(() => undefined);
    this.upstream.once('connect', () => {
      this.pumps.push(new Pump(client, this.upstream, 'up', links.up, hooks), new Pump(this.upstream, client, 'down', links.down, hooks));
      for (const p of this.pumps) void p.run();
    });
    // The server refusing or vanishing before connect: the client sees a reset, as it would end to end.
    this.upstream.once('error', (e) => {
      if (!this.upstream.connecting && this.pumps.length > 0) return;
      this.reset(`upstream: ${e.message}`);
    });
  }

  /** Both sides reset now. */
  reset(_reason: string): void {
    if (this.ending) return;
    this.ending = true;
    for (const p of this.pumps) p.stop();
    hardClose(this.client);
    hardClose(this.upstream);
  }

  /** The receiving side of `direction` gets its bytes and a FIN, then a reset; the sending side is reset now. */
  cut(direction: Direction, graceMs: number): void {
    if (this.ending) return;
    this.ending = true;
    for (const p of this.pumps) p.stop();
    const [receiver, sender] = direction === 'down' ? [this.client, this.upstream] : [this.upstream, this.client];
    hardClose(sender);
    if (receiver.destroyed) return;
    receiver.end();
    const timer = setTimeout(() => receiver.destroy(), graceMs);
    receiver.once('close', () => clearTimeout(timer));
  }
}

/**
 * Resets a socket (RST) where that is possible. A socket that already sent its FIN cannot be reset
 * (libuv refuses, and Node then never releases the handle), so it is destroyed instead.
 */
function hardClose(s: Socket): void {
  if (s.destroyed) return;
  if (s.writableEnded || s.connecting) s.destroy();
  else s.resetAndDestroy();
}
