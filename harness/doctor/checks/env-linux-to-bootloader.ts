// Check 1a: a value fw_setenv writes in Linux is what U-Boot reads. U-Boot's own env is tried
// first (printenv: a Mender-style integration, env at CONFIG_ENV_OFFSET); failing that, the raw
// copies at the board file's offsets are read from U-Boot (`<if> read` + md.b), which is where a
// boot script such as Flipside's boot.scr takes the A/B variables from.
import { decodeVars, toEnvVars } from '../../../bootenv/uboot-env-format.js';
import { randomToken } from '../bench.js';
import type { DoctorCheck } from '../check.js';
import { envLocationFix, hex } from '../fixes.js';

/** The variables are at the start of a copy; this much is enough and quick to print over serial. */
const PEEK_BYTES = 0x400;

export const envLinuxToBootloader: DoctorCheck = {
  id: 'env-linux-to-bootloader',
  title: 'a value written by fw_setenv in Linux is read by U-Boot',
  async run({ bench, facts }) {
    const env = bench.file.env!;
    await bench.ensureShell();
    try {
      facts.fwEnv = await bench.fwEnvConfig();
    } catch (e) {
      return { status: 'fail', detail: `cannot read /etc/fw_env.config: ${(e as Error).message}`, fix: envLocationFix(env, undefined) };
    }
    const canary = randomToken();
    await bench.fwSetenv({ flipside_canary: canary });
    await bench.powerCycleToUBoot();
    const native = await bench.ubootRun('printenv flipside_canary');
    const measured: Record<string, string | number> = { canary, fwEnvConfig: facts.fwEnv.config.copies.map((c) => `${c.device} ${hex(c.offset)} ${hex(c.size)}`).join('; ') };
    let found: string | null = null;
    if (native.includes(`flipside_canary=${canary}`)) {
      facts.integration = 'native';
      found = "U-Boot's own env (printenv)";
    } else {
      for (const offset of env.offsets) {
        const vars = toEnvVars(decodeVars(await bench.readFromUBoot(offset, Math.min(PEEK_BYTES, env.size)), true));
        if (vars.flipside_canary === canary) {
          facts.integration = 'script';
          found = `the raw env copy at ${hex(offset)} (read by the boot script)`;
          break;
        }
      }
    }
    await bench.bootFromUBoot();
    await bench.fwSetenv({ flipside_canary: null });
    if (found) return { status: 'pass', detail: `fw_setenv flipside_canary=${canary} in Linux; U-Boot sees it in ${found}`, measured: { ...measured, integration: facts.integration! } };
    return {
      status: 'fail',
      detail: `fw_setenv flipside_canary=${canary} in Linux, but U-Boot sees it neither in printenv nor in the env copies at ${env.offsets.map(hex).join(', ')}`,
      fix: envLocationFix(env, facts.fwEnv.config),
      measured,
    };
  },
};
