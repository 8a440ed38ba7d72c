// Finding and running the Mender tools from Debian without ava, so benchmarks (bench/) can use
// them too; test-support/mender-peers.ts adds the ava side (tests skipped where a tool is missing).
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
