// N power cuts at seeded points across one update (`--sweep N`, default 3): client states from
// Download to Cleanup and byte offsets of the partition write, stratified so any seed covers the
// whole update. After each cut the device must come back with exactly one version committed;
// an update whose env flip survived the cut is finished with `flipside commit`.
import { planFaults } from '../harness/faults/plan.js';
import { describeFault } from '../harness/faults/describe.js';
import { defineScenario, type ScenarioContext } from '../harness/scenario/define.js';
import type { Fault } from '../harness/types.js';
import { expectExitZero } from '../harness/scenario/expect.js';

/** States of the standalone flow; the commit-side ones are entered by `flipside commit` after the reboot. */
const STATES = ['Download', 'ArtifactInstall', 'ArtifactReboot', 'ArtifactVerifyReboot', 'ArtifactCommit', 'AfterCommit', 'Cleanup'];
const ROOTFS_BYTES = 192 * 2 ** 20;
const share = (bytes: number) => `${((bytes / ROOTFS_BYTES) * 100).toFixed(1)} %`;

export default defineScenario({
  name: 'power-cut-sweep',
  purpose: 'cut power at N seeded points across an update → always exactly one version committed',
  needs: ['power', 'console', 'shell', 'bytes-written'],
  artifacts: ['next'],
  variants: ({ sweep, seed }) =>
    planFaults(seed, { count: Math.max(1, sweep), states: STATES, payloadBytes: ROOTFS_BYTES }).map((fault, i) => ({
      id: String(i + 1),
      // A byte point as a share of the write: the bytes themselves depend on the board's rootfs size,
      // and a planned 192 MiB offset next to the injected one reads as two different cuts.
      describe: fault.at.on === 'bytes-written' ? `${fault.kind} at ${share(fault.at.bytes)} of the rootfs write` : describeFault(fault),
      data: fault,
    })),
  async run(ctx) {
    const planned = ctx.variant!.data as Fault;
    // Points are planned over a 192 MiB rootfs (the QEMU boards'); a board with another size gets the same fractions.
    const size = ctx.board.rootfsBytes ?? ROOTFS_BYTES;
    let fault: Fault = planned.at.on === 'bytes-written' ? { ...planned, at: { on: 'bytes-written', bytes: Math.floor((planned.at.bytes / ROOTFS_BYTES) * size) } } : planned;
    if (fault.at.on === 'bytes-written') ctx.log(`cut at ${share(planned.at.on === 'bytes-written' ? planned.at.bytes : 0)} of this board's ${size}-byte rootfs: byte ${fault.at.bytes}`);
    await ctx.boot();
    if (fault.at.on === 'state' && ctx.client.kind === 'mender') {
      // Mender prints no states to cut at. Download and ArtifactInstall stream into the partition
      // together: a seeded byte of the write (first or second half). The later states become the
      // step boundary they follow: the install's end (the env flip), the first boot of the new
      // rootfs, the end of the commit.
      const state = fault.at.state;
      if (state === 'Download' || state === 'ArtifactInstall') {
        const bytes = Math.floor(size * ((state === 'Download' ? 0.05 : 0.5) + 0.45 * ctx.rng.next()));
        ctx.log(`${describeFault(fault)}: Mender prints no states, so this point cuts at byte ${bytes} of the rootfs write`);
        fault = { kind: 'power-cut', at: { on: 'bytes-written', bytes } };
      } else {
        const at = state === 'ArtifactReboot' ? 'as mender install returns' : state === 'ArtifactVerifyReboot' ? 'in the first boot of the new rootfs, before the commit' : 'as mender commit returns';
        ctx.log(`${describeFault(fault)}: Mender prints no states, so this point cuts ${at}`);
        const install = await ctx.sh(ctx.client.install(ctx.artifact('next')), { timeoutMs: 300_000 });
        await ctx.check('install succeeds', () => expectExitZero(install));
        if (state !== 'ArtifactReboot') {
          await ctx.reboot();
          if (state !== 'ArtifactVerifyReboot') {
            const commit = await ctx.sh(ctx.client.commit(), { timeoutMs: 120_000 });
            await ctx.check('commit succeeds', () => expectExitZero(commit));
          }
        }
        await ctx.powerCut();
        await recover(ctx);
        return;
      }
    }
    const handle = ctx.fault(fault);
    const install = await ctx.runUntilFault(ctx.client.install(ctx.artifact('next')), handle, { timeoutMs: 300_000 });
    if (!install.cut) {
      await ctx.check('install succeeds', () => expectExitZero(install.result));
      await ctx.reboot();
      const commit = await ctx.runUntilFault(ctx.client.commit(), handle, { timeoutMs: 120_000 });
      if (!commit.cut) {
        handle.dispose();
        ctx.log(`the fault (${describeFault(fault)}) never triggered: the update ran to the end`);
        await ctx.check('commit succeeds', () => expectExitZero(commit.result));
        ctx.expectFinal(ctx.versions.next);
        return;
      }
    }
    handle.dispose();
    await recover(ctx);
  },
});

/** After the cut: boot, let the client finish what it can, commit an update on trial; the running rootfs must end committed. */
async function recover(ctx: ScenarioContext): Promise<void> {
  await ctx.boot();
  const running = /artifact_name=(\S+)/.exec((await ctx.sh('cat /etc/flipside/artifact_info')).stdout)?.[1];
  await ctx.check('boots one of the two versions', () => running === ctx.versions.current || running === ctx.versions.next || `expected ${ctx.versions.current} or ${ctx.versions.next}, got ${running}`);
  // Whatever was stored: let the client finish what it can, then commit an update on trial
  // (Mender has no resume command: an update on trial is committed, anything else is dropped).
  const resumeCommand = ctx.client.resume();
  const resume = resumeCommand ? await ctx.sh(resumeCommand, { timeoutMs: 120_000 }) : null;
  if (!resume || resume.stdout.includes('waits for a reboot') || resume.code === 0) {
    const env = await ctx.sh('fw_printenv upgrade_available');
    if (env.stdout.includes('upgrade_available=1')) await ctx.sh(ctx.client.commit(), { timeoutMs: 120_000 });
  }
  // The running rootfs is the one that must end committed (invariants check it against the client).
  ctx.expectFinal(running ?? ctx.versions.current);
}
