// A power cut while the client writes the inactive partition (a seeded byte offset of the
// payload; a cut some way into Download where the board cannot count bytes): the device boots
// the old rootfs, nothing was committed, and after `flipside resume` a new install succeeds.
import { defineScenario } from '../harness/scenario/define.js';
import type { Fault } from '../harness/types.js';
import { expectIncludes, expectExitZero, expectExitNonZero } from '../harness/scenario/expect.js';

export default defineScenario({
  name: 'power-cut-during-write',
  purpose: 'cut power mid partition write → boots old, no partial commit, re-install succeeds',
  needs: ['power', 'console', 'shell'],
  artifacts: ['next'],
  async run(ctx) {
    await ctx.boot();
    const total = ctx.board.rootfsBytes ?? 0;
    const countsBytes = ctx.board.capabilities.has('bytes-written') && total > 0;
    // Between 20% and 80% of the payload: well inside the write, whatever the seed.
    const at = Math.floor(total * (0.2 + 0.6 * ctx.rng.next()));
    const fault: Fault = countsBytes ? { kind: 'power-cut', at: { on: 'bytes-written', bytes: at } } : { kind: 'power-cut', at: { on: 'state', state: 'Download' } };
    const handle = ctx.fault(fault, countsBytes ? {} : { delayMs: ctx.rng.int(500, 3000) });
    const r = await ctx.runUntilFault(ctx.client.install(ctx.artifact('next')), handle, { timeoutMs: 300_000 });
    await ctx.check('the power cut landed during the install', () => r.cut || `expected the cut during the install, got an install that finished first (exit ${r.cut ? '' : r.result.code})`);
    await ctx.boot();
    const info = await ctx.sh('cat /etc/flipside/artifact_info');
    await ctx.check('boots the old rootfs', () => expectIncludes(info.stdout, `artifact_name=${ctx.versions.current}`));
    const env = await ctx.sh('fw_printenv upgrade_available');
    await ctx.check('no partial commit: upgrade_available=0', () => expectIncludes(env.stdout, 'upgrade_available=0'));
    // Mender has no resume command: its next command picks up (or drops) the interrupted update.
    const resumeCommand = ctx.client.resume();
    if (resumeCommand) {
      const resume = await ctx.sh(resumeCommand, { timeoutMs: 120_000 });
      await ctx.check('resume ends the interrupted deployment as failed', () => expectExitNonZero(resume));
    }
    const shown = await ctx.sh(ctx.client.showArtifact());
    await ctx.check('the old version is still committed', () => expectIncludes(shown.stdout, ctx.versions.current));
    const again = await ctx.sh(ctx.client.install(ctx.artifact('next')), { timeoutMs: 300_000 });
    await ctx.check('re-install succeeds', () => expectExitZero(again));
    await ctx.reboot();
    const commit = await ctx.sh(ctx.client.commit(), { timeoutMs: 120_000 });
    await ctx.check('commit succeeds', () => expectExitZero(commit));
    ctx.expectFinal(ctx.versions.next);
  },
});
