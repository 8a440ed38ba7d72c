// A remote terminal session on the device: a shell whose output goes to the user and whose input
// comes from the user. No native pty module (it would have to be compiled for each board): when
// util-linux `script` is installed it gives the shell a real pty (echo, prompts, job control);
// otherwise the shell runs interactive on plain pipes, stderr merged into the output.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { SHELL, SHELL_STATUS, PROTO, numberProp, type ProtoMsg } from '../../connect-protocol/protocol.js';

export interface ShellOptions {
  /** The shell (mender-connect's ShellCommand), default /bin/sh. */
  command: string;
  /** Wrap in `script` for a pty: 'auto' when /usr/bin/script exists. */
  pty: 'auto' | 'script' | 'pipe';
  /** Extra environment for the shell. */
  env?: Record<string, string>;
}

export const DEFAULT_SHELL: ShellOptions = { command: '/bin/sh', pty: 'auto' };
const SCRIPT = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p));

export type Send = (msg: Omit<ProtoMsg, 'hdr'> & { hdr: Omit<ProtoMsg['hdr'], 'sid'> }) => void;

export class ShellSession {
  private child: ChildProcess | null = null;
  private stopped = false;
  /** On plain pipes there is no tty to turn the Enter key's CR into the LF a shell reads lines by. */
  private pipes = false;

  constructor(
    private readonly send: Send,
    private readonly o: ShellOptions,
    private readonly log: (line: string) => void,
  ) {}

  get running(): boolean {
    return this.child !== null && !this.stopped;
  }

  /** Answers `new`: status normal once the shell runs, error (with the reason) when it cannot. */
  start(msg: ProtoMsg): void {
    const cols = numberProp(msg, 'terminal_width') ?? 80;
    const rows = numberProp(msg, 'terminal_height') ?? 24;
    const useScript = this.o.pty === 'script' || (this.o.pty === 'auto' && SCRIPT !== undefined);
    const env = { ...process.env, TERM: 'xterm-256color', COLUMNS: String(cols), LINES: String(rows), ...this.o.env };
    // script runs its command through $SHELL -c: the configured shell, as a login shell.
    const [cmd, args] = useScript ? [SCRIPT ?? 'script', ['-q', '-f', '-e', '-c', `stty cols ${cols} rows ${rows} 2>/dev/null; exec ${this.o.command} -l`, '/dev/null']] : [this.o.command, ['-i']];
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env, cwd: process.env.HOME ?? '/', detached: true });
    } catch (e) {
      return this.refuse(`cannot start ${this.o.command}: ${(e as Error).message}`);
    }
    this.child = child;
    this.pipes = !useScript;
    let started = false;
    child.once('spawn', () => {
      started = true;
      this.log(`remote terminal: started ${this.o.command} (pid ${child.pid}${useScript ? ', pty through script' : ', pipes'})`);
      this.send({ hdr: { proto: PROTO.shell, typ: SHELL.new, props: { status: SHELL_STATUS.normal } } });
    });
    const out = (data: Buffer) => this.send({ hdr: { proto: PROTO.shell, typ: SHELL.data, props: { status: SHELL_STATUS.normal } }, body: data });
    child.stdout!.on('data', out);
    child.stderr!.on('data', out);
    child.stdin!.on('error', () => undefined);
    child.once('error', (e) => {
      if (!started) this.refuse(`cannot start ${this.o.command}: ${e.message}`);
    });
    child.once('close', (code, signal) => {
      if (!started) return;
      this.log(`remote terminal: shell ended (${signal ?? `exit ${code}`})`);
      if (!this.stopped) this.send({ hdr: { proto: PROTO.shell, typ: SHELL.stop, props: { status: SHELL_STATUS.normal } } });
      this.stopped = true;
    });
  }

  private refuse(why: string): void {
    this.stopped = true;
    this.log(`remote terminal: ${why}`);
    this.send({ hdr: { proto: PROTO.shell, typ: SHELL.new, props: { status: SHELL_STATUS.error } }, body: Buffer.from(why) });
  }

  input(data: Uint8Array): void {
    if (this.running) this.child!.stdin!.write(this.pipes ? crToLf(data) : data);
  }

  /** The user left: the shell and everything it started end (its process group). */
  stop(): void {
    if (this.stopped || !this.child) return;
    this.stopped = true;
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGHUP');
    } catch {
      // already gone
    }
    const kill = setTimeout(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, 5000);
    kill.unref();
    this.child.once('close', () => clearTimeout(kill));
  }
}

/**
 * What a tty's ICRNL does: a terminal (xterm.js, mender-cli in raw mode) sends CR for Enter; a
 * shell on pipes would wait for LF forever. CR LF becomes one LF.
 */
export function crToLf(data: Uint8Array): Uint8Array {
  if (!data.includes(13)) return data;
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    if (data[i] !== 13) out.push(data[i]!);
    else if (data[i + 1] !== 10) out.push(10);
  }
  return Uint8Array.from(out);
}
