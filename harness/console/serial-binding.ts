// serialport's Linux binding with one change: a read that returns 0 bytes is a hang-up. On Linux a
// tty whose far side went away (a USB serial adapter unplugged or powered off with the board, a
// pty whose master closed) reads as end of file, at once and forever. bindings-cpp 12 answers a
// 0-byte read by reading again (serialport/bindings-cpp#162), so a port that hangs up while a read
// is already under way spins the thread pool at full speed, never reports the loss, and keeps the
// process alive. An open tty with nothing to say answers EAGAIN, never 0, so 0 only means gone.
import { read } from 'node:fs';
import { promisify } from 'node:util';
import {
  LinuxBinding,
  type BindingInterface,
  type BindingPortInterface,
  type LinuxOpenOptions,
  type LinuxPortBinding,
  type LinuxSetOptions,
  type UpdateOptions,
} from '@serialport/bindings-cpp';
// Not exported from the package's index; the version is pinned in package.json for this import,
// and serial-binding.test.ts fails if its contract changes.
import { unixRead } from '@serialport/bindings-cpp/dist/unix-read.js';

const readAsync = promisify(read);

/** fs.read, but end of file is an error unixRead counts as a disconnect (it closes the stream). */
const readOrHangUp: typeof readAsync = (async (fd: number, buffer: Buffer, offset: number, length: number, position: null) => {
  const result = await readAsync(fd, buffer, offset, length, position);
  if (result.bytesRead === 0 && length > 0) throw Object.assign(new Error('the serial device hung up (read returned end of file)'), { code: 'ENXIO' });
  return result;
}) as typeof readAsync;

class HangUpAwarePort implements BindingPortInterface {
  constructor(private readonly port: LinuxPortBinding) {}
  get openOptions() {
    return this.port.openOptions;
  }
  get isOpen(): boolean {
    return this.port.isOpen;
  }
  close(): Promise<void> {
    return this.port.close();
  }
  async read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    // unixRead refuses a closed port itself (as canceled, which the stream expects after a close).
    return unixRead({ binding: this.port, buffer, offset, length, fsReadAsync: readOrHangUp });
  }
  write(buffer: Buffer): Promise<void> {
    return this.port.write(buffer);
  }
  update(options: UpdateOptions): Promise<void> {
    return this.port.update(options);
  }
  set(options: LinuxSetOptions): Promise<void> {
    return this.port.set(options);
  }
  get() {
    return this.port.get();
  }
  getBaudRate(): Promise<{ baudRate: number }> {
    return this.port.getBaudRate();
  }
  flush(): Promise<void> {
    return this.port.flush();
  }
  drain(): Promise<void> {
    return this.port.drain();
  }
}

export const HangUpAwareLinuxBinding: BindingInterface<HangUpAwarePort, LinuxOpenOptions> = {
  list: () => LinuxBinding.list(),
  open: async (options) => new HangUpAwarePort(await LinuxBinding.open(options)),
};
