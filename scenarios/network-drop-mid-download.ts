// Managed mode: the daemon downloads a deployment from the reference server and the link drops
// for 10 s at a seeded point of the download. The client resumes where it was (HTTP Range), the
// update completes, the server records success and the device runs the new version committed.
import { defineScenario } from '../harness/scenario/define.js';
import { deployNow, enrollDevice, finalStatusIs, seededOffsetIn } from '../harness/scenario/managed.js';

export default defineScenario({
  name: 'network-drop-mid-download',
  purpose: 'managed: link drops mid-download → download resumes, update succeeds, server says success',
  needs: ['power', 'console', 'shell', 'server'],
  async run(ctx) {
    const device = await enrollDevice(ctx);
    await ctx.server.upload(ctx.hostArtifact('next'));
    const drop = ctx.fault({ kind: 'network-drop', at: { on: 'bytes-sent', bytes: seededOffsetIn(ctx, 'next') }, durationMs: 10_000 });
    const deployment = await deployNow(ctx, ctx.versions.next, device);
    const final = await ctx.server.waitFinal(deployment, device, 900_000);
    await ctx.check('the link dropped during the download', () => drop.hasFired() || 'expected the link to drop mid-download, got a download that finished before the drop point');
    await ctx.check('the server records success', () => finalStatusIs(ctx, final, 'success'));
    // Each client's own log line for a resumed download (Mender 3.4: "Resuming download in <backoff>").
    const line = ctx.perClient({ flipside: /download interrupted at byte \d+ .*resuming/, mender: /Resuming download in / });
    const resumed = ctx.caps.console.transcript().find((l) => line.test(l.text));
    await ctx.check('the client resumed the download (Range) instead of starting over', () => !!resumed || `expected a line matching ${line} on the console, got none`);
    ctx.expectFinal(ctx.versions.next);
  },
});
