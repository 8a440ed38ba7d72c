// A power cut while `flipside commit` runs, on either side of the one write that commits (the
// boot env's upgrade_available=0). Before it: the update was never confirmed, so the bootloader
// counts a second trial boot and rolls back, and the client ends the deployment as failed. After
// it: the new rootfs is committed and boots; `flipside resume` finishes the deployment. Cuts are
// exact (the client's hooks), so each variant has one right answer. Mender's client prints no
// states: its image holds in the fw_setenv it calls, before or after the write (`fw_setenv`,
// `fw_setenv:done`), and it has no resume command: what it says about the committed artifact is
// checked by the invariants (`mender show-artifact` against the running rootfs).
import { defineScenario } from '../harness/scenario/define.js';
import { expectIncludes, expectExitZero } from '../harness/scenario/expect.js';

interface Side {
  /** Where each client holds for the cut. */
  point: { flipside: string; mender: string };
  committed: boolean;
}

const SIDES: Record<string, Side> = {
  'before-env-write': { point: { flipside: 'ArtifactCommit', mender: 'fw_setenv' }, committed: false },
  'after-env-write': { point: { flipside: 'ArtifactCommit:done', mender: 'fw_setenv:done' }, committed: true },
};

export default defineScenario({
  name: 'power-cut-during-commit',
  purpose: 'cut power in the commit → before the env write: rollback; after it: new version stays',
  needs: ['power', 'console', 'shell', 'exact-cuts'],
  artifacts: ['next'],
  variants: () =>
    Object.entries(SIDES).map(([id, side]) => ({ id, describe: `power cut ${side.committed ? 'after' : 'before'} the commit's env write (Flipside: ${side.point.flipside}; Mender: ${side.point.mender})`, data: side })),
  async run(ctx) {
    const side = ctx.variant!.data as Side;
    await ctx.boot();
    const install = await ctx.sh(ctx.client.install(ctx.artifact('next')), { timeoutMs: 300_000 });
    await ctx.check('install succeeds', () => expectExitZero(install));
    await ctx.reboot();
    const cut = ctx.fault({ kind: 'power-cut', at: { on: 'state', state: ctx.perClient(side.point) } });
    const commit = await ctx.runUntilFault(ctx.client.commit(), cut, { timeoutMs: 120_000 });
    await ctx.check('the power cut landed during the commit', () => commit.cut || `expected the cut during the commit, got a commit that finished first (exit ${commit.cut ? '' : commit.result.code})`);
    await ctx.boot();
    const want = side.committed ? ctx.versions.next : ctx.versions.current;
    const info = await ctx.sh('cat /etc/flipside/artifact_info');
    await ctx.check(side.committed ? 'the committed new rootfs boots' : 'the bootloader rolled back the unconfirmed update', () => expectIncludes(info.stdout, `artifact_name=${want}`));
    const env = await ctx.sh('fw_printenv upgrade_available');
    await ctx.check('no update pending in the env', () => expectIncludes(env.stdout, 'upgrade_available=0'));
    const resumeCommand = ctx.client.resume();
    if (resumeCommand) {
      const resume = await ctx.sh(resumeCommand, { timeoutMs: 120_000 });
      await ctx.check(side.committed ? 'resume finishes the deployment as a success' : 'resume ends the deployment as failed', () =>
        (side.committed ? resume.code === 0 : resume.code !== 0) || `exit ${resume.code}: ${resume.stdout.trim().split('\n').slice(-2).join(' | ')}`,
      );
    }
    ctx.expectFinal(want);
  },
});
