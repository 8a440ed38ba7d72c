// Device configuration (mender-configure's job): fetch the configuration the server holds for this
// device (GET /api/devices/v1/deviceconfig/configuration), and when it differs from the one
// applied last, write it to a JSON file and run every executable in the apply directory
// (/usr/lib/mender-configure/apply-device-config.d/ by default) in name order with that file as
// $1. All succeed: the configuration is stored as applied and reported back (PUT). One fails: the
// old one stays the applied and reported one, and the next cycle tries again.
import { readdir, readFile, writeFile, rename, access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApiClient } from '../api/client.js';
import { errorMessage } from '../errors.js';

export interface ConfigureOptions {
  api: ApiClient;
  dataDir: string;
  scriptsDir: string;
  timeoutMs: number;
  log: (line: string) => void;
}

type Config = Record<string, string>;
const PATH = '/api/devices/v1/deviceconfig/configuration';
const APPLIED = 'device-config.json';

function parseConfig(text: string, what: string): Config {
  const v: unknown = JSON.parse(text);
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) throw new Error(`${what} is not an object of strings`);
  return v as Config;
}

const same = (a: Config, b: Config) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

async function applied(dataDir: string): Promise<Config | null> {
  try {
    return parseConfig(await readFile(join(dataDir, APPLIED), 'utf8'), APPLIED);
  } catch {
    return null;
  }
}

/** One cycle: 'unchanged', 'applied' or 'failed' (with the reason logged). */
export async function configureCycle(o: ConfigureOptions): Promise<'unchanged' | 'applied' | 'failed'> {
  const res = await o.api.request({ method: 'GET', path: PATH });
  if (res.status !== 200) throw new Error(`GET ${PATH}: ${res.status} ${res.body.toString('utf8').slice(0, 200)}`);
  const wanted = parseConfig(res.body.toString('utf8'), 'the server\'s configuration');
  // Nothing applied yet counts as the empty configuration: a device with none set does nothing.
  const current = (await applied(o.dataDir)) ?? {};
  if (same(current, wanted)) return 'unchanged';
  const file = join(o.dataDir, 'device-config.new.json');
  await writeFile(file, JSON.stringify(wanted, null, 2));
  let scripts: string[] = [];
  try {
    scripts = (await readdir(o.scriptsDir)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  // execa (and the terminal and child_process modules it loads) only when there is a script to run:
  // device configuration is off on most devices, and the client's start-up snapshot cannot hold them.
  const { execa } = await import('execa');
  for (const name of scripts) {
    const script = join(o.scriptsDir, name);
    try {
      await access(script, constants.X_OK);
    } catch {
      continue;
    }
    const r = await execa(script, [file], { reject: false, timeout: o.timeoutMs, all: true });
    if (r.exitCode !== 0) {
      o.log(`device configuration: ${name} failed (${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}): ${String(r.all ?? '').trim().slice(-500)}`);
      return 'failed';
    }
  }
  await rename(file, join(o.dataDir, APPLIED));
  const put = await o.api.request({ method: 'PUT', path: PATH, json: JSON.stringify(wanted) });
  if (put.status !== 204 && put.status !== 200) throw new Error(`PUT ${PATH}: ${put.status} ${put.body.toString('utf8').slice(0, 200)}`);
  o.log(`device configuration applied (${Object.keys(wanted).length} keys, ${scripts.length} scripts) and reported`);
  return 'applied';
}

export async function configureSafely(o: ConfigureOptions): Promise<void> {
  try {
    await configureCycle(o);
  } catch (e) {
    o.log(`device configuration: ${errorMessage(e)}`);
  }
}
