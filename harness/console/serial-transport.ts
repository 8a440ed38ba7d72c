// A real serial port through `serialport`. USB serial adapters powered from the board disappear
// on a power cycle and come back under the same path (a udev symlink, or /dev/ttyUSB0 again), so
// this transport asks the console to keep re-opening the port after it is lost. On Linux the port
// is read through a binding that reports a hang-up as the loss it is (serial-binding.ts).
import { SerialPortStream } from '@serialport/stream';
import { SerialPort } from 'serialport';
import { HangUpAwareLinuxBinding } from './serial-binding.js';
import { waitForReady, type ConsoleLink, type ConsoleTransport } from './transport.js';

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
    const options = { path: this.path, baudRate: this.baudRate, autoOpen: false };
    const port = process.platform === 'linux' ? new SerialPortStream({ ...options, binding: HangUpAwareLinuxBinding }) : new SerialPort(options);
    const opened = waitForReady(port, 'open', `cannot open ${this.description}`);
    port.open();
    await opened;
    return { stream: port, close: () => closePort(port) };
  }
}

/**
 * Closes the device itself. Ending or destroying a serialport stream does neither: the file stays
 * open and locked (a second open of the same port fails) and keeps being read.
 */
function closePort(port: SerialPortStream): Promise<void> {
  if (!port.isOpen) return Promise.resolve();
  // An error here means the port went away on its own while closing: closed either way.
  return new Promise((resolve) => port.close(() => resolve()));
}
