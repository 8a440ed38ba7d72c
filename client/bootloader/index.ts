// Entry point of the bootloader env layer: pick the implementation from the client config.
import { GrubEnv } from './grub-env.js';
import { UBootEnv, type UBootEnvOptions } from './uboot-env.js';
import type { BootEnv, EnvVars } from './types.js';

export type BootEnvConfig =
  | { type: 'uboot'; fwEnvConfig: string; defaultEnv?: EnvVars }
  | { type: 'grub'; envFile: string };

export async function openBootEnv(cfg: BootEnvConfig): Promise<BootEnv> {
  switch (cfg.type) {
    case 'uboot': {
      const options: UBootEnvOptions = cfg.defaultEnv ? { defaultEnv: cfg.defaultEnv } : {};
      return UBootEnv.fromConfigFile(cfg.fwEnvConfig, options);
    }
    case 'grub':
      return new GrubEnv(cfg.envFile);
  }
}

export { EnvError, type BootEnv, type EnvErrorCode, type EnvVars } from './types.js';
export { UBootEnv, type UBootEnvOptions, type UBootEnvState, type UBootCopyState } from './uboot-env.js';
export { GrubEnv, createGrubEnvFile } from './grub-env.js';
export { parseFwEnvConfig, readFwEnvConfig, type FwEnvConfig, type FwEnvLocation } from './fw-env-config.js';
