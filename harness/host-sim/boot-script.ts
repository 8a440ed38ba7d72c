// The boot decision of the U-Boot script (Mender's bootcount/altbootcmd logic), in TypeScript, so
// the host-sim "boots" the way the real board does:
//   upgrade_available=1 → bootcount++ (saveenv); bootcount > bootlimit → altbootcmd: swap
//   boot_part, upgrade_available=0, bootcount=0 (saveenv); boot boot_part; if that kernel/rootfs
//   fails and upgrade_available=1 → reset (mender_try_to_recover) and go round again.
import type { BootEnv, EnvVars } from '../../bootenv/types.js';

export interface BootVarsSpec {
  bootPart: string;
  upgradeAvailable: string;
  bootCount: string;
  bootLimit: string;
  valueA: string;
  valueB: string;
}

export const DEFAULT_BOOT_VARS: BootVarsSpec = {
  bootPart: 'boot_part',
  upgradeAvailable: 'upgrade_available',
  bootCount: 'bootcount',
  bootLimit: 'bootlimit',
  valueA: '2',
  valueB: '3',
};

export type BootOutcome =
  | { ok: true; slot: 'A' | 'B'; resets: number; log: string[] }
  | { ok: false; slot: 'A' | 'B' | null; resets: number; log: string[]; reason: string };

/** One power-on: applies the script's env changes through `env` and picks the slot to run. */
export async function runBootScript(
  env: BootEnv,
  vars: BootVarsSpec,
  bootable: (slot: 'A' | 'B') => Promise<boolean>,
  maxResets = 4,
  /** A deliberately broken script for harness tests: never counts boots, so never rolls back. */
  bug: 'no-bootcount' | null = null,
): Promise<BootOutcome> {
  const log: string[] = [];
  for (let resets = 0; resets <= maxResets; resets++) {
    let e: EnvVars = await env.read();
    if (e[vars.upgradeAvailable] === '1' && bug === 'no-bootcount') log.push(`${vars.bootCount}=${e[vars.bootCount] ?? '0'} (this boot script never increments it)`);
    else if (e[vars.upgradeAvailable] === '1') {
      const count = Number(e[vars.bootCount] ?? '0') + 1;
      await env.write({ [vars.bootCount]: String(count) });
      log.push(`bootcount=${count}`);
      const limit = Number(e[vars.bootLimit] ?? '1');
      if (count > limit) {
        const cur = e[vars.bootPart];
        const swapped = cur === vars.valueA ? vars.valueB : vars.valueA;
        await env.write({ [vars.bootPart]: swapped, [vars.upgradeAvailable]: '0', [vars.bootCount]: '0' });
        log.push(`altbootcmd: bootcount ${count} > bootlimit ${limit}: rolling back, ${vars.bootPart} ${cur} -> ${swapped}`);
      }
      e = await env.read();
    }
    const part = e[vars.bootPart];
    const slot = part === vars.valueA ? 'A' : part === vars.valueB ? 'B' : null;
    if (!slot) return { ok: false, slot: null, resets, log, reason: `${vars.bootPart}=${String(part)} names no rootfs` };
    if (await bootable(slot)) {
      log.push(`booting slot ${slot}`);
      return { ok: true, slot, resets, log };
    }
    log.push(`slot ${slot} failed to boot`);
    if (e[vars.upgradeAvailable] !== '1') return { ok: false, slot, resets, log, reason: `slot ${slot} does not boot and no upgrade is pending` };
    log.push('mender_try_to_recover: reset');
  }
  return { ok: false, slot: null, resets: maxResets, log, reason: 'too many resets' };
}
