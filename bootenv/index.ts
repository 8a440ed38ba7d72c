// Entry point of the bootloader env library: pick the implementation from a boot env config.
import { GrubEnv } from './grub-env.js';
import { UBootEnv, type UBootEnvOptions } from './uboot-env.js';
import type { BootEnv, EnvVars, WriteObserver } from './types.js';

export type BootEnvConfig =
  | { type: 'uboot'; fwEnvConfig: string; defaultEnv?: EnvVars }
  | { type: 'grub'; envFile: string };

/** `observer` hears of each U-Boot env write and fsync (GRUB's env is replaced by rename, not written in place). */
export async function openBootEnv(cfg: BootEnvConfig, observer?: WriteObserver): Promise<BootEnv> {
  switch (cfg.type) {
    case 'uboot': {
      const options: UBootEnvOptions = { defaultEnv: cfg.defaultEnv, observer };
      return UBootEnv.fromConfigFile(cfg.fwEnvConfig, options);
    }
    case 'grub':
      return new GrubEnv(cfg.envFile);
  }
}

export { EnvError, type BootEnv, type EnvErrorCode, type EnvVars, type WriteObserver } from './types.js';
export { UBootEnv, type UBootEnvOptions, type UBootEnvState, type UBootCopyState } from './uboot-env.js';
export { GrubEnv, createGrubEnvFile } from './grub-env.js';
export { parseFwEnvConfig, readFwEnvConfig, type FwEnvConfig, type FwEnvLocation } from './fw-env-config.js';
