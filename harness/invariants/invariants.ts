// What must hold after every scenario, whatever faults it injected (DESIGN "Faults"): the env is
// valid (both redundant copies readable offline), exactly one of old/new is committed
// (upgrade_available=0, boot_part names the running root, the client reports the running
// rootfs's artifact and the expected version), the board boots to a shell, and the canary written
// to /data before the update is intact. Each is a named check on the timeline.
import { parseEnvLines } from '../../bootenv/env-lines.js';
import { parseStateLine } from '../../client/state/state-log.js';
import type { ScenarioContext } from '../scenario/define.js';
import { FINAL_STATUSES, type LabServer } from '../server/lab-server.js';

export const CANARY_PATH = '/data/flipside-canary.txt';

export function canaryContent(seed: number): string {
  return `flipside canary seed=${seed} ${'0123456789abcdef'.repeat(8)}\n`;
}

/**
 * Log lines of Debian's Mender client: its daemon's, prefixed by the image's init, and a command's
 * own on stderr (logrus: `time="…" level=…` off a terminal, `INFO[0001] …` on one, maybe coloured).
 */
const MENDER_LOG = /^(?:mender daemon: |time="[^"]*" level=|(?:\x1b\[[0-9;]*m)?(?:DEBU|INFO|WARN|ERRO|FATA|PANI)(?:\x1b\[0m)?\[)/;

/**
 * A command's output lines without what the daemon printed on the same console meanwhile (its
 * state lines and `flipside daemon:` log; Mender's log): in managed mode both share /dev/console.
 */
export function withoutClientLog(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !parseStateLine(l) && !/^flipside( daemon)?: /.test(l) && !MENDER_LOG.test(l));
}

/** The partition number that ends the root device's name: /dev/vda3, /dev/mmcblk0p3, /dev/sda3 → "3". */
export function rootPartitionOf(cmdline: string): string | undefined {
  return /(?:^|\s)root=\S*?(\d+)(?=\s|$)/.exec(cmdline)?.[1];
}

export interface InvariantOptions {
  /** Versions of which exactly one must be committed at the end. */
  expected: readonly string[];
  canary: { path: string; content: string };
  /** Managed scenarios: the server must agree with the device. */
  server?: LabServer | null;
}

export async function checkInvariants(ctx: ScenarioContext, o: InvariantOptions): Promise<void> {
  const { board, strategy } = ctx;
  ctx.log('invariants: power off, read the env offline, boot, inspect');
  // Power off first: the env is read with the board off, and the boot that follows proves it boots.
  await strategy.transition('off');
  if (board.readEnvCopies) {
    const env = await board.readEnvCopies();
    ctx.timeline.append({ source: 'env', kind: 'snapshot', text: `offline env: ${JSON.stringify(env.vars)}`, data: env });
    await ctx.check('env: both copies valid (offline)', () => env.copies.every((c) => c.crcOk) || `copy CRCs: ${env.copies.map((c) => c.crcOk).join(', ')}`);
    await ctx.check('env: upgrade_available=0 (offline)', () => env.vars.upgrade_available === '0' || `upgrade_available=${env.vars.upgrade_available}`);
  }
  await ctx.check('boots to a shell', async () => {
    await strategy.transition('shell');
  });
  const cmdline = (await ctx.sh('cat /proc/cmdline')).stdout;
  const root = rootPartitionOf(cmdline);
  const guestEnv = parseEnvLines(withoutClientLog((await ctx.sh('fw_printenv')).stdout).join('\n'));
  ctx.timeline.append({ source: 'env', kind: 'snapshot', text: `guest env: ${JSON.stringify(guestEnv)}`, data: guestEnv });
  await ctx.check('committed: upgrade_available=0', () => guestEnv.upgrade_available === '0' || `upgrade_available=${guestEnv.upgrade_available}`);
  // Mender's mender_boot_part on the QEMU boards (U-Boot and GRUB); boot_part on host-sim and
  // on images made before the Mender names.
  const bootPart = guestEnv.mender_boot_part ?? guestEnv.boot_part;
  await ctx.check('committed: boot_part is the running root', () => (root !== undefined && bootPart === root) || `boot_part=${bootPart}, running root partition ${root ?? '?'}`);
  const running = /artifact_name=(\S+)/.exec((await ctx.sh('cat /etc/flipside/artifact_info')).stdout)?.[1];
  const shown = withoutClientLog((await ctx.sh(ctx.client.showArtifact())).stdout).at(-1);
  await ctx.check('committed: show-artifact names the running rootfs', () => shown === running || `show-artifact says ${shown}, the running rootfs is ${running}`);
  await ctx.check(`committed: one of ${o.expected.join(' / ')}`, () => (shown !== undefined && o.expected.includes(shown)) || `show-artifact says ${shown}`);
  if (o.server) await checkServerAgrees(ctx, o.server, shown);
  const canary = await ctx.sh(`cat ${o.canary.path}`);
  await ctx.check('data: canary intact', () => (canary.code === 0 && withoutClientLog(canary.stdout).join('\n') === o.canary.content.trim()) || `cat exit ${canary.code}, ${canary.stdout.length} bytes`);
}

/**
 * The server's view is final and true: each deployment ended with a final status, the last one
 * of each device `success` exactly when its artifact is what the device runs committed, and the
 * inventory the device reports names that artifact (the daemon sends it after it starts, so it is
 * waited for).
 */
async function checkServerAgrees(ctx: ScenarioContext, server: LabServer, committed: string | undefined): Promise<void> {
  for (const [i, d] of server.deployments.entries()) {
    const final = await server.waitFinal(d.id, d.device, 120_000).catch((e: Error) => e.message);
    await ctx.check(`server: deployment ${d.artifactName} has a final status`, () => FINAL_STATUSES.includes(final) || final);
    // A deployment a later one to the same device superseded (a retry) only has to be final: the
    // scenario that made both says what the first one must have ended with.
    if (server.deployments.slice(i + 1).some((later) => later.device === d.device)) continue;
    const installed = committed === d.artifactName;
    await ctx.check(`server: deployment ${d.artifactName} says ${installed ? 'success' : 'failure'}, as the device runs ${committed}`, () =>
      (installed ? final === 'success' : final !== 'success') || `server says ${final}`,
    );
  }
  const device = server.deployments[0]?.device;
  if (!device || !committed) return;
  let reported: string | null = null;
  for (let end = Date.now() + 180_000; Date.now() < end; await new Promise((r) => setTimeout(r, 2000))) {
    reported = await server.reportedArtifact(device);
    if (reported === committed) break;
  }
  await ctx.check('server: the inventory names the committed artifact', () => reported === committed || `inventory says ${reported ?? 'nothing'}`);
}
