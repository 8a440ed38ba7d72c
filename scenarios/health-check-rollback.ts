// An update whose ArtifactCommit_Enter script (the device's health check) exits 1: the commit is
// refused, the client rolls the boot env back, and after the reboot the old version runs again,
// committed, as Mender does when a commit-time check fails.
import { defineScenario } from '../harness/scenario/define.js';

export default defineScenario({
  name: 'health-check-rollback',
  purpose: 'ArtifactCommit_Enter health check exits 1 → commit refused, rollback, old version stays',
  needs: ['power', 'console', 'shell'],
  artifacts: ['unhealthy'],
  async run(ctx) {
    await ctx.boot();
    const install = await ctx.sh(`flipside install ${ctx.artifact('unhealthy')}`, { timeoutMs: 300_000 });
    await ctx.check('install succeeds', () => install.code === 0 || `exit ${install.code}`);
    await ctx.reboot();
    const trial = await ctx.sh('fw_printenv upgrade_available');
    await ctx.check('the new rootfs runs on trial', () => trial.stdout.includes('upgrade_available=1') || trial.stdout);
    const commit = await ctx.sh('flipside commit', { timeoutMs: 120_000 });
    await ctx.check('commit is refused by the health check', () => commit.code !== 0 || `exit 0:\n${commit.stdout}`);
    await ctx.check('the failing script is named', () => commit.stdout.includes('ArtifactCommit_Enter_00') || commit.stdout);
    const env = await ctx.sh('fw_printenv upgrade_available');
    await ctx.check('the boot env is rolled back (upgrade_available=0)', () => env.stdout.includes('upgrade_available=0') || env.stdout);
    await ctx.reboot();
    const info = await ctx.sh('cat /etc/flipside/artifact_info');
    await ctx.check('the old rootfs runs after the reboot', () => info.stdout.includes(`artifact_name=${ctx.versions.current}`) || info.stdout);
    ctx.expectFinal(ctx.versions.current);
  },
});
