// The deployment logic the device API drives: which deployment a polling device gets, and what a
// status report does (retries, the error threshold that stops a rollout).
import type { ServerContext } from '../context.js';
import { FINAL_DEVICE_STATUSES, type ArtifactRow, type DeploymentRow } from '../store/store.js';
import { artifactFits } from './compatibility.js';
import { conflict, notFound } from '../http-errors.js';

/** A software deployment serves a stored artifact; a configuration deployment's is generated. */
export type Instructions = { deployment: DeploymentRow; artifact: ArtifactRow; configuration?: undefined } | { deployment: DeploymentRow; artifact?: undefined; configuration: Record<string, string> };

/**
 * The deployment to serve the device now, if any: the oldest unfinished one it is in whose phase
 * has started and for which an artifact fits; marks already-installed / noartifact on the way as
 * Mender does, and tells `wrote` when it stored a device status.
 */
export async function nextDeployment(
  ctx: ServerContext,
  deviceId: string,
  provides: Record<string, string>,
  wrote: () => void,
  /** The device's open deployments, read with its token (store: deviceTokenAndOpenDeployments). */
  opened: Awaited<ReturnType<ServerContext['store']['openDeploymentsForDevice']>>,
): Promise<Instructions | null> {
  const nowMs = Date.now();
  for (const open of opened) {
    const dep = open.dep;
    const phase = dep.phases[open.phase];
    if (phase && Date.parse(phase.start_ts) > nowMs) continue;
    if (open.status === 'pending' && provides.artifact_name === dep.artifact_name) {
      wrote();
      await ctx.store.setDeviceDeploymentStatus(dep.id, deviceId, 'already-installed', null, { deviceType: provides.device_type });
      continue;
    }
    // The configuration, the artifacts and the device type's record need nothing of each other:
    // sent together they are one wait for the store (on PostgreSQL one round trip on a pipelined
    // connection), not three in a row. A quarter of a rollout's polls come here (README, Scaling).
    // The type is what the device says it is, kept whatever it is then served (a configuration is
    // generated for it, as Mender does; a device with no fitting artifact gets 'noartifact' with it).
    const recordType = open.device_type === null && provides.device_type ? provides.device_type : undefined;
    const [config, artifacts] = await Promise.all([
      ctx.store.configurationDeployment(dep.id),
      ctx.store.artifactsByName(dep.artifact_name),
      recordType ? ctx.store.setDeploymentDeviceType(dep.id, deviceId, recordType) : undefined,
    ]);
    if (config) return { deployment: dep, configuration: config.configuration };
    const artifact = artifacts.find((a) => artifactFits(a, provides));
    if (!artifact) {
      if (open.status === 'pending') wrote();
      if (open.status === 'pending') await ctx.store.setDeviceDeploymentStatus(dep.id, deviceId, 'noartifact', null, { deviceType: provides.device_type });
      continue;
    }
    return { deployment: dep, artifact };
  }
  return null;
}

/** Statuses a device may report (Mender's DeploymentStatus enum). */
export const DEVICE_SETTABLE_STATUSES = [
  'installing', 'pause_before_installing', 'downloading', 'pause_before_rebooting', 'rebooting',
  'pause_before_committing', 'success', 'failure', 'already-installed',
] as const;

export async function reportStatus(
  ctx: ServerContext,
  deviceId: string,
  deploymentId: string,
  status: string,
  substate: string | null,
  /** The first read of the device's row with its deployment, when the caller made it already. */
  firstRead?: { rows: Awaited<ReturnType<ServerContext['store']['deploymentDeviceWithDeployment']>> },
): Promise<void> {
  // The write is a compare-and-set on the status read: a report racing another one (or an abort)
  // in another server process reads again rather than overwriting what it did not see.
  let read = firstRead;
  for (;;) {
    // One read for both rows: on PostgreSQL each round trip waits for a pooled connection.
    const both = read ? read.rows : await ctx.store.deploymentDeviceWithDeployment(deploymentId, deviceId);
    read = undefined;
    // Another device's deployment looks exactly like a missing one: nothing leaks about it.
    if (!both) throw notFound('deployment not found for this device');
    const { device: dd, deployment: dep } = both;
    if (dd.status === 'aborted') throw conflict('deployment aborted');
    if (dd.status === 'decommissioned') throw conflict('device decommissioned');
    if (FINAL_DEVICE_STATUSES.has(dd.status)) {
      if (dd.status === status) return; // a repeated final report (client retried): nothing changes
      throw conflict(`deployment already finished for this device with status ${dd.status}`);
    }
    const attempts = dd.status === 'pending' && status !== 'pending' ? dd.attempts + 1 : dd.attempts;
    // A failure with retries left goes back to pending so the next poll serves the deployment again; the log stays.
    const retry = status === 'failure' && attempts < dep.retries + 1;
    if (!(await ctx.store.setDeviceDeploymentStatus(deploymentId, deviceId, retry ? 'pending' : status, substate, { attempts, ifStatus: dd.status }))) continue;
    if (!retry && status === 'failure' && dep.error_threshold !== null) await checkErrorThreshold(ctx, deploymentId);
    return;
  }
}

/** hawkBit-style: once failures exceed error_threshold percent of the devices, the rest stop. */
async function checkErrorThreshold(ctx: ServerContext, deploymentId: string): Promise<void> {
  const dep = (await ctx.store.deployment(deploymentId))!;
  if (dep.status === 'finished' || dep.error_threshold === null) return;
  const stats = await ctx.store.deploymentStatistics(deploymentId);
  const failed = stats.failure ?? 0;
  if (dep.device_count > 0 && (failed * 100) / dep.device_count > dep.error_threshold) {
    // Two server processes may both see the threshold crossed: the one that ended the deployment records it.
    if (!(await ctx.store.abortDeployment(deploymentId, 'error_threshold'))) return;
    await ctx.store.audit('system', 'deployment.stopped', 'deployment', deploymentId, { reason: 'error_threshold', failed, device_count: dep.device_count, error_threshold: dep.error_threshold });
  }
}
