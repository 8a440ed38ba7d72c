// Steps every managed scenario takes with the device and the reference server, so each scenario
// file says only what it adds (its fault and what must follow).
import { statSync } from 'node:fs';
import type { ArtifactRole } from '../board/board.js';
import { FINAL_STATUSES } from '../server/lab-server.js';
import type { FaultHandle, ScenarioContext } from './define.js';

/** Boots the board, accepts the device its daemon announces, and has it ask again at once (Mender backs off after `pending`). */
export async function enrollDevice(ctx: ScenarioContext): Promise<string> {
  await ctx.boot();
  const device = await ctx.server.acceptDevice(null, 180_000);
  await ctx.sh(ctx.client.checkUpdate());
  return device;
}

/** Deploys `version` (uploaded before) to the device and has the daemon poll for it now; returns the deployment id. */
export async function deployNow(ctx: ScenarioContext, version: string, device: string): Promise<string> {
  const deployment = await ctx.server.deploy(version, device);
  await ctx.sh(ctx.client.checkUpdate());
  return deployment;
}

/** A seeded offset between 20% and 70% of the artifact's bytes: inside the payload, whatever the seed. */
export function seededOffsetIn(ctx: ScenarioContext, role: ArtifactRole): number {
  const size = statSync(ctx.hostArtifact(role)).size;
  return Math.floor(size * (0.2 + 0.5 * ctx.rng.next()));
}

/** A check on a deployment's final status: true, or what the server recorded instead and the statuses it saw on the way. */
export function finalStatusIs(ctx: ScenarioContext, got: string, want: 'success' | 'failure'): true | string {
  return got === want || `final status ${got}; statuses seen: ${ctx.server.statuses.join(' → ')}`;
}

/**
 * deployNow for a fault that may strike while the check-update command still runs on the console
 * (a power cut at a download byte: on a fast link the cut can come before the command's prompt),
 * then waits for the fault as faultBeforeFinal does. Returns the deployment id.
 */
export async function deployUntilFault(ctx: ScenarioContext, version: string, device: string, handle: FaultHandle, name: string): Promise<string> {
  const deployment = await ctx.server.deploy(version, device);
  const r = await ctx.runUntilFault(ctx.client.checkUpdate(), handle);
  if (!r.cut) await faultBeforeFinal(ctx, handle, name);
  return deployment;
}

/**
 * Waits for an armed fault, failing the check `name` if the deployment reaches a final status
 * first (the trigger point was never passed: the scenario would otherwise wait forever). Listens
 * to the lab server's own status watch rather than polling again.
 */
export async function faultBeforeFinal(ctx: ScenarioContext, handle: FaultHandle, name: string): Promise<void> {
  const ended = await new Promise<string | null>((settle) => {
    const off = ctx.server.statusSource.onStatus((s) => {
      if (FINAL_STATUSES.includes(s)) settle(s);
    });
    const done = (s: string | null) => {
      off();
      settle(s);
    };
    handle.injected.then(() => done(null), () => done(null));
    const seen = ctx.server.statuses.find((s) => FINAL_STATUSES.includes(s));
    if (seen) done(seen);
  });
  await ctx.check(name, () => ended === null || `the deployment ended with '${ended}' before the fault's trigger point`);
}
