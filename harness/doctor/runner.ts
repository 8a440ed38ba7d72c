// Runs the doctor's checks in order on one board and collects a report. Checks share one bench
// (the board stays where the last check left it, so a check that ends at the shell saves the next
// one a boot). A check that throws is an 'error' with the message, and the run goes on: a bring-up
// engineer wants every finding from one sitting.
import type { CheckResult, DoctorCheck, DoctorContext } from './check.js';
import { DoctorBench, type DoctorTarget, type UBootSettings } from './bench.js';
import { envBootloaderToLinux } from './checks/env-bootloader-to-linux.js';
import { envLinuxToBootloader } from './checks/env-linux-to-bootloader.js';
import { redundantCopies } from './checks/redundant-copies.js';
import { rollback } from './checks/rollback.js';

export const DOCTOR_CHECKS: readonly DoctorCheck[] = [envLinuxToBootloader, envBootloaderToLinux, redundantCopies, rollback];

export interface DoctorCheckReport extends CheckResult {
  id: string;
  title: string;
  durationMs: number;
}

export interface DoctorReport {
  board: string;
  ok: boolean;
  startedAt: string;
  durationMs: number;
  /** Power cycles the doctor made. */
  boots: number;
  checks: DoctorCheckReport[];
  /** Raw logs (console transcript) kept by the board. */
  logs: string[];
}

export interface DoctorOptions {
  checks?: readonly DoctorCheck[];
  uboot?: UBootSettings;
  log?: (line: string) => void;
}

export async function runDoctor(target: DoctorTarget, opts: DoctorOptions = {}): Promise<DoctorReport> {
  const t0 = Date.now();
  const log = opts.log ?? (() => undefined);
  const bench = new DoctorBench(target, opts.uboot);
  const ctx: DoctorContext = { bench, facts: { failed: new Set() }, log };
  const checks: DoctorCheckReport[] = [];
  const unsupported =
    target.file.bootloader.type !== 'uboot' || !target.file.env ? `${target.name} does not boot with U-Boot and a raw env (bootloader: ${target.file.bootloader.type}); the doctor checks U-Boot integrations` : null;
  for (const check of opts.checks ?? DOCTOR_CHECKS) {
    const c0 = Date.now();
    log(`doctor: ${check.id}…`);
    let r: CheckResult;
    if (unsupported) r = { status: 'skip', detail: unsupported };
    else
      try {
        r = await check.run(ctx);
      } catch (e) {
        r = { status: 'error', detail: (e as Error).message };
        // Wherever the board was, the next check starts from a power cycle.
        bench.state = 'unknown';
      }
    if (r.status === 'fail' || r.status === 'error') ctx.facts.failed.add(check.id);
    checks.push({ id: check.id, title: check.title, ...r, durationMs: Date.now() - c0 });
    log(`doctor: ${check.id} ${r.status}`);
  }
  return {
    board: target.name,
    ok: checks.every((c) => c.status === 'pass'),
    startedAt: new Date(t0).toISOString(),
    durationMs: Date.now() - t0,
    boots: bench.boots,
    checks,
    logs: [],
  };
}
