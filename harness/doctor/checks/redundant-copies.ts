// Check 2: the env is redundant the way U-Boot and libubootenv agree on. fw_env.config names two
// copies; after two saves from Linux both copies hold a valid CRC and the saves went to alternate
// copies with the flags byte counting up, so a save torn by a power cut always leaves the other
// copy intact. The copies are read from Linux with dd | od (no offline storage needed).
import { checkCopy, chooseCurrent, decodeVars, nextFlag, toEnvVars } from '../../../bootenv/uboot-env-format.js';
import type { DoctorCheck, CheckResult } from '../check.js';
import { envLocationFix, fwEnvLines, hex } from '../fixes.js';
import type { DoctorBench } from '../bench.js';
import type { FwEnvConfig } from '../../../bootenv/fw-env-config.js';

interface Snapshot {
  copies: { offset: number; crcOk: boolean; flag: number }[];
  current: 0 | 1 | null;
  vars: Record<string, string>;
}

async function snapshot(bench: DoctorBench, config: FwEnvConfig): Promise<Snapshot> {
  const blobs = [];
  for (const c of config.copies) blobs.push({ offset: c.offset, blob: await bench.readFromLinux(c.device, c.offset, c.size) });
  const copies = blobs.map(({ offset, blob }) => {
    const k = checkCopy(blob, true);
    return { offset, crcOk: k.crcOk, flag: k.flag ?? 0 };
  });
  const current = chooseCurrent([copies[0]!.crcOk, copies[1]!.crcOk], [copies[0]!.flag, copies[1]!.flag]);
  return { copies, current, vars: current === null ? {} : toEnvVars(decodeVars(blobs[current]!.blob, true)) };
}

const show = (s: Snapshot) => s.copies.map((c) => `${hex(c.offset)}: ${c.crcOk ? 'CRC ok' : 'bad CRC'}, flags ${c.flag}`).join('; ');

export const redundantCopies: DoctorCheck = {
  id: 'env-redundant-copies',
  title: 'both env copies stay valid and saves alternate between them',
  async run({ bench, facts }): Promise<CheckResult> {
    const env = bench.file.env!;
    await bench.ensureShell();
    const cfg = (facts.fwEnv ??= await bench.fwEnvConfig()).config;
    if (cfg.copies.length !== 2)
      return {
        status: 'fail',
        detail: `/etc/fw_env.config names ${cfg.copies.length} env cop${cfg.copies.length === 1 ? 'y' : 'ies'}: a power cut during a save can corrupt the only one`,
        fix: `name both copies in /etc/fw_env.config:\n    ${fwEnvLines(env).join('\n    ')}`,
      };
    if ((await bench.fwPrintenv()) === null) return { status: 'fail', detail: 'fw_printenv cannot read the env at all (no copy with a valid CRC)', fix: envLocationFix(env, cfg) };
    const t0 = Date.now();
    const seen: Snapshot[] = [];
    for (const n of ['1', '2']) {
      await bench.fwSetenv({ flipside_doctor_save: n });
      const s = await snapshot(bench, cfg);
      seen.push(s);
      if (s.current === null || s.vars.flipside_doctor_save !== n)
        return { status: 'fail', detail: `after fw_setenv flipside_doctor_save=${n} the copies read back as ${show(s)}`, fix: envLocationFix(env, cfg) };
    }
    await bench.fwSetenv({ flipside_doctor_save: null });
    const [a, b] = seen as [Snapshot, Snapshot];
    const measured = { readMs: Date.now() - t0, bytesRead: 4 * cfg.copies[0]!.size, afterSave1: show(a), afterSave2: show(b) };
    const bad = b.copies.find((c) => !c.crcOk);
    if (bad)
      return {
        status: 'fail',
        detail: `after two saves the copy at ${hex(bad.offset)} has a bad CRC (${show(b)}): the two copies are not written alike`,
        fix: `both lines of /etc/fw_env.config need U-Boot's env size (${hex(env.size)}) and distinct, non-overlapping offsets:\n    ${fwEnvLines(env).join('\n    ')}`,
        measured,
      };
    if (a.current === b.current || b.copies[b.current!]!.flag !== nextFlag(a.copies[a.current!]!.flag))
      return {
        status: 'fail',
        detail: `two saves did not alternate copies with a rising flags byte (${show(a)} → ${show(b)})`,
        fix: `use libubootenv's fw_setenv with both copies in /etc/fw_env.config (incremental flags, as U-Boot's CONFIG_SYS_REDUNDAND_ENVIRONMENT expects):\n    ${fwEnvLines(env).join('\n    ')}`,
        measured,
      };
    return { status: 'pass', detail: `two saves alternated copies ${hex(a.copies[a.current!]!.offset)} → ${hex(b.copies[b.current!]!.offset)}, flags ${a.copies[a.current!]!.flag} → ${b.copies[b.current!]!.flag}, both CRCs valid`, measured };
  },
};
