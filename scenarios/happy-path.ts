// Happy path (standalone): install the next version from the data partition, reboot into it,
// commit, and it stays after another reboot.
import { defineScenario } from '../harness/scenario/define.js';

export default defineScenario({
  name: 'happy-path',
  purpose: 'install next version → reboot → commit → it stays',
  needs: ['power', 'console', 'shell'],
  artifacts: ['next'],
  async run(ctx) {
    await ctx.boot();
    const install = await ctx.sh(`flipside install ${ctx.artifact('next')}`, { timeoutMs: 300_000 });
    await ctx.check('install succeeds', () => install.code === 0 || `exit ${install.code}`);
    await ctx.reboot();
    const trial = await ctx.sh('fw_printenv upgrade_available');
    await ctx.check('the new rootfs runs on trial (upgrade_available=1)', () => trial.stdout.includes('upgrade_available=1') || trial.stdout);
    const commit = await ctx.sh('flipside commit', { timeoutMs: 120_000 });
    await ctx.check('commit succeeds', () => commit.code === 0 || `exit ${commit.code}`);
    await ctx.reboot();
    const after = await ctx.sh('cat /etc/flipside/artifact_info');
    await ctx.check('the new rootfs stays after a reboot', () => after.stdout.includes(`artifact_name=${ctx.versions.next}`) || after.stdout);
    ctx.expectFinal(ctx.versions.next);
  },
});
