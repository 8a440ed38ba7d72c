// A deployment's rollout over time: how many of its devices were in each status at each moment,
// replayed from the status events the store records (deployment_device_events). A long rollout
// is sampled to at most `maxPoints` moments, always keeping the first and the last event.
import type { DeploymentDeviceEvent } from '../store/store.js';

export interface TimelinePoint {
  ts: string;
  /** Devices per Mender device status at `ts` (only statuses some device had). */
  counts: Record<string, number>;
}

export interface Timeline {
  device_count: number;
  points: TimelinePoint[];
}

export const MAX_TIMELINE_POINTS = 200;

/** Events must be ordered by time (the store returns them so). */
export function rolloutTimeline(events: DeploymentDeviceEvent[], maxPoints = MAX_TIMELINE_POINTS): Timeline {
  if (maxPoints < 2) throw new RangeError('a timeline needs at least two points');
  const current = new Map<string, string>();
  const counts: Record<string, number> = {};
  const steps: TimelinePoint[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const was = current.get(e.device_id);
    if (was !== undefined) counts[was]! -= 1;
    counts[e.status] = (counts[e.status] ?? 0) + 1;
    current.set(e.device_id, e.status);
    // One point per moment: events sharing a timestamp (a phase starting, an abort) land together.
    if (events[i + 1]?.ts === e.ts) continue;
    steps.push({ ts: e.ts, counts: Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0)) });
  }
  return { device_count: current.size, points: sample(steps, maxPoints) };
}

/** At most `max` points evenly spread over time; each is the state at its moment. */
function sample(steps: TimelinePoint[], max: number): TimelinePoint[] {
  if (steps.length <= max) return steps;
  const t0 = Date.parse(steps[0]!.ts);
  const t1 = Date.parse(steps[steps.length - 1]!.ts);
  const out: TimelinePoint[] = [];
  let j = 0;
  for (let k = 0; k < max; k++) {
    const t = k === max - 1 ? t1 : t0 + ((t1 - t0) * k) / (max - 1);
    while (j + 1 < steps.length && Date.parse(steps[j + 1]!.ts) <= t) j++;
    const last = out[out.length - 1];
    if (last !== undefined && last === steps[j]) continue;
    out.push(steps[j]!);
  }
  return out;
}
