// A real serial port through `serialport`. USB serial adapters powered from the board disappear
// on a power cycle and come back under the same path (a udev symlink, or /dev/ttyUSB0 again), so
// this transport asks the console to keep re-opening the port after it is lost.
import { SerialPort } from 'serialport';
import { closeStream, waitForReady, type ConsoleLink, type ConsoleTransport } from './transport.js';

export class SerialTransport implements ConsoleTransport {
  readonly description: string;

  constructor(
    private readonly path: string,
    private readonly baudRate = 115200,
    readonly reconnectIntervalMs: number | undefined = 250,
  ) {
    if (!path) throw new Error('serial console: a device path is required');
    if (!Number.isInteger(baudRate) || baudRate <= 0) throw new Error(`serial console ${path}: baud must be a positive integer, got ${baudRate}`);
    this.description = `serial ${path}@${baudRate}`;
  }

  async connect(): Promise<ConsoleLink> {
    const port = new SerialPort({ path: this.path, baudRate: this.baudRate, autoOpen: false });
    const opened = waitForReady(port, 'open', `cannot open ${this.description}`);
    port.open();
    await opened;
    return { stream: port, close: () => (port.isOpen ? closeStream(port) : Promise.resolve()) };
  }
}
