// Happy path (standalone): install the next version from the data partition, reboot into it,
// commit, and it stays after another reboot.
import { defineScenario } from '../harness/scenario/define.js';
import { expectIncludes, expectExitZero } from '../harness/scenario/expect.js';

export default defineScenario({
  name: 'happy-path',
  purpose: 'install next version → reboot → commit → it stays',
  needs: ['power', 'console', 'shell'],
  artifacts: ['next'],
  async run(ctx) {
    await ctx.boot();
    const version = await ctx.sh(ctx.client.version());
    await ctx.check(`the client under test (${ctx.client.kind}) runs`, () =>
      (version.code === 0 && ctx.perClient({ flipside: /\d+\.\d+\.\d+/, mender: /^3\.4\.0/m }).test(version.stdout)) || `exit ${version.code}: ${version.stdout.trim()}`,
    );
    const install = await ctx.sh(ctx.client.install(ctx.artifact('next')), { timeoutMs: 300_000 });
    await ctx.check('install succeeds', () => expectExitZero(install));
    await ctx.reboot();
    const trial = await ctx.sh('fw_printenv upgrade_available');
    await ctx.check('the new rootfs runs on trial (upgrade_available=1)', () => expectIncludes(trial.stdout, 'upgrade_available=1'));
    const commit = await ctx.sh(ctx.client.commit(), { timeoutMs: 120_000 });
    await ctx.check('commit succeeds', () => expectExitZero(commit));
    await ctx.reboot();
    const after = await ctx.sh('cat /etc/flipside/artifact_info');
    await ctx.check('the new rootfs stays after a reboot', () => expectIncludes(after.stdout, `artifact_name=${ctx.versions.next}`));
    ctx.expectFinal(ctx.versions.next);
  },
});
