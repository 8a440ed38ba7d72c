// A console that is a local process's stdin/stdout (a simulator, `picocom`, a fake board in tests).
// Closing the console kills the process; the process exiting ends the console. Stdout and stderr
// are merged, as on a terminal. Pipes, not a pty: wrap the command in `script -qfec CMD /dev/null`
// when the program insists on a terminal.
import { spawn } from 'node:child_process';
import { Duplex, PassThrough } from 'node:stream';
import type { ConsoleLink, ConsoleTransport } from './transport.js';

export class ProcessTransport implements ConsoleTransport {
  readonly description: string;

  constructor(
    private readonly command: readonly string[],
    private readonly options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
  ) {
    if (command.length === 0 || !command[0]) throw new Error('process console: a command is required');
    this.description = `process ${command.join(' ')}`;
  }

  readonly reconnectIntervalMs = undefined;

  async connect(): Promise<ConsoleLink> {
    const [file, ...args] = this.command;
    const child = spawn(file!, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: this.options.cwd, env: this.options.env });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (e) => reject(new Error(`cannot start console ${this.description}: ${e.message}`, { cause: e })));
    });
    const output = new PassThrough();
    child.stdout.pipe(output, { end: false });
    child.stderr.pipe(output, { end: false });
    child.once('close', () => output.end());
    const stream = Duplex.from({ readable: output, writable: child.stdin });
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    // Writes to a process that already exited fail with EPIPE; the console sees the end instead.
    child.stdin.on('error', () => {});
    return {
      stream,
      close: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
        await exited;
        clearTimeout(timer);
      },
    };
  }
}
