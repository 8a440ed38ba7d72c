// The client as a campaign runs it: the device bundle (the same esbuild build devices get, with a
// mutant's __FLIPSIDE_INJECTED_BUG__ when asked) loaded as a module, so one worker process runs
// thousands of `flipside resume|commit|install` calls without a process start each. A power cut
// needs no kill here: the crash states come from a recorded run, the client only recovers.
import { build } from 'esbuild';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { deviceBuildOptions } from '../../client/build-device.js';
import type { InjectedBug } from '../../client/injected-bug.js';

export interface ClientCall {
  code: number;
  stdout: string;
  stderr: string;
}

type Main = (argv: string[]) => Promise<number>;

/** Builds the client bundle as a library (main exported, not run on load). */
export async function buildClientModule(outfile: string, injectBug?: InjectedBug): Promise<string> {
  await mkdir(dirname(outfile), { recursive: true });
  const base = deviceBuildOptions(outfile, injectBug ? { injectBug } : {});
  const r = await build({ ...base, banner: {}, define: { ...base.define, __FLIPSIDE_BUNDLE__: 'false' } });
  if (r.errors.length > 0) throw new Error(`esbuild failed: ${r.errors.map((e) => e.text).join('; ')}`);
  return outfile;
}

const require = createRequire(import.meta.url);
const loaded = new Map<string, Main>();

function mainOf(bundle: string): Main {
  let m = loaded.get(bundle);
  if (!m) {
    m = (require(bundle) as { main: Main }).main;
    if (typeof m !== 'function') throw new Error(`${bundle} does not export main`);
    loaded.set(bundle, m);
  }
  return m;
}

/** One `flipside <args>` in this process; its stdout and stderr are captured, not printed (and shown to `onStderr`). */
export async function callClient(bundle: string, args: string[], onStderr?: (text: string) => void): Promise<ClientCall> {
  const main = mainOf(bundle);
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const grab = (sink: (s: string) => void) => ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    sink(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    cb?.();
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = grab((s) => (stdout += s));
  process.stderr.write = grab((s) => {
    stderr += s;
    onStderr?.(s);
  });
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } catch (e) {
    return { code: 1, stdout, stderr: `${stderr}flipside threw: ${e instanceof Error ? e.stack : String(e)}\n` };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}
