// Managed mode: power is cut while the daemon downloads a deployment (a seeded point of the
// artifact's bytes through the proxy). Flipside resumes the download after power returns (issue
// #17): the spool on the data partition holds the bytes up to the last checkpoint, the daemon
// asks the server for the rest with a Range request and the same deployment finishes with
// `success`. (Mender starts over: the deployment fails and a new one is needed. The scenario engine
// has no notion of the client under test yet; with Mender's client, or `DownloadResumeAcrossRestarts:
// false`, the expectation would be `failure` and a retry.)
import { defineScenario } from '../harness/scenario/define.js';
import { deployNow, enrollDevice, finalStatusIs, seededOffsetIn } from '../harness/scenario/managed.js';

export default defineScenario({
  name: 'power-cut-during-download',
  purpose: 'managed: power cut mid-download → the same deployment resumes after power returns and succeeds',
  needs: ['power', 'console', 'shell', 'server'],
  async run(ctx) {
    const device = await enrollDevice(ctx);
    await ctx.server.upload(ctx.hostArtifact('next'));
    const cut = ctx.fault({ kind: 'power-cut', at: { on: 'bytes-sent', bytes: seededOffsetIn(ctx, 'next') } });
    const first = await deployNow(ctx, ctx.versions.next, device);
    await cut.injected;
    await ctx.boot();
    const final = await ctx.server.waitFinal(first, device, 900_000);
    await ctx.check('the interrupted deployment resumes and succeeds', () => finalStatusIs(ctx, final, 'success'));
    ctx.expectFinal(ctx.versions.next);
  },
});
