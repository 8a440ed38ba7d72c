// Places files on a disk image's data partition offline, before the board ever boots: nothing has
// to cross a (slow, lossy) console, and QEMU and lab boards start scenarios from the same bytes.
// debugfs writes into the ext4 inside the image (`image?offset=N`) without mounting it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../qemu/image/exec.js';
import type { DataFiles } from './board.js';

/** The debugfs commands that put `files` (device paths under /data/) into the data ext4. */
export function dataFileCommands(files: DataFiles, hostPathOf: (content: Buffer) => string): string[] {
  const cmds: string[] = [];
  for (const [devicePath, src] of Object.entries(files)) {
    if (!devicePath.startsWith('/data/')) throw new Error(`${devicePath}: only files under /data can be placed offline`);
    const rel = devicePath.slice('/data/'.length);
    const dir = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
    const base = rel.slice(rel.lastIndexOf('/') + 1);
    const host = 'path' in src ? src.path : hostPathOf(src.content);
    // A folder the image lacks is made first (debugfs only complains where it exists); rm first:
    // debugfs `write` refuses to replace an existing file.
    const parts = dir ? dir.split('/') : [];
    // debugfs makes a folder relative to its current one, whatever the path says: from the root.
    const mkdirs = parts.length ? ['cd /', ...parts.map((_, i) => `mkdir ${parts.slice(0, i + 1).join('/')}`)] : [];
    cmds.push(...mkdirs, `cd /${dir}`, `rm ${base}`, `write ${host} ${base}`);
  }
  return cmds;
}

/** Writes `files` into the ext4 at byte `dataOffset` of `disk`; `workDir` holds temporaries. */
export async function writeDataFiles(disk: string, dataOffset: number, files: DataFiles, workDir: string): Promise<void> {
  let n = 0;
  const cmds = dataFileCommands(files, (content) => {
    const host = join(workDir, `data-file-${n++}`);
    writeFileSync(host, content);
    return host;
  });
  if (cmds.length === 0) return;
  const script = join(workDir, 'debugfs.cmds');
  writeFileSync(script, `${cmds.join('\n')}\n`);
  await run('debugfs', ['-w', '-f', script, `${disk}?offset=${dataOffset}`]);
}
