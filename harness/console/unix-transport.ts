// A console on a unix socket: QEMU's `-chardev socket,path=…,server=on` and similar.
import { connect } from 'node:net';
import { closeStream, waitForReady, type ConsoleLink, type ConsoleTransport } from './transport.js';

export class UnixSocketTransport implements ConsoleTransport {
  readonly description: string;

  constructor(
    private readonly path: string,
    readonly reconnectIntervalMs?: number,
  ) {
    if (!path) throw new Error('unix console: a socket path is required');
    this.description = `unix ${path}`;
  }

  async connect(): Promise<ConsoleLink> {
    const socket = connect(this.path);
    await waitForReady(socket, 'connect', `cannot connect to console socket ${this.path}`);
    return { stream: socket, close: () => closeStream(socket) };
  }
}
