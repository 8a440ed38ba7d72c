// Managed mode: power is cut while the daemon downloads a deployment (a seeded point of the
// artifact's bytes through the proxy). As Mender does, a download is not resumed across a
// reboot: the device boots the old rootfs, reports `failure`, and nothing was half-installed;
// a second deployment of the same release then installs and commits.
import { defineScenario } from '../harness/scenario/define.js';
import { deployNow, enrollDevice, finalStatusIs, seededOffsetIn } from '../harness/scenario/managed.js';

export default defineScenario({
  name: 'power-cut-during-download',
  purpose: 'managed: power cut mid-download → old rootfs boots, server says failure, a retry succeeds',
  needs: ['power', 'console', 'shell', 'server'],
  async run(ctx) {
    const device = await enrollDevice(ctx);
    await ctx.server.upload(ctx.hostArtifact('next'));
    const cut = ctx.fault({ kind: 'power-cut', at: { on: 'bytes-sent', bytes: seededOffsetIn(ctx, 'next') } });
    const first = await deployNow(ctx, ctx.versions.next, device);
    await cut.injected;
    await ctx.boot();
    const info = await ctx.sh('cat /etc/flipside/artifact_info');
    await ctx.check('boots the old rootfs', () => info.stdout.includes(`artifact_name=${ctx.versions.current}`) || info.stdout);
    const env = await ctx.sh('fw_printenv upgrade_available');
    await ctx.check('nothing half-installed: upgrade_available=0', () => env.stdout.includes('upgrade_available=0') || env.stdout);
    const final = await ctx.server.waitFinal(first, device, 300_000);
    await ctx.check('the server records failure for the interrupted deployment', () => finalStatusIs(ctx, final, 'failure'));
    ctx.log('a second deployment of the same release');
    const retry = await deployNow(ctx, ctx.versions.next, device);
    const again = await ctx.server.waitFinal(retry, device, 900_000);
    await ctx.check('the retry succeeds', () => finalStatusIs(ctx, again, 'success'));
    ctx.expectFinal(ctx.versions.next);
  },
});
