// Check 1b, the other way: what the bootloader writes, Linux reads. With U-Boot's own env on the
// raw copies (native) that is setenv + saveenv at the prompt; with a boot script the script is the
// writer, so the check arms a trial boot (upgrade_available=1 on the running slot) and expects
// fw_printenv to show the bootcount the script saved.
import { randomToken } from '../bench.js';
import type { DoctorCheck } from '../check.js';
import { bootCountFix, envLocationFix } from '../fixes.js';

export const envBootloaderToLinux: DoctorCheck = {
  id: 'env-bootloader-to-linux',
  title: 'a value saved by U-Boot is read by fw_printenv in Linux',
  async run({ bench, facts }) {
    const env = bench.file.env!;
    if (!facts.integration) return { status: 'skip', detail: 'needs to know where U-Boot keeps the env: fix env-linux-to-bootloader first' };
    if (facts.integration === 'native') {
      const canary = randomToken();
      await bench.powerCycleToUBoot();
      const saved = await bench.ubootRun(`setenv flipside_canary2 ${canary}; saveenv`);
      await bench.bootFromUBoot();
      const vars = await bench.fwPrintenv();
      await bench.fwSetenv({ flipside_canary2: null }).catch(() => undefined);
      const how = saved.trim().split('\n').pop() ?? '';
      if (vars?.flipside_canary2 === canary) return { status: 'pass', detail: `setenv + saveenv in U-Boot (${how}); fw_printenv shows flipside_canary2=${canary}` };
      if (/nowhere|not possible/i.test(saved))
        return { status: 'fail', detail: `U-Boot cannot save its env: ${how}`, fix: `build U-Boot with CONFIG_ENV_IS_IN_MMC=y CONFIG_ENV_OFFSET=0x${env.offsets[0].toString(16)} CONFIG_ENV_OFFSET_REDUND=0x${env.offsets[1].toString(16)} CONFIG_ENV_SIZE=0x${env.size.toString(16)}` };
      return { status: 'fail', detail: `U-Boot saved flipside_canary2=${canary} (${how}) but fw_printenv does not show it`, fix: envLocationFix(env, facts.fwEnv?.config) };
    }
    await bench.ensureShell();
    await bench.fwSetenv({ upgrade_available: '1', bootcount: '0' });
    await bench.powerCycleToShell();
    const vars = await bench.fwPrintenv();
    await bench.fwSetenv({ upgrade_available: '0', bootcount: '0' });
    if (vars?.bootcount === '1') return { status: 'pass', detail: 'the boot script counted a trial boot (bootcount 0 → 1) and fw_printenv in Linux reads the count' };
    return {
      status: 'fail',
      detail: `after a trial boot fw_printenv shows bootcount=${vars?.bootcount ?? '(unreadable env)'}, not the 1 the boot script should have saved (it reads the right place: env-linux-to-bootloader passed)`,
      fix: bootCountFix(),
    };
  },
};
