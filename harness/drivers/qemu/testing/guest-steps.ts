// Steps the QEMU boot tests take on a guest through its console: boot to the shell, read and set
// the U-Boot env from Linux, read the grubenv, reboot back into the bootloader.
import { ConsoleShell } from '../../../shell/console-shell.js';
import { parseEnvLines } from '../../../../bootenv/env-lines.js';
import type { QemuVm } from '../vm.js';
import { GRUBENV_GUEST_PATH } from '../../../../qemu/boot/grub-cfg.js';

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Waits for init's first line and the prompt; returns the root device and artifact_name. */
export async function bootToShell(v: QemuVm): Promise<{ root: string; artifact: string }> {
  const m = await v.console.expect(/flipside: init root=(\S+) artifact_name=(\S+)\n/, v.board.timeouts.shellMs);
  await v.console.expect(new RegExp(escapeRegExp(v.board.console.shellPrompt)), 30_000);
  return { root: m[1]!, artifact: m[2]! };
}

/** Commands on the guest's shell, between markers, each waiting for the board's prompt to return. */
export function guestShell(v: QemuVm, timeoutMs = 30_000): ConsoleShell {
  return new ConsoleShell(v.console, { prompt: v.board.console.shellPrompt, timeoutMs });
}

export async function guestEnv(sh: ConsoleShell): Promise<Record<string, string>> {
  const r = await sh.run('fw_printenv');
  if (r.code !== 0) throw new Error(`fw_printenv failed: ${r.stdout}`);
  return parseEnvLines(r.stdout);
}

/** Sets several variables in one fw_setenv write, as the client does. */
export async function guestSetEnv(sh: ConsoleShell, vars: Record<string, string>): Promise<void> {
  // libubootenv takes several name/value pairs on one command line and writes them at once.
  const r = await sh.run(`fw_setenv ${Object.entries(vars).map(([k, v]) => `${k} ${v}`).join(' ')}`);
  if (r.code !== 0) throw new Error(`fw_setenv failed: ${r.stdout}`);
}

/** `reboot -f` back into U-Boot (on raspi3b through the bcm2835 watchdog, which is slower). */
export async function rebootToUBoot(v: QemuVm, timeoutMs = 30_000): Promise<void> {
  await v.console.write('sync; reboot -f\n');
  await v.console.expect(/U-Boot \d{4}/, timeoutMs);
}

/** `reboot -f` back into the board's bootloader, waiting for its first console line. */
export async function rebootToBootloader(v: QemuVm, timeoutMs = 30_000): Promise<void> {
  await v.console.write('sync; reboot -f\n');
  await v.console.expect(new RegExp(escapeRegExp(v.board.console.bootloaderPrompt)), timeoutMs);
}

/** The grubenv as the guest sees it on the mounted boot partition (name=value lines of the block). */
export async function guestGrubEnv(sh: ConsoleShell): Promise<Record<string, string>> {
  const r = await sh.run(`cat ${GRUBENV_GUEST_PATH}`);
  if (r.code !== 0) throw new Error(`cat ${GRUBENV_GUEST_PATH} failed: ${r.stdout}`);
  return parseEnvLines(r.stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n'));
}
