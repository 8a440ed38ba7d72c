// An update whose ArtifactCommit_Enter script (the device's health check) exits 1: the commit is
// refused, the client rolls the boot env back, and after the reboot the old version runs again,
// committed, as Mender does when a commit-time check fails.
import { defineScenario } from '../harness/scenario/define.js';
import { expectIncludes, expectExitZero, expectExitNonZero } from '../harness/scenario/expect.js';

export default defineScenario({
  name: 'health-check-rollback',
  purpose: 'ArtifactCommit_Enter health check exits 1 → commit refused, rollback, old version stays',
  needs: ['power', 'console', 'shell'],
  artifacts: ['unhealthy'],
  async run(ctx) {
    await ctx.boot();
    const install = await ctx.sh(ctx.client.install(ctx.artifact('unhealthy')), { timeoutMs: 300_000 });
    await ctx.check('install succeeds', () => expectExitZero(install));
    await ctx.reboot();
    const trial = await ctx.sh('fw_printenv upgrade_available');
    await ctx.check('the new rootfs runs on trial', () => expectIncludes(trial.stdout, 'upgrade_available=1'));
    const commit = await ctx.sh(ctx.client.commit(), { timeoutMs: 120_000 });
    await ctx.check('commit is refused by the health check', () => expectExitNonZero(commit));
    await ctx.check('the failing script is named', () => expectIncludes(commit.stdout, 'ArtifactCommit_Enter_00'));
    const env = await ctx.sh('fw_printenv upgrade_available');
    await ctx.check('the boot env is rolled back (upgrade_available=0)', () => expectIncludes(env.stdout, 'upgrade_available=0'));
    await ctx.reboot();
    const info = await ctx.sh('cat /etc/flipside/artifact_info');
    await ctx.check('the old rootfs runs after the reboot', () => expectIncludes(info.stdout, `artifact_name=${ctx.versions.current}`));
    ctx.expectFinal(ctx.versions.current);
  },
});
