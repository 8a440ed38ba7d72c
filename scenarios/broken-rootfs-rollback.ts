// A new rootfs whose init dies (variant broken-init): the kernel panics and resets, U-Boot
// counts past bootlimit and boots the old rootfs by itself; `flipside commit` is refused there.
import { defineScenario } from '../harness/scenario/define.js';
import { expectIncludes, expectExitZero, expectExitNonZero } from '../harness/scenario/expect.js';

export default defineScenario({
  name: 'broken-rootfs-rollback',
  purpose: 'broken new rootfs → bootloader rollback, commit refused, old version stays',
  needs: ['power', 'console', 'shell'],
  artifacts: ['broken'],
  async run(ctx) {
    await ctx.boot();
    const install = await ctx.sh(ctx.client.install(ctx.artifact('broken')), { timeoutMs: 300_000 });
    await ctx.check('install succeeds', () => expectExitZero(install));
    await ctx.reboot();
    const info = await ctx.sh('cat /etc/flipside/artifact_info');
    await ctx.check('the bootloader rolled back to the old rootfs', () => expectIncludes(info.stdout, `artifact_name=${ctx.versions.current}`));
    const commit = await ctx.sh(ctx.client.commit(), { timeoutMs: 120_000 });
    await ctx.check('commit is refused', () => expectExitNonZero(commit));
    ctx.expectFinal(ctx.versions.current);
  },
});
