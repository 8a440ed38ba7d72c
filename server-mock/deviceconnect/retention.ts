// How long terminal session recordings are kept: each is bounded (recording.ts), and all of them
// together by age and by total size, the oldest going first, as Mender's deviceconnect lets its
// recordings expire. Pruning runs at start, every hour and whenever a recorded session ends; a
// session still running keeps its recording. A decommissioned device's recordings go with it.
import type { FlipsideStore as Store } from '../store/api.js';

export interface RecordingRetention {
  /** Recordings older than this many days are deleted (0 keeps none past the next prune). */
  maxAgeDays: number;
  /** The recordings together take at most this many bytes of shell output. */
  maxTotalBytes: number;
}

export const DEFAULT_RECORDING_RETENTION: RecordingRetention = { maxAgeDays: 30, maxTotalBytes: 1024 ** 3 };

export function retentionPolicy(o: Partial<RecordingRetention> = {}): RecordingRetention {
  const p = { ...DEFAULT_RECORDING_RETENTION, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) };
  if (!Number.isFinite(p.maxAgeDays) || p.maxAgeDays < 0) throw new Error(`recording retention: maxAgeDays must be a number of days >= 0, got ${o.maxAgeDays}`);
  if (!Number.isInteger(p.maxTotalBytes) || p.maxTotalBytes < 0) throw new Error(`recording retention: maxTotalBytes must be a whole number of bytes >= 0, got ${o.maxTotalBytes}`);
  return p;
}

/** Applies the policy now; `running` are the sessions whose recording is still being written. */
export async function pruneRecordings(store: Store, policy: RecordingRetention, running: ReadonlySet<string>, nowMs = Date.now()): Promise<number> {
  const cutoff = new Date(nowMs - policy.maxAgeDays * 86_400_000).toISOString();
  return store.pruneRecordings(cutoff, policy.maxTotalBytes, running);
}
