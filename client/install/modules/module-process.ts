// One invocation `<module> <State> <tree>`: cwd is the tree, the module gets its own process
// group so a timeout can kill everything it started, stdout/stderr go to the deployment log line
// by line, and for queries the first stdout line is captured (more than one line is a protocol
// error, as in Mender, which also keeps a chatty module from filling our memory).
import { spawn, type ChildProcess } from 'node:child_process';
import { ModuleError, type ModuleState } from './errors.js';

/** Mender's default `ModuleTimeoutSeconds` is four hours. */
export const DEFAULT_STATE_TIMEOUT_MS = 4 * 60 * 60 * 1000;
/** Between SIGTERM and SIGKILL of the process group after a timeout. */
const KILL_GRACE_MS = 1000;
/** How long to wait for stdout/stderr to close once the module exited (a daemon it started may hold them). */
const STDIO_DRAIN_MS = 300;
const STDERR_TAIL_CHARS = 2048;
const MAX_LINE_CHARS = 4096;

export interface ModuleInvocation {
  modulePath: string;
  state: ModuleState;
  treeDir: string;
  timeoutMs: number;
  log: (line: string) => void;
  /** Capture the first stdout line instead of logging stdout (queries). */
  capture?: boolean;
  env?: Record<string, string>;
}

export interface ModuleExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** First stdout line when `capture` was set, '' when the module printed nothing. */
  output: string;
  tooManyLines: boolean;
  stderrTail: string;
}

/** Splits chunks into lines without holding more than one (bounded) partial line. */
class LineSplitter {
  private partial = '';
  constructor(private readonly onLine: (line: string) => void) {}
  push(chunk: string): void {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.onLine(line);
    if (this.partial.length > MAX_LINE_CHARS) {
      this.onLine(this.partial);
      this.partial = '';
    }
  }
  end(): void {
    if (this.partial !== '') this.onLine(this.partial);
    this.partial = '';
  }
}

export class ModuleProcess {
  readonly exited: Promise<ModuleExit>;
  private readonly child: ChildProcess;
  private hasExited = false;
  private timedOut = false;
  private timer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;

  private constructor(child: ChildProcess, exited: Promise<ModuleExit>) {
    this.child = child;
    this.exited = exited;
  }

  /** Starts the module; rejects with SPAWN when the executable cannot be run at all. */
  static async start(inv: ModuleInvocation): Promise<ModuleProcess> {
    const child = spawn(inv.modulePath, [inv.state, inv.treeDir], {
      cwd: inv.treeDir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...inv.env },
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (e) =>
        reject(new ModuleError('SPAWN', inv.state, `cannot run ${inv.modulePath} ${inv.state}: ${e.message}`, { cause: e })),
      );
    });

    let output = '';
    let stdoutLines = 0;
    let tooManyLines = false;
    let stderrTail = '';
    const prefix = `Update Module ${inv.state}`;
    const stdout = new LineSplitter((line) => {
      if (!inv.capture) return inv.log(`${prefix} (stdout): ${line}`);
      stdoutLines += 1;
      if (stdoutLines === 1) output = line;
      else if (line !== '' || stdoutLines > 2) tooManyLines = true;
    });
    const stderr = new LineSplitter((line) => {
      inv.log(`${prefix} (stderr): ${line}`);
      stderrTail = (stderrTail + line + '\n').slice(-STDERR_TAIL_CHARS);
    });
    child.stdout!.setEncoding('utf8').on('data', (s: string) => stdout.push(s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => stderr.push(s));

    let proc!: ModuleProcess;
    const exited = new Promise<ModuleExit>((resolve) => {
      child.once('exit', (code, signal) => {
        proc.hasExited = true;
        clearTimeout(proc.timer);
        clearTimeout(proc.killTimer);
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          stdout.end();
          stderr.end();
          resolve({ code, signal, timedOut: proc.timedOut, output, tooManyLines, stderrTail });
        };
        const drain = setTimeout(() => {
          child.stdout!.destroy();
          child.stderr!.destroy();
          finish();
        }, STDIO_DRAIN_MS);
        child.once('close', () => {
          clearTimeout(drain);
          finish();
        });
      });
    });
    proc = new ModuleProcess(child, exited);
    proc.timer = setTimeout(() => {
      proc.timedOut = true;
      proc.kill();
    }, inv.timeoutMs);
    return proc;
  }

  get running(): boolean {
    return !this.hasExited;
  }

  /** SIGTERM to the whole process group, SIGKILL after a grace period if it is still there. */
  kill(): void {
    if (this.hasExited) return;
    this.signalGroup('SIGTERM');
    this.killTimer ??= setTimeout(() => this.signalGroup('SIGKILL'), KILL_GRACE_MS);
  }

  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the group is already gone.
    }
  }
}

/** Turns an exit into a ModuleError, or returns when the module succeeded. */
export function checkExit(state: ModuleState, modulePath: string, exit: ModuleExit, timeoutMs: number): void {
  const details = { exitCode: exit.code, signal: exit.signal, stderrTail: exit.stderrTail };
  if (exit.timedOut) {
    throw new ModuleError('TIMEOUT', state, `${modulePath} ${state} timed out after ${timeoutMs} ms and was killed`, details);
  }
  if (exit.code !== 0) {
    const how = exit.code === null ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`;
    throw new ModuleError('EXIT', state, `${modulePath} ${state} ${how}`, details);
  }
}

/** Runs one state to completion; for queries returns the first stdout line. */
export async function runModuleState(inv: ModuleInvocation): Promise<string> {
  const proc = await ModuleProcess.start(inv);
  const exit = await proc.exited;
  checkExit(inv.state, inv.modulePath, exit, inv.timeoutMs);
  if (exit.tooManyLines) {
    throw new ModuleError('PROTOCOL', inv.state, `${inv.modulePath} printed more than one line for ${inv.state}`, {
      exitCode: exit.code,
      stderrTail: exit.stderrTail,
    });
  }
  return exit.output;
}
