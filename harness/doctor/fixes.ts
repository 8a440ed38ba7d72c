// The fix texts, kept apart from the checks so each names the same offsets the same way: what
// U-Boot uses (the board file's env section, which boot.scr / CONFIG_ENV_OFFSET are built from)
// against what Linux's /etc/fw_env.config says.
import type { FwEnvConfig } from '../../bootenv/fw-env-config.js';
import type { BoardFile } from '../../boards/schema.js';

export const hex = (n: number) => `0x${n.toString(16)}`;

export type EnvSpec = NonNullable<BoardFile['env']>;

/** The fw_env.config lines that match where U-Boot keeps the env. */
export function fwEnvLines(env: EnvSpec): string[] {
  return env.offsets.map((o) => `${env.device} ${hex(o)} ${hex(env.size)}`);
}

function where(offsets: readonly number[]): string {
  return offsets.map(hex).join(' and ');
}

/** Why fw_env.config and U-Boot disagree, and both ways to make them agree. */
export function envLocationFix(env: EnvSpec, config: FwEnvConfig | undefined): string {
  const lines = fwEnvLines(env);
  const setLines = `set /etc/fw_env.config to\n    ${lines.join('\n    ')}`;
  if (!config) return `U-Boot reads the env at ${where(env.offsets)} (size ${hex(env.size)}) but Linux has no /etc/fw_env.config: ${setLines}`;
  const linux = config.copies;
  const said = `/etc/fw_env.config names ${linux.map((c) => `${c.device} ${hex(c.offset)} size ${hex(c.size)}`).join(' and ')}`;
  const devices = [...new Set(linux.map((c) => c.device))];
  const reasons: string[] = [];
  if (linux.map((c) => c.offset).join() !== env.offsets.slice(0, linux.length).join()) reasons.push('offsets');
  if (devices.some((d) => d !== env.device)) reasons.push('device');
  if (linux.some((c) => c.size !== env.size)) reasons.push('size');
  if (linux.length !== 2) reasons.push('number of copies');
  const other =
    linux.length === 2
      ? `\n  or move U-Boot to Linux's location instead: CONFIG_ENV_OFFSET=${hex(linux[0]!.offset)} CONFIG_ENV_OFFSET_REDUND=${hex(linux[1]!.offset)} CONFIG_ENV_SIZE=${hex(linux[0]!.size)} (native env) or env.offsets: ["${hex(linux[0]!.offset)}", "${hex(linux[1]!.offset)}"] in the board file (boot.scr), then rebuild the image`
      : '';
  return `U-Boot reads the env at ${where(env.offsets)} (size ${hex(env.size)}) but ${said} (${reasons.join(', ') || 'same place, yet the value did not arrive: is it the same disk?'}): ${setLines}${other}`;
}

export function bootCountFix(): string {
  return [
    'make the bootloader count trial boots and save the count before loading the kernel:',
    '  Mender-style U-Boot: CONFIG_BOOTCOUNT_LIMIT=y, CONFIG_BOOTCOUNT_ENV=y, bootlimit=1 in the default env, and',
    '    altbootcmd=run mender_altbootcmd; run bootcmd (meta-mender\'s env_mender.h)',
    '  Flipside boot.scr: the `if itest.s "x${upgrade_available}" == "x1"` block must run and its env write',
    '    must reach the env offsets (rebuild boot.scr from qemu/boot/boot.cmd for this board file)',
  ].join('\n');
}

export function rollbackFix(bootlimit: string): string {
  return [
    `bootcount passes bootlimit (${bootlimit}) but the bootloader keeps booting the trial slot: on bootcount > bootlimit switch mender_boot_part back:`,
    '  Mender-style U-Boot: altbootcmd=run mender_altbootcmd; run bootcmd, where mender_altbootcmd sets mender_boot_part and',
    '    mender_boot_part_hex to the other slot, upgrade_available=0, then saveenv; run mender_setup',
    '  Flipside boot.scr: the "rolling back" branch of qemu/boot/boot.cmd',
  ].join('\n');
}
