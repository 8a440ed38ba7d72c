// A device that requires signed artifacts (ArtifactVerifyKey set): an unsigned artifact and one
// signed with a key it does not trust are refused before the boot env changes; the same rootfs
// signed with the trusted key installs and commits, so the refusals were about the signature.
import { defineScenario } from '../harness/scenario/define.js';
import { expectExitZero, envChanges, gist } from '../harness/scenario/expect.js';

// The whole env, so the check holds whatever the board names its slot variable (Mender's
// mender_boot_part on the QEMU boards, boot_part on host-sim).
const ENV_VARS = 'fw_printenv';

export default defineScenario({
  name: 'refuse-unsigned-artifacts',
  purpose: 'signature required: unsigned / untrusted key → refused, env unchanged; trusted signature installs',
  needs: ['console', 'shell', 'power'],
  requireSignature: true,
  artifacts: ['unsigned', 'wrong-key', 'signed'],
  async run(ctx) {
    await ctx.boot();
    const before = (await ctx.sh(ENV_VARS)).stdout;
    // Each client's words for the two refusals.
    for (const [role, why] of [
      ['unsigned', ctx.perClient({ flipside: /not signed/, mender: /expecting signed artifact, but no signature file found/ })],
      ['wrong-key', ctx.perClient({ flipside: /signature does not verify/, mender: /invalid signature|verification error|failed to verify/i })],
    ] as const) {
      const r = await ctx.sh(ctx.client.install(ctx.artifact(role)), { timeoutMs: 120_000 });
      await ctx.check(`${role}: install refused for its signature`, () => (r.code !== 0 && why.test(r.stdout)) || `expected a refusal naming the signature (${why}), got exit ${r.code}: ${gist(r.stdout)}`);
      const after = (await ctx.sh(ENV_VARS)).stdout;
      await ctx.check(`${role}: boot env unchanged`, () => after === before || `expected the env unchanged, got ${envChanges(before, after)}`);
    }
    const signed = await ctx.sh(ctx.client.install(ctx.artifact('signed')), { timeoutMs: 300_000 });
    await ctx.check('signed with the trusted key: install succeeds', () => expectExitZero(signed));
    await ctx.reboot();
    const commit = await ctx.sh(ctx.client.commit(), { timeoutMs: 120_000 });
    await ctx.check('commit succeeds', () => expectExitZero(commit));
    ctx.expectFinal(ctx.versions.next);
  },
});
