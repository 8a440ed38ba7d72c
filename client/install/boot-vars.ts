// Which env variables the rootfs installer reads and writes. By default Mender's U-Boot/GRUB
// integration names (mender_boot_part + mender_boot_part_hex, upgrade_available, bootcount), so
// the client is a drop-in on a board integrated for Mender. One exception keeps devices flashed
// before Flipside spoke those names updatable: their boot.scr sits on the boot partition, which a
// rootfs update never rewrites, and reads `boot_part`. When the env holds `boot_part` and no
// `mender_boot_part`, the client keeps writing `boot_part`, or that bootloader would never see a flip.
import type { BootEnv, EnvVars } from '../../bootenv/types.js';
import type { BootVarNames } from './rootfs.js';

export const MENDER_BOOT_PART = 'mender_boot_part';
export const MENDER_BOOT_PART_HEX = 'mender_boot_part_hex';
/** The slot variable of Flipside images made before the Mender names (boot.scr reads only it). */
export const LEGACY_BOOT_PART = 'boot_part';

/** The names as configured: BootPart/BootPartHex unset means "Mender's, unless the env is legacy". */
export interface ConfiguredBootVars {
  BootPart?: string;
  BootPartHex?: string;
  UpgradeAvailable: string;
  BootCount: string;
  ValueA: string;
  ValueB: string;
}

/** An env a pre-Mender-names Flipside boot script keeps: boot_part set, mender_boot_part not. */
export function isLegacyEnv(env: EnvVars): boolean {
  return env[LEGACY_BOOT_PART] !== undefined && env[MENDER_BOOT_PART] === undefined;
}

/**
 * The names to use on this env. A configured BootPart is used as is (a board's own integration);
 * otherwise Mender's pair, or `boot_part` alone on a legacy env (that script has no hex variable).
 */
export function resolveBootVars(c: ConfiguredBootVars, env: EnvVars): BootVarNames {
  const common = { UpgradeAvailable: c.UpgradeAvailable, BootCount: c.BootCount, ValueA: c.ValueA, ValueB: c.ValueB };
  if (c.BootPart !== undefined) return { ...common, BootPart: c.BootPart, ...(c.BootPartHex !== undefined ? { BootPartHex: c.BootPartHex } : {}) };
  if (isLegacyEnv(env)) return { ...common, BootPart: LEGACY_BOOT_PART };
  return { ...common, BootPart: MENDER_BOOT_PART, BootPartHex: c.BootPartHex ?? MENDER_BOOT_PART_HEX };
}

/**
 * The names for this board's env, read now. An env that cannot be read yet gets Mender's names:
 * the installer reports the read error where it reads the env itself.
 */
export async function bootVarsFor(c: ConfiguredBootVars, env: BootEnv, log: (line: string) => void): Promise<BootVarNames> {
  const vars = resolveBootVars(c, await env.read().catch(() => ({})));
  if (c.BootPart === undefined && vars.BootPart === LEGACY_BOOT_PART)
    log(`${env.describe} keeps the slot in ${LEGACY_BOOT_PART} (a boot script from before Mender's names): the update flips ${LEGACY_BOOT_PART}`);
  return vars;
}

/**
 * Mender's canary rule (its client's checkEnvCanary): with mender_check_saveenv_canary=1 in the
 * env, mender_saveenv_canary=1 must be there too, written by the bootloader itself. Without it,
 * U-Boot has never saved to the env Linux reads, so a flip written here would never be seen.
 * Returns the problem, or null when the env passes.
 */
export function saveenvCanaryProblem(env: EnvVars): string | null {
  if (env.mender_check_saveenv_canary !== '1') return null;
  if (env.mender_saveenv_canary === '1') return null;
  return `mender_check_saveenv_canary=1 but mender_saveenv_canary=${env.mender_saveenv_canary ?? '(unset)'}: the bootloader has not saved to this env, so Linux and the bootloader may not share it (check fw_env.config)`;
}
