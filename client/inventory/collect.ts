// The inventory: every executable `mender-inventory-*` in the inventory dir (Mender's naming, so
// Mender's scripts work unchanged) prints key=value lines; repeated keys, within one script or
// across scripts, become lists. Built-ins from the client itself (device_type, artifact_name,
// mender_client_version and every other provide such as rootfs-image.version) take precedence
// over script output of the same name: the server refuses duplicate names, and the client's own
// view of what is installed is the authoritative one.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { runExecutable } from '../identity/run-executable.js';
import { attributeValue, mergeAttributes, parseKeyValueLines, type Attributes } from '../identity/key-value-lines.js';
import { VERSION } from '../version.js';

export const INVENTORY_PREFIX = 'mender-inventory-';
export const DEFAULT_INVENTORY_DIR = '/usr/share/mender/inventory';
const SCRIPT_TIMEOUT_MS = 60_000;

export interface InventoryAttribute {
  name: string;
  value: string | string[];
}

export interface CollectOptions {
  /** Directory of mender-inventory-* executables; a missing directory means no scripts. */
  dir: string;
  deviceType: string;
  /** artifact_name and every other provide of the installed software. */
  provides: Record<string, string>;
  clientVersion?: string;
  timeoutMs?: number;
  /** Told about scripts that failed or printed garbage (they are skipped, as Mender does). */
  warn?: (message: string) => void;
}

/** The inventory scripts to run, in name order (deterministic output order across runs). */
export async function listInventoryScripts(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: string[] = [];
  for (const name of names.filter((n) => n.startsWith(INVENTORY_PREFIX)).sort()) {
    const p = join(dir, name);
    const st = await stat(p).catch(() => null);
    if (st?.isFile() && (st.mode & 0o111) !== 0) out.push(p);
  }
  return out;
}

export async function collectInventory(o: CollectOptions): Promise<InventoryAttribute[]> {
  const warn = o.warn ?? (() => undefined);
  const attrs: Attributes = new Map();
  for (const script of await listInventoryScripts(o.dir)) {
    try {
      const out = await runExecutable(script, o.timeoutMs ?? SCRIPT_TIMEOUT_MS, (m, cause) => new Error(m, { cause }));
      mergeAttributes(attrs, parseKeyValueLines(out, script));
    } catch (e) {
      warn(`inventory script ${script} skipped: ${(e as Error).message}`);
    }
  }
  const builtins: Record<string, string> = {
    ...o.provides,
    device_type: o.deviceType,
    mender_client_version: o.clientVersion ?? VERSION,
  };
  if (!builtins.artifact_name) builtins.artifact_name = 'unknown';
  for (const [k, v] of Object.entries(builtins)) attrs.set(k, [v]);
  return [...attrs.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, values]) => ({ name, value: attributeValue(values) }));
}
