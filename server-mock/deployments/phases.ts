// Splits a deployment's devices into phases (Mender's model): each phase takes batch_size percent
// of the devices, the last one takes the rest; a phase's devices get the update from its start_ts.
import { randomUUID } from 'node:crypto';
import type { Phase } from '../store/store.js';
import { badRequest } from '../http-errors.js';

export interface PhaseInput {
  batch_size?: number;
  start_ts?: string;
}

export function planPhases(deviceIds: string[], input: PhaseInput[] | undefined, created: string): { phases: Phase[]; assignment: Array<{ id: string; phase: number }> } {
  const list = input && input.length > 0 ? input : [{ batch_size: 100 }];
  let total = 0;
  list.forEach((p, i) => {
    const last = i === list.length - 1;
    if (!last && p.batch_size === undefined) throw badRequest(`phase ${i + 1}: batch_size is required on all phases but the last`);
    total += p.batch_size ?? 0;
    if (p.start_ts !== undefined && Number.isNaN(Date.parse(p.start_ts))) throw badRequest(`phase ${i + 1}: start_ts is not a date`);
    if (i > 0 && p.start_ts === undefined) throw badRequest(`phase ${i + 1}: start_ts is required on all phases but the first`);
    if (i > 0 && Date.parse(p.start_ts!) <= Date.parse(list[i - 1]!.start_ts ?? created)) throw badRequest(`phase ${i + 1}: start_ts must be after the previous phase's`);
  });
  if (total > 100) throw badRequest('phase batch sizes add up to more than 100 percent');
  const phases: Phase[] = [];
  const assignment: Array<{ id: string; phase: number }> = [];
  let next = 0;
  list.forEach((p, i) => {
    const last = i === list.length - 1;
    const count = last ? deviceIds.length - next : Math.floor(((p.batch_size ?? 0) * deviceIds.length) / 100);
    for (const id of deviceIds.slice(next, next + count)) assignment.push({ id, phase: i });
    next += count;
    phases.push({ id: randomUUID(), batch_size: p.batch_size, start_ts: new Date(p.start_ts ?? created).toISOString(), device_count: count });
  });
  return { phases, assignment };
}
