// Two linked pseudo-terminals made by socat, standing in for a USB serial adapter and the board's
// UART in tests. Killing socat makes both device nodes vanish, as unplugging the adapter does;
// starting it again recreates them under the same link paths.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export class PtyPair {
  readonly hostPath: string;
  readonly boardPath: string;
  private proc: ChildProcess | null = null;

  constructor(dir: string) {
    this.hostPath = join(dir, 'ttyDUT');
    this.boardPath = join(dir, 'ttyBOARD');
  }

  async start(): Promise<void> {
    if (this.proc) throw new Error('pty pair already started');
    const proc = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${this.hostPath}`, `pty,raw,echo=0,link=${this.boardPath}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.proc = proc;
    await new Promise<void>((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => fail(new Error(`socat did not start within 5 s: ${log}`)), 5000);
      const fail = (e: Error) => {
        clearTimeout(timer);
        proc.kill('SIGKILL');
        this.proc = null;
        reject(e);
      };
      proc.once('error', (e) => fail(new Error(`cannot run socat: ${e.message}`)));
      proc.once('exit', (code) => fail(new Error(`socat exited with ${code}: ${log}`)));
      proc.stderr!.on('data', (d: Buffer) => {
        log += d.toString();
        // socat -d -d logs this once both ptys exist and their links are in place.
        if (log.includes('starting data transfer loop')) {
          clearTimeout(timer);
          proc.removeAllListeners('exit');
          proc.stderr!.removeAllListeners('data');
          proc.stderr!.resume();
          resolve();
        }
      });
    });
  }

  /** Makes both device nodes vanish. */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }
}
