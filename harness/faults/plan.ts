// Turns a sweep request ("N power cuts spread over these client states and over the byte offsets of
// a payload of S bytes") into a concrete, replayable list of faults. Offsets and times use
// stratified sampling — one random point inside each of N equal slices — so a sweep covers the whole
// range evenly whatever the seed, and the seed only moves points within their slice.
import type { BoardState, Fault, FaultKind, NetworkShape, Trigger } from '../types.js';
import { createRng, type Rng } from './prng.js';

export interface SweepTemplate {
  /** Defaults to 'power-cut'. */
  kind?: FaultKind;
  /** How many faults in total, shared evenly between the dimensions given below. */
  count: number;
  /** Client states to fault in; `{state, nth}` targets a later entry into the same state. */
  states?: readonly (string | { state: string; nth: number })[];
  /** Fault at byte offsets across a payload of this many bytes. */
  payloadBytes?: number;
  /** Which byte counter the offsets refer to; defaults to bytes written to disk. */
  bytesTrigger?: 'bytes-written' | 'bytes-sent';
  /** Fault at times (ms since the scenario started) across this window. */
  timeMs?: { from: number; to: number };
  bootStages?: readonly BoardState[];
  /** Fixed, or drawn per fault from [min, max]. */
  durationMs?: number | { min: number; max: number };
  shape?: NetworkShape;
}

export function planFaults(seed: number, template: SweepTemplate): Fault[] {
  const { count } = template;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be a positive integer, got ${count}`);
  const rng = createRng(seed);
  const dims: ((n: number) => Trigger[])[] = [];
  if (template.states?.length) dims.push((n) => spreadOver(rng, template.states!.map(stateTrigger), n));
  if (template.payloadBytes !== undefined) {
    const size = template.payloadBytes;
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`payloadBytes must be a positive integer, got ${size}`);
    const on = template.bytesTrigger ?? 'bytes-written';
    // Offsets in [1, size]: 0 would fire before anything is written, which a state trigger covers.
    dims.push((n) => stratified(rng, n, 0, size).map((x) => ({ on, bytes: Math.min(size, 1 + Math.floor(x)) })));
  }
  if (template.timeMs) {
    const { from, to } = template.timeMs;
    if (!(to > from) || from < 0) throw new RangeError(`bad time window [${from}, ${to})`);
    dims.push((n) => stratified(rng, n, from, to).map((x) => ({ on: 'time', ms: Math.floor(x) })));
  }
  if (template.bootStages?.length) {
    dims.push((n) => spreadOver(rng, template.bootStages!.map((stage): Trigger => ({ on: 'boot-stage', stage })), n));
  }
  if (dims.length === 0) throw new RangeError('a sweep needs at least one of states, payloadBytes, timeMs, bootStages');

  const kind = template.kind ?? 'power-cut';
  const triggers = dims.flatMap((dim, i) => dim(Math.floor(count / dims.length) + (i < count % dims.length ? 1 : 0)));
  return triggers.map((at) => {
    const f: Fault = { kind, at };
    const d = template.durationMs;
    if (d !== undefined) f.durationMs = typeof d === 'number' ? d : rng.int(d.min, d.max);
    if (template.shape) f.shape = { ...template.shape };
    return f;
  });
}

function stateTrigger(s: string | { state: string; nth: number }): Trigger {
  return typeof s === 'string' ? { on: 'state', state: s } : { on: 'state', state: s.state, nth: s.nth };
}

/** n points in [from, to), one uniformly inside each of n equal slices, ascending. */
function stratified(rng: Rng, n: number, from: number, to: number): number[] {
  const width = (to - from) / n;
  return Array.from({ length: n }, (_, i) => from + (i + rng.next()) * width);
}

/** Every item the same number of times (±1), the leftover ones picked at random; in the items' order. */
function spreadOver<T>(rng: Rng, items: readonly T[], n: number): T[] {
  if (n === 0) return [];
  const times = items.map(() => Math.floor(n / items.length));
  const extra = rng.shuffle(items.map((_, i) => i)).slice(0, n % items.length);
  for (const i of extra) times[i]!++;
  return items.flatMap((item, i) => Array.from({ length: times[i]! }, () => item));
}
