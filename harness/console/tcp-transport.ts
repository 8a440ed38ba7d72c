// A console exported over TCP, as ser2net does: `raw` passes bytes as they are, `telnet` speaks just
// enough of the telnet protocol (telnet-stream.ts) to get a clean 8-bit stream.
import { connect } from 'node:net';
import { TelnetStream } from './telnet-stream.js';
import { closeStream, waitForReady, type ConsoleLink, type ConsoleTransport } from './transport.js';

export class TcpTransport implements ConsoleTransport {
  readonly description: string;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly mode: 'raw' | 'telnet' = 'raw',
    readonly reconnectIntervalMs?: number,
  ) {
    if (!host) throw new Error('tcp console: a host is required');
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`tcp console: port must be 1–65535, got ${port}`);
    this.description = `${mode === 'telnet' ? 'telnet' : 'tcp'} ${host}:${port}`;
  }

  async connect(): Promise<ConsoleLink> {
    const socket = connect({ host: this.host, port: this.port });
    await waitForReady(socket, 'connect', `cannot connect to console ${this.description}`);
    socket.setNoDelay(true);
    const stream = this.mode === 'telnet' ? new TelnetStream(socket) : socket;
    return { stream, close: () => closeStream(stream) };
  }
}
