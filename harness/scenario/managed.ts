// Steps every managed scenario takes with the device and the reference server, so each scenario
// file says only what it adds (its fault and what must follow).
import { statSync } from 'node:fs';
import type { ArtifactRole } from '../board/board.js';
import { setTimeout as delay } from 'node:timers/promises';
import { FINAL_STATUSES } from '../server/lab-server.js';
import type { FaultHandle, ScenarioContext } from './define.js';

/** Boots the board, accepts the device its daemon announces, and has it ask again at once (Mender backs off after `pending`). */
export async function enrollDevice(ctx: ScenarioContext): Promise<string> {
  await ctx.boot();
  const device = await ctx.server.acceptDevice(null, 180_000);
  await ctx.sh('flipside check-update');
  return device;
}

/** Deploys `version` (uploaded before) to the device and has the daemon poll for it now; returns the deployment id. */
export async function deployNow(ctx: ScenarioContext, version: string, device: string): Promise<string> {
  const deployment = await ctx.server.deploy(version, device);
  await ctx.sh('flipside check-update');
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
 * Waits for an armed fault, failing the check `name` if the deployment reaches a final status
 * first (the trigger point was never passed: the scenario would otherwise wait forever).
 */
export async function faultBeforeFinal(ctx: ScenarioContext, handle: FaultHandle, name: string, deployment: string, device: string): Promise<void> {
  let stop = false;
  const final = (async (): Promise<string | null> => {
    while (!stop) {
      const s = await ctx.server.deviceStatus(deployment, device).catch(() => null);
      if (s && FINAL_STATUSES.includes(s)) return s;
      await delay(500);
    }
    return null;
  })();
  const ended = await Promise.race([handle.injected.then(() => null), final]);
  stop = true;
  await ctx.check(name, () => ended === null || `the deployment ended with '${ended}' before the fault's trigger point`);
}
