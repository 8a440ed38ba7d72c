// The host-sim's U-Boot env: a file holding two redundant copies exactly as U-Boot's saveenv and
// fw_setenv write them (CRC32, flags byte), and the /etc/fw_env.config that names them. The client
// reads it through the same UBootEnv it uses on a device.
import { writeFile } from 'node:fs/promises';
import { encodeBlob, fromEnvVars } from '../../bootenv/uboot-env-format.js';
import type { EnvVars } from '../../bootenv/types.js';

export const ENV_SIZE = 0x4000;

export interface EnvLayout {
  file: string;
  /** Offsets of copy 1 and 2 in the file. */
  offsets: [number, number];
  size: number;
}

export function defaultLayout(file: string): EnvLayout {
  return { file, offsets: [0, ENV_SIZE], size: ENV_SIZE };
}

/** Writes a fresh redundant env: copy 1 current (flag 1), copy 2 older (flag 0), both valid. */
export async function createEnvImage(layout: EnvLayout, vars: EnvVars): Promise<void> {
  const raw = fromEnvVars(vars);
  const img = Buffer.alloc(Math.max(...layout.offsets) + layout.size, 0xff);
  encodeBlob(raw, layout.size, true, 1).copy(img, layout.offsets[0]);
  encodeBlob(raw, layout.size, true, 0).copy(img, layout.offsets[1]);
  await writeFile(layout.file, img);
}

export function fwEnvConfigText(layout: EnvLayout): string {
  const hex = (n: number): string => `0x${n.toString(16)}`;
  return [
    '# host-sim U-Boot env: two redundant copies in one file',
    `${layout.file} ${hex(layout.offsets[0])} ${hex(layout.size)}`,
    `${layout.file} ${hex(layout.offsets[1])} ${hex(layout.size)}`,
    '',
  ].join('\n');
}
