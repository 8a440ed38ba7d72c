// The redundant U-Boot env as the bootloader finds it in a disk image: both copies' CRCs, and the
// variables of the current copy (libubootenv's rule). Reads raw images directly and qcow2 overlays
// through `qemu-img dd` (only the env's bytes are copied out).
import { closeSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { checkCopy, chooseCurrent, decodeVars, toEnvVars } from '../../../bootenv/uboot-env-format.js';
import { run } from '../../../qemu/image/exec.js';

export interface EnvLayout {
  offsets: [number, number];
  size: number;
}

export interface EnvSeen {
  valid: [boolean, boolean];
  current: 0 | 1 | null;
  vars: Record<string, string> | null;
}

export function parseEnvCopies(copies: [Buffer, Buffer]): EnvSeen {
  const checks = copies.map((b) => checkCopy(b, true));
  const valid: [boolean, boolean] = [checks[0]!.crcOk, checks[1]!.crcOk];
  const current = chooseCurrent(valid, [checks[0]!.flag ?? 0, checks[1]!.flag ?? 0]);
  return { valid, current, vars: current === null ? null : toEnvVars(decodeVars(copies[current], true)) };
}

/** The env of a raw disk image. */
export function envOfRawImage(file: string, l: EnvLayout): EnvSeen {
  const fd = openSync(file, 'r');
  try {
    const copies = l.offsets.map((o) => {
      const b = Buffer.alloc(l.size);
      readSync(fd, b, 0, l.size, o);
      return b;
    }) as [Buffer, Buffer];
    return parseEnvCopies(copies);
  } finally {
    closeSync(fd);
  }
}

/** The env of a qcow2 (or raw) image through qemu-img, without converting the whole image. */
export async function envOfImage(file: string, format: 'qcow2' | 'raw', l: EnvLayout, tmp: string): Promise<EnvSeen> {
  const copies: Buffer[] = [];
  for (const o of l.offsets) {
    if (o % l.size !== 0) throw new Error(`env copy at ${o} is not a multiple of its size ${l.size}`);
    rmSync(tmp, { force: true });
    // count is in blocks from the start of the input, skipped ones included.
    await run('qemu-img', ['dd', '-f', format, '-O', 'raw', `bs=${l.size}`, `skip=${o / l.size}`, `count=${o / l.size + 1}`, `if=${file}`, `of=${tmp}`]);
    copies.push(readFileSync(tmp));
    rmSync(tmp, { force: true });
  }
  return parseEnvCopies(copies as [Buffer, Buffer]);
}
