// Managed mode: power is cut while the daemon downloads a deployment (a seeded point of the
// artifact's bytes through the proxy). Flipside resumes the download after power returns (issue
// #17): the spool on the data partition holds the bytes up to the last checkpoint, the daemon
// asks the server for the rest with a Range request and the same deployment finishes with
// `success`. Mender's client (`--client mender`) does not resume across a reboot, by design: the
// device boots the old rootfs, nothing half-installed, the deployment ends in `failure`, and a
// second deployment of the same release installs and commits.
import { defineScenario } from '../harness/scenario/define.js';
import { deployNow, deployUntilFault, enrollDevice, finalStatusIs, seededOffsetIn } from '../harness/scenario/managed.js';
import { expectIncludes } from '../harness/scenario/expect.js';

export default defineScenario({
  name: 'power-cut-during-download',
  purpose: 'managed: power cut mid-download → Flipside resumes the same deployment to success; Mender fails it, a retry succeeds',
  needs: ['power', 'console', 'shell', 'server'],
  async run(ctx) {
    const device = await enrollDevice(ctx);
    await ctx.server.upload(ctx.hostArtifact('next'));
    const cut = ctx.fault({ kind: 'power-cut', at: { on: 'bytes-sent', bytes: seededOffsetIn(ctx, 'next') } });
    const first = await deployUntilFault(ctx, ctx.versions.next, device, cut, 'the power was cut during the download');
    await ctx.boot();
    if (ctx.client.kind === 'flipside') {
      const final = await ctx.server.waitFinal(first, device, 900_000);
      await ctx.check('the interrupted deployment resumes and succeeds', () => finalStatusIs(ctx, final, 'success'));
    } else {
      const info = await ctx.sh('cat /etc/flipside/artifact_info');
      await ctx.check('boots the old rootfs', () => expectIncludes(info.stdout, `artifact_name=${ctx.versions.current}`));
      const env = await ctx.sh('fw_printenv upgrade_available');
      await ctx.check('nothing half-installed: upgrade_available=0', () => expectIncludes(env.stdout, 'upgrade_available=0'));
      const final = await ctx.server.waitFinal(first, device, 300_000);
      await ctx.check('the server records failure for the interrupted deployment (no resume across a reboot)', () => finalStatusIs(ctx, final, 'failure'));
      ctx.log('a second deployment of the same release');
      const retry = await deployNow(ctx, ctx.versions.next, device);
      const again = await ctx.server.waitFinal(retry, device, 900_000);
      await ctx.check('the retry succeeds', () => finalStatusIs(ctx, again, 'success'));
    }
    ctx.expectFinal(ctx.versions.next);
  },
});
