// Runs the state scripts of one state transition, Mender's way: scripts of the dirs given, in
// name order, each to completion before the next; the first failure stops the rest (except for
// Error scripts, whose failures are logged and do not change the outcome); exit 21 means "retry
// later": run the same script again after retryIntervalMs, until retryLaterTimeoutMs has passed
// since its first run. A script is killed with its whole process group after timeoutMs.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { runScriptOnce, type RunOnceResult } from './run-script.js';
import { SUPPORTED_SCRIPT_VERSIONS, selectScripts } from './state-script-names.js';
import type { CaptureLimits } from './output-capture.js';

export const RETRY_LATER_EXIT_CODE = 21;

export type ScriptFailureReason = 'exit-code' | 'timeout' | 'retry-later-timeout' | 'not-executable' | 'spawn-error' | 'bad-version' | 'unreadable-dir';

export interface ScriptFailure {
  /** Full path of the script (or of the dir/version file for dir-level failures). */
  script: string;
  reason: ScriptFailureReason;
  exitCode: number | null;
  signal: string | null;
  /** Last 10 KiB of the script's stderr. */
  stderr: string;
  message: string;
}

export type ScriptOutcome =
  | { ok: true; ran: string[]; ignoredFailures: ScriptFailure[] }
  | { ok: false; ran: string[]; failure: ScriptFailure };

export interface RunStateScriptsOptions {
  dirs: string[];
  state: string;
  action: 'Enter' | 'Leave' | 'Error';
  timeoutMs: number;
  retryLaterTimeoutMs: number;
  retryIntervalMs: number;
  env?: Record<string, string>;
  log: (line: string) => void;
  /** Output limits (defaults: 4096-char lines, 1000 lines per stream, 10 KiB stderr tail). */
  limits?: CaptureLimits;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function failure(script: string, reason: ScriptFailureReason, message: string, run?: RunOnceResult): ScriptFailure {
  return { script, reason, message, exitCode: run?.exitCode ?? null, signal: run?.signal ?? null, stderr: run?.stderrTail ?? '' };
}

async function checkVersionFile(dir: string): Promise<ScriptFailure | null> {
  const path = join(dir, 'version');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    // No version file is fine: older clients wrote none (Mender treats that as version 3).
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return failure(path, 'bad-version', `cannot read ${path}: ${(e as Error).message}`);
  }
  const version = text.trim();
  if (!SUPPORTED_SCRIPT_VERSIONS.includes(version)) {
    return failure(path, 'bad-version', `${path}: unsupported state script version "${version}" (supported: ${SUPPORTED_SCRIPT_VERSIONS.join(', ')})`);
  }
  return null;
}

/** Scripts to run, in order; or a dir-level failure. */
async function collect(opts: RunStateScriptsOptions): Promise<{ paths: string[] } | { failure: ScriptFailure }> {
  const found: Array<{ name: string; path: string }> = [];
  for (const dir of opts.dirs) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      return { failure: failure(dir, 'unreadable-dir', `cannot read state scripts dir ${dir}: ${(e as Error).message}`) };
    }
    const { scripts, misnamed } = selectScripts(names, opts.state, opts.action);
    for (const bad of misnamed) opts.log(`warning: ${join(dir, bad)} does not match ${opts.state}_<Enter|Leave|Error>_<NN>[_<description>] and will not be run`);
    if (scripts.length === 0) continue;
    const versionProblem = await checkVersionFile(dir);
    if (versionProblem) return { failure: versionProblem };
    for (const name of scripts) found.push({ name, path: join(dir, name) });
  }
  // Stable sort by name across dirs; within a name, dir order decides.
  found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { paths: found.map((f) => f.path) };
}

async function runWithRetries(path: string, opts: RunStateScriptsOptions): Promise<ScriptFailure | null> {
  try {
    const st = await stat(path);
    if (!st.isFile()) return failure(path, 'not-executable', `state script ${path} is not a regular file`);
    if ((st.mode & 0o111) === 0) return failure(path, 'not-executable', `state script ${path} is not executable`);
  } catch (e) {
    return failure(path, 'spawn-error', `cannot stat state script ${path}: ${(e as Error).message}`);
  }
  const deadline = Date.now() + opts.retryLaterTimeoutMs;
  for (let attempt = 1; ; attempt++) {
    opts.log(`running state script ${path}${attempt > 1 ? ` (attempt ${attempt})` : ''}`);
    const run = await runScriptOnce(path, { timeoutMs: opts.timeoutMs, env: opts.env, log: opts.log, limits: opts.limits });
    if (run.spawnError !== undefined) return failure(path, 'spawn-error', `cannot start ${path}: ${run.spawnError}`, run);
    if (run.timedOut) return failure(path, 'timeout', `${path} timed out after ${opts.timeoutMs} ms and was killed`, run);
    if (run.exitCode === 0) return null;
    if (run.exitCode === RETRY_LATER_EXIT_CODE) {
      if (Date.now() + opts.retryIntervalMs > deadline) {
        return failure(path, 'retry-later-timeout', `${path} kept asking to retry later (exit 21) beyond ${opts.retryLaterTimeoutMs} ms`, run);
      }
      opts.log(`${path} asked to retry later (exit 21); running it again in ${opts.retryIntervalMs} ms`);
      await sleep(opts.retryIntervalMs);
      continue;
    }
    const how = run.exitCode !== null ? `exit code ${run.exitCode}` : `signal ${run.signal}`;
    return failure(path, 'exit-code', `${path} failed with ${how}`, run);
  }
}

export async function runStateScripts(opts: RunStateScriptsOptions): Promise<ScriptOutcome> {
  const ignoreErrors = opts.action === 'Error';
  const ran: string[] = [];
  const ignoredFailures: ScriptFailure[] = [];
  const collected = await collect(opts);
  if ('failure' in collected) {
    opts.log(collected.failure.message);
    if (!ignoreErrors) return { ok: false, ran, failure: collected.failure };
    return { ok: true, ran, ignoredFailures: [collected.failure] };
  }
  for (const path of collected.paths) {
    const fail = await runWithRetries(path, opts);
    if (!fail || (fail.reason !== 'not-executable' && fail.reason !== 'spawn-error')) ran.push(path);
    if (!fail) continue;
    if (ignoreErrors) {
      opts.log(`ignoring failure of Error script: ${fail.message}`);
      ignoredFailures.push(fail);
      continue;
    }
    opts.log(fail.message);
    return { ok: false, ran, failure: fail };
  }
  return { ok: true, ran, ignoredFailures };
}
