// Check 3: an update that is never committed rolls back. From the running slot S the env is set
// as an installer leaves it (the slot variable = the other slot, upgrade_available=1, bootcount=0);
// then the board is power-cycled without a commit until it is back on S with upgrade_available=0,
// or bootlimit+2 boots have passed. The evidence says which step is missing: the bootloader ignored
// the slot variable, never counted, or counted past bootlimit without switching back. The slot
// variable is the client's choice for this env: Mender's mender_boot_part (+ _hex), or boot_part
// on an env from a Flipside image made before the Mender names.
import type { CheckResult, DoctorCheck } from '../check.js';
import { bootCountFix, envLocationFix, rollbackFix } from '../fixes.js';
import { resolveBootVars } from '../../../client/install/boot-vars.js';

export const rollback: DoctorCheck = {
  id: 'rollback',
  title: 'an uncommitted update rolls back after a forced double boot',
  async run({ bench, facts, log }): Promise<CheckResult> {
    const { disk } = bench.file;
    const env = bench.file.env!;
    await bench.ensureShell();
    const start = await bench.runningRoot();
    const slots = [
      { part: String(disk.rootfsA.number), root: disk.rootfsA.device },
      { part: String(disk.rootfsB.number), root: disk.rootfsB.device },
    ];
    const from = slots.find((s) => s.root === start);
    if (!from) return { status: 'error', detail: `running root ${start} is neither rootfs A (${disk.rootfsA.device}) nor B (${disk.rootfsB.device}) of the board file` };
    const to = slots.find((s) => s !== from)!;
    const before = (await bench.fwPrintenv()) ?? {};
    const bootlimit = Number(before.bootlimit ?? (bench.file.bootloader.type === 'uboot' ? bench.file.bootloader.bootlimit : 1));
    const names = resolveBootVars({ UpgradeAvailable: 'upgrade_available', BootCount: 'bootcount', ValueA: slots[0]!.part, ValueB: slots[1]!.part }, before);
    const partVar = names.BootPart;
    const slotVars = (part: string): Record<string, string> => ({ [partVar]: part, ...(names.BootPartHex ? { [names.BootPartHex]: Number(part).toString(16) } : {}) });
    await bench.fwSetenv({ ...slotVars(to.part), upgrade_available: '1', bootcount: '0' });
    const trail: string[] = [];
    const counts: string[] = [];
    let result: CheckResult | null = null;
    const maxBoots = bootlimit + 2;
    // Bootloader banners seen: a trial slot that cannot boot makes U-Boot reset by itself, so one
    // power cycle may hold two boots.
    const banner = bench.file.console.bootloaderPrompt;
    let starts = 0;
    const stop = bench.target.caps.console.onLine((l) => {
      // At the line start: "Found U-Boot script" is not a start.
      if (l.text.trimStart().startsWith(banner)) starts++;
    });
    try {
      for (let n = 1; n <= maxBoots && !result; n++) {
        try {
          await bench.powerCycleToShell();
        } catch (e) {
          // A trial slot that hangs is a legitimate way to get here: the next boot counts.
          trail.push(`power cycle ${n}: no shell (${(e as Error).message.split('\n')[0]})`);
          continue;
        }
        const root = await bench.runningRoot();
        const vars = (await bench.fwPrintenv()) ?? {};
        counts.push(vars.bootcount ?? '?');
        trail.push(`power cycle ${n} (${starts} bootloader starts so far): ${root === from.root ? 'original' : 'trial'} slot ${root}, ${partVar}=${vars[partVar] ?? '?'} upgrade_available=${vars.upgrade_available ?? '?'} bootcount=${vars.bootcount ?? '?'}`);
        log(`rollback: ${trail.at(-1)}`);
        if (root !== from.root) continue;
        if (vars.upgrade_available === '0' && vars[partVar] === from.part)
          result = { status: 'pass', detail: `rolled back to ${from.root} after ${n} power cycle${n > 1 ? 's' : ''} (${starts} bootloader starts) without a commit` };
        else if (vars[partVar] === to.part && vars.upgrade_available === '1')
          result = {
            status: 'fail',
            detail: `${partVar}=${to.part} upgrade_available=1 were set from Linux, but the bootloader booted the original slot ${from.root} and left the env untouched: it does not read what Linux wrote`,
            fix: facts.failed.has('env-linux-to-bootloader') || !facts.integration ? envLocationFix(env, facts.fwEnv?.config) : `the bootloader must boot ${partVar} (${to.part} → root=${to.root}): check that bootcmd/boot.scr uses ${partVar}`,
          };
        else result = { status: 'fail', detail: `back on ${from.root} but the env says ${partVar}=${vars[partVar]} upgrade_available=${vars.upgrade_available}: a rollback must leave ${partVar}=${from.part} upgrade_available=0`, fix: rollbackFix(String(bootlimit)) };
      }
    } finally {
      stop();
    }
    // Put the board back on its original slot for whatever runs next.
    if (result?.status !== 'pass' && bench.state === 'shell') await bench.fwSetenv({ ...slotVars(from.part), upgrade_available: '0', bootcount: '0' }).catch(() => undefined);
    const measured = { powerCycles: trail.length, bootloaderStarts: starts, trail: trail.join(' | ') };
    if (result) return { ...result, measured };
    if (counts.length > 0 && counts.every((c) => c === '0' || c === '?'))
      return { status: 'fail', detail: `${trail.length} boots of the uncommitted update and bootcount never incremented (${trail.join('; ')})`, fix: bootCountFix(), measured };
    return { status: 'fail', detail: `${trail.length} boots of the uncommitted update and the board is still on the trial slot (${trail.join('; ')})`, fix: rollbackFix(String(bootlimit)), measured };
  },
};
