// Runs an identity or inventory executable (no arguments) and returns its stdout. Bounded in time
// (killed with SIGKILL) and in output size; every failure comes back through wrapError so each
// caller raises its own typed error.
import { execFile } from 'node:child_process';

const MAX_OUTPUT = 1024 * 1024;

/** Runs an executable with no arguments and returns its stdout; typed error on any failure. */
export function runExecutable(path: string, timeoutMs: number, wrapError: (m: string, cause?: unknown) => Error): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(path, [], { timeout: timeoutMs, maxBuffer: MAX_OUTPUT, encoding: 'utf8', killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) {
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown };
        const why = e.killed
          ? `killed after ${timeoutMs} ms`
          : typeof e.code === 'number'
            ? `exited with ${e.code}${stderr.trim() ? `: ${stderr.trim().slice(0, 200)}` : ''}`
            : e.message;
        reject(wrapError(why, err));
        return;
      }
      resolve(stdout);
    });
  });
}
