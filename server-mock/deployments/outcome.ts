// What a deployment came to, in one word people can act on. Mender's `status` only says where the
// rollout is (`finished` even when every device failed); the UI and the summary show this instead,
// so a deployment with a failed or skipped device never looks like a success.

/** `succeeded`: every device installed (or had it already); `failed`: at least one device failed;
 *  `incomplete`: none failed but some got nothing (no artifact for its type, aborted, removed);
 *  `stopped`: the error threshold ended it; `aborted`: a user ended it; otherwise the rollout state. */
export type DeploymentOutcome = 'scheduled' | 'pending' | 'inprogress' | 'succeeded' | 'failed' | 'incomplete' | 'stopped' | 'aborted';

export interface OutcomeInput {
  status: string;
  stop_reason?: string | null;
  statistics: Record<string, number>;
}

/** Device statuses that mean the device did not get the release, though nothing failed on it. */
export const SKIPPED_DEVICE_STATUSES = ['noartifact', 'aborted', 'decommissioned'] as const;

export function deploymentOutcome(d: OutcomeInput): DeploymentOutcome {
  if (d.status !== 'finished') return d.status === 'scheduled' || d.status === 'pending' ? d.status : 'inprogress';
  if (d.stop_reason === 'error_threshold') return 'stopped';
  if (d.stop_reason === 'aborted') return 'aborted';
  const n = (k: string) => d.statistics[k] ?? 0;
  if (n('failure') > 0) return 'failed';
  // A deployment that reached no device installed nothing: not a success either.
  if (Object.values(d.statistics).every((v) => !v)) return 'incomplete';
  if (SKIPPED_DEVICE_STATUSES.some((k) => n(k) > 0)) return 'incomplete';
  return 'succeeded';
}
