// The real Mender tools from Debian (mender-artifact 3.9.0, mender-cli 1.9.0, mender 3.4.0) as
// peers in tests. A test that needs one runs only where it is installed (ci/setup.sh installs
// them) and is reported as skipped, never passed, where it is missing.
import test, { type TestFn } from 'ava';
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The absolute path of an executable on PATH (or /usr/sbin, /sbin), or null. */
export function findPeer(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  for (const d of dirs) {
    if (!d) continue;
    try {
      accessSync(join(d, name), constants.X_OK);
      return join(d, name);
    } catch {
      /* not here */
    }
  }
  return null;
}

/** `test` when every named tool is installed, else `test.skip` (so the run counts it as skipped). */
export function testWithPeers(...names: string[]): { test: TestFn; missing: string[] } {
  const missing = names.filter((n) => findPeer(n) === null);
  return { test: missing.length === 0 ? test : (test.skip as unknown as TestFn), missing };
}

export interface RunResult {
  code: number | null;
  out: string;
  err: string;
}

/** Runs a tool to completion (its output is small: reads, validates, CLI answers). */
export function runTool(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): RunResult {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, input: opts.input, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/**
 * Runs a tool without blocking the event loop (needed when the peer talks to a server in this
 * same process). Never throws on a non-zero exit: the caller checks code and output.
 */
export async function runToolAsync(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  const { execa } = await import('execa');
  const r = await execa(cmd, args, { cwd: opts.cwd, env: opts.env, extendEnv: opts.env === undefined, reject: false, timeout: opts.timeoutMs ?? 60_000, stdin: 'ignore' });
  return { code: r.exitCode ?? null, out: String(r.stdout), err: String(r.stderr) };
}
