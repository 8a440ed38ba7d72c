// A power cut during the first boot of the new rootfs, before anyone committed: U-Boot counted
// that boot, so the next one exceeds bootlimit (1 on the QEMU boards, as Mender's default) and
// rolls back to the old rootfs; `flipside commit` there is refused and the old version stays.
import { defineScenario } from '../harness/scenario/define.js';
import { expectIncludes, expectExitZero, expectExitNonZero } from '../harness/scenario/expect.js';

export default defineScenario({
  name: 'power-cut-first-boot',
  purpose: 'cut power in the first boot of the new rootfs → bootloader rolls back, commit refused',
  needs: ['power', 'console', 'boot-console', 'shell'],
  artifacts: ['next'],
  async run(ctx) {
    await ctx.boot();
    const install = await ctx.sh(ctx.client.install(ctx.artifact('next')), { timeoutMs: 300_000 });
    await ctx.check('install succeeds', () => expectExitZero(install));
    await ctx.caps.console.write('sync; reboot -f\n');
    await ctx.strategy.followBoot('bootloader');
    // The new kernel has started its init: the boot was counted, the client has not run.
    await ctx.caps.console.expect(/flipside: init root=\S+ artifact_name=\S+/, 120_000);
    await ctx.powerCut();
    await ctx.boot();
    const info = await ctx.sh('cat /etc/flipside/artifact_info');
    await ctx.check('the bootloader rolled back to the old rootfs', () => expectIncludes(info.stdout, `artifact_name=${ctx.versions.current}`));
    const commit = await ctx.sh(ctx.client.commit(), { timeoutMs: 120_000 });
    await ctx.check('commit is refused on the old rootfs', () => expectExitNonZero(commit));
    ctx.expectFinal(ctx.versions.current);
  },
});
