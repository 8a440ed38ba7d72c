// Which rootfs partition the running system booted from: the `root=` of the kernel command line or
// the device mounted on `/`, matched against RootfsPartA/B. Paths are injectable so tests and the
// host-sim point them at plain files.
import { readFile, realpath } from 'node:fs/promises';
import { ClientError, errorMessage } from '../errors.js';

export type Slot = 'A' | 'B';

export interface ActivePartitionSource {
  from: 'cmdline' | 'mount';
  procCmdline: string;
  mountTable: string;
  partA: string;
  partB: string;
}

export function otherSlot(s: Slot): Slot {
  return s === 'A' ? 'B' : 'A';
}

/** `root=` value of a kernel command line, or null. */
export function rootFromCmdline(cmdline: string): string | null {
  for (const word of cmdline.trim().split(/\s+/)) {
    if (word.startsWith('root=')) return word.slice(5);
  }
  return null;
}

/** Device mounted on `/` in a /proc/mounts style table (the last mount wins, as the kernel shows it). */
export function rootFromMountTable(table: string): string | null {
  let dev: string | null = null;
  for (const line of table.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 2 && f[1] === '/') dev = f[0]!;
  }
  return dev;
}

// PARTUUID=/UUID=/LABEL= go through udev's /dev/disk links; symlinks are resolved so that
// /dev/disk/by-label/rootfsA and /dev/mmcblk0p2 compare equal.
async function canonical(dev: string): Promise<string> {
  const m = /^(PARTUUID|UUID|PARTLABEL|LABEL)=(.+)$/.exec(dev);
  const p = m ? `/dev/disk/by-${m[1]!.toLowerCase()}/${m[2]}` : dev;
  try {
    return await realpath(p);
  } catch {
    return p;
  }
}

export async function detectActiveSlot(src: ActivePartitionSource): Promise<Slot> {
  const file = src.from === 'cmdline' ? src.procCmdline : src.mountTable;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ClientError('PARTITION', `cannot read ${file} to find the running rootfs: ${errorMessage(e)}`, { cause: e });
  }
  const root = src.from === 'cmdline' ? rootFromCmdline(text) : rootFromMountTable(text);
  if (!root) {
    throw new ClientError('PARTITION', src.from === 'cmdline' ? `${file} has no root= parameter` : `${file} has no mount on /`);
  }
  const [r, a, b] = await Promise.all([canonical(root), canonical(src.partA), canonical(src.partB)]);
  if (r === a || root === src.partA) return 'A';
  if (r === b || root === src.partB) return 'B';
  throw new ClientError(
    'PARTITION',
    `running root ${root} (from ${file}) matches neither RootfsPartA ${src.partA} nor RootfsPartB ${src.partB}`,
  );
}
