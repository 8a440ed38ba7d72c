// Managed mode: the server stops answering while the device reboots into the new rootfs. The
// client may not commit an update the server cannot hear about: after CommitStatusTimeoutSeconds
// it rolls back to the old rootfs, and reports `failure` once the server is back.
import { defineScenario } from '../harness/scenario/define.js';
import { deployNow, enrollDevice, faultBeforeFinal, finalStatusIs } from '../harness/scenario/managed.js';

const COMMIT_TIMEOUT_S = 30;

export default defineScenario({
  name: 'server-unreachable-after-reboot',
  purpose: 'managed: server down from the reboot on → client rolls back, reports failure when it is back',
  needs: ['power', 'console', 'boot-console', 'shell', 'server'],
  deviceConfig: { CommitStatusTimeoutSeconds: COMMIT_TIMEOUT_S },
  async run(ctx) {
    const device = await enrollDevice(ctx);
    await ctx.server.upload(ctx.hostArtifact('next'));
    const down = ctx.fault({ kind: 'server-down', at: { on: 'server-status', status: 'rebooting' } });
    const deployment = await deployNow(ctx, ctx.versions.next, device);
    await faultBeforeFinal(ctx, down, 'the server went down at the reboot');
    // New rootfs boots, the client cannot reach the server, gives up, rolls back and reboots.
    // Flipside prints its state; Mender logs the rollback (its own retry budget, not CommitStatusTimeoutSeconds).
    await ctx.caps.console.expect(ctx.perClient({ flipside: /"state":"ArtifactRollback"/, mender: /Rolling back|Performing rollback/ }), 600_000 + COMMIT_TIMEOUT_S * 1000);
    await ctx.caps.console.expect(new RegExp(`flipside: init root=\\S+ artifact_name=${ctx.versions.current}\\b`), 300_000);
    ctx.log('the device is back on the old rootfs: the server comes back');
    await ctx.server.proxy.restore();
    const final = await ctx.server.waitFinal(deployment, device, 300_000);
    await ctx.check('the server records failure', () => finalStatusIs(ctx, final, 'failure'));
    ctx.expectFinal(ctx.versions.current);
  },
});
