// Runs one script once: its own process group (so a timeout can kill everything it started),
// output streamed into the log through OutputCapture, exit status and stderr tail returned.
import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { OutputCapture, DEFAULT_CAPTURE_LIMITS, type CaptureLimits } from './output-capture.js';

export interface RunOnceResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** Set when the process could not be started (ENOENT, EACCES, ENOEXEC...). */
  spawnError?: string;
  stderrTail: string;
}

export interface RunOnceOptions {
  timeoutMs: number;
  env?: Record<string, string>;
  log: (line: string) => void;
  limits?: CaptureLimits;
}

// After the script exits, its pipes may stay open if it left a background child holding them:
// wait this long for the rest of the output, then stop reading.
const DRAIN_GRACE_MS = 200;

export function runScriptOnce(path: string, opts: RunOnceOptions): Promise<RunOnceResult> {
  const name = basename(path);
  const limits = opts.limits ?? DEFAULT_CAPTURE_LIMITS;
  const out = new OutputCapture((l) => opts.log(`${name} stdout: ${l}`), limits);
  const err = new OutputCapture((l) => opts.log(`${name} stderr: ${l}`), limits);
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(path, [], {
        detached: true, // new session and process group: kill(-pid) reaches grandchildren
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...opts.env },
      });
    } catch (e) {
      resolve({ exitCode: null, signal: null, timedOut: false, spawnError: (e as Error).message, stderrTail: '' });
      return;
    }
    let timedOut = false;
    let settled = false;
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // group already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      opts.log(`${name}: timed out after ${opts.timeoutMs} ms, killing its process group`);
      killGroup();
    }, opts.timeoutMs);
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));

    const finish = (result: Omit<RunOnceResult, 'stderrTail'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const open = [child.stdout!, child.stderr!].filter((s) => !s.destroyed && !s.readableEnded);
      let waiting = open.length;
      const done = () => {
        out.end();
        err.end();
        resolve({ ...result, stderrTail: err.tail() });
      };
      if (waiting === 0) return done();
      const grace = setTimeout(() => {
        for (const s of open) s.destroy();
        done();
      }, DRAIN_GRACE_MS);
      for (const s of open) {
        s.once('close', () => {
          if (--waiting === 0) {
            clearTimeout(grace);
            done();
          }
        });
      }
    };
    child.once('error', (e) => finish({ exitCode: null, signal: null, timedOut, spawnError: e.message }));
    child.once('exit', (code, signal) => finish({ exitCode: code, signal, timedOut }));
  });
}
