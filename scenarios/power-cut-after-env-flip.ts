// A power cut right after the client flipped the boot env (its ArtifactReboot state line): the
// next boot runs the new rootfs on trial (upgrade_available=1) and `flipside commit` keeps it,
// as Mender's recovery table says (ArtifactReboot + commit → ArtifactVerifyReboot → commit).
// Mender's client prints no states: its standalone install ends with the env flip ("Enabling
// partition with new image installed to be a boot candidate"), so the cut comes as it returns.
import { defineScenario } from '../harness/scenario/define.js';
import { expectIncludes, expectExitZero } from '../harness/scenario/expect.js';

export default defineScenario({
  name: 'power-cut-after-env-flip',
  purpose: 'cut power at ArtifactReboot → boots new on trial, commit keeps it',
  needs: ['power', 'console', 'shell'],
  artifacts: ['next'],
  async run(ctx) {
    await ctx.boot();
    if (ctx.client.kind === 'mender') {
      const install = await ctx.sh(ctx.client.install(ctx.artifact('next')), { timeoutMs: 300_000 });
      await ctx.check('install succeeds (its last step is the env flip)', () => expectExitZero(install));
      await ctx.powerCut();
    } else {
      const handle = ctx.fault({ kind: 'power-cut', at: { on: 'state', state: 'ArtifactReboot' } });
      const r = await ctx.runUntilFault(ctx.client.install(ctx.artifact('next')), handle, { timeoutMs: 300_000 });
      await ctx.check('the power cut landed at ArtifactReboot', () => r.cut || 'expected the cut at ArtifactReboot, got an install that finished without reaching it');
    }
    await ctx.boot();
    const info = await ctx.sh('cat /etc/flipside/artifact_info');
    await ctx.check('boots the new rootfs', () => expectIncludes(info.stdout, `artifact_name=${ctx.versions.next}`));
    const env = await ctx.sh('fw_printenv upgrade_available');
    await ctx.check('on trial: upgrade_available=1', () => expectIncludes(env.stdout, 'upgrade_available=1'));
    const commit = await ctx.sh(ctx.client.commit(), { timeoutMs: 120_000 });
    await ctx.check('commit succeeds', () => expectExitZero(commit));
    ctx.expectFinal(ctx.versions.next);
  },
});
