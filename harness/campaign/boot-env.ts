// The env as the boot logic reads it. The reference is U-Boot's rule (client/bootloader UBootEnv:
// only CRC-valid copies count); the `no-crc` boot mutant takes the copy with the higher flag
// whatever its CRC, as a bootloader that skips the check would. Both report the first env they
// read, so a campaign can check that a power-on saw the old or the new env, never an older one.
import { readFile } from 'node:fs/promises';
import { UBootEnv } from '../../bootenv/uboot-env.js';
import { chooseCurrent, decodeVars, toEnvVars } from '../../bootenv/uboot-env-format.js';
import type { BootEnv, EnvVars } from '../../bootenv/types.js';

export interface EnvLayoutSpec {
  file: string;
  offsets: [number, number];
  size: number;
}

export class ObservedEnv implements BootEnv {
  readonly describe: string;
  /** Every env the boot logic read, in order. */
  readonly seen: EnvVars[] = [];

  constructor(
    private readonly real: UBootEnv,
    private readonly layout: EnvLayoutSpec,
    private readonly crcBlind: boolean,
  ) {
    this.describe = real.describe;
  }

  async read(): Promise<EnvVars> {
    const v = this.crcBlind ? await this.readIgnoringCrc() : await this.real.read();
    this.seen.push(v);
    return v;
  }

  write(changes: Record<string, string | null>): Promise<void> {
    return this.real.write(changes);
  }

  private async readIgnoringCrc(): Promise<EnvVars> {
    const img = await readFile(this.layout.file);
    const blobs = this.layout.offsets.map((o) => img.subarray(o, o + this.layout.size));
    const cur = chooseCurrent([true, true], [blobs[0]![4]!, blobs[1]![4]!])!;
    return toEnvVars(decodeVars(blobs[cur]!, true));
  }
}
