// Artifacts the client must refuse before it touches the boot env: one whose payload does not
// match its checksum, one for another device type. The env and the committed version stay.
import { defineScenario } from '../harness/scenario/define.js';
import { expectIncludes, expectExitNonZero, envChanges } from '../harness/scenario/expect.js';

// The whole env, so the check holds whatever the board names its slot variable (Mender's
// mender_boot_part on the QEMU boards, boot_part on host-sim).
const ENV_DUMP = 'fw_printenv';

export default defineScenario({
  name: 'refuse-bad-artifacts',
  purpose: 'corrupt payload / wrong device type → refused, env unchanged',
  needs: ['console', 'shell', 'power'],
  artifacts: ['corrupt', 'wrong-device'],
  async run(ctx) {
    await ctx.boot();
    const before = (await ctx.sh(ENV_DUMP)).stdout;
    for (const role of ['corrupt', 'wrong-device'] as const) {
      const r = await ctx.sh(ctx.client.install(ctx.artifact(role)), { timeoutMs: 120_000 });
      await ctx.check(`${role}: install refused`, () => expectExitNonZero(r));
      const after = (await ctx.sh(ENV_DUMP)).stdout;
      await ctx.check(`${role}: boot env unchanged`, () => after === before || `expected the env unchanged, got ${envChanges(before, after)}`);
      const shown = await ctx.sh(ctx.client.showArtifact());
      await ctx.check(`${role}: the current version is still installed`, () => expectIncludes(shown.stdout, ctx.versions.current));
    }
    ctx.expectFinal(ctx.versions.current);
  },
});
