// Which crash states a campaign checks: every cut point of every recorded flow (each operation
// boundary: before and after each state's effect, each payload write, each env and store write),
// each with the crash states crash-states.ts names there; filtered by phase, and when more than
// the budget (--cuts), a seeded sample that keeps every cut point's first two states.
import { createRng } from '../faults/prng.js';
import { crashStatesAt, log10PossibleAt } from './crash-states.js';
import { FLOWS, type Flow, type Phase } from './flows.js';
import { pointBefore, type Trace } from './trace.js';

export interface PlannedState {
  flow: Flow['name'];
  cut: number;
  index: number;
  label: string;
  point: string;
  phase: Phase;
  /** Column of the matrix: the operation's index within its point. */
  column: number;
}

/** The phase a cut falls in, from the marks and operations before it. */
export function phaseAt(t: Trace, k: number): Phase {
  let phase: Phase = 'download';
  let installDone = false;
  for (let i = 0; i < k; i++) {
    const o = t.ops[i]!;
    // (A managed flow has no `flipside commit`: its daemon's ArtifactCommit state starts the phase.)
    if (o.op === 'mark' && (o.point === 'flipside commit' || o.point === 'ArtifactCommit')) phase = 'commit';
    else if (o.op === 'mark' && o.point === 'power-on' && phase !== 'commit') {
      installDone = true;
      phase = 'reboot';
    } else if (!installDone && phase !== 'commit') {
      if (o.op === 'write' && o.path.startsWith('disk/rootfs') && phase === 'download') phase = 'write';
      else if (o.op === 'sync' && o.path.startsWith('disk/rootfs')) phase = 'flip';
      else if (o.op === 'mark' && o.point === 'ArtifactInstall') phase = 'flip';
    }
  }
  return phase;
}

export interface Plan {
  states: PlannedState[];
  /** Crash states the model names (before sampling) and how many cut points. */
  named: number;
  cutPoints: number;
  /** log10 of all crash states the storage model allows (every sector subset). */
  log10Possible: number;
}

export function planFlow(flow: Flow, t: Trace, seed: number, extra: number, phase: Phase | 'all'): Plan {
  const states: PlannedState[] = [];
  let cutPoints = 0;
  let possible = 0;
  let lastPoint = '';
  let column = 0;
  for (let k = 0; k <= t.ops.length; k++) {
    const ph = phaseAt(t, k);
    if (phase !== 'all' && ph !== phase) continue;
    const point = pointBefore(t, k);
    column = point === lastPoint ? column + 1 : 0;
    lastPoint = point;
    cutPoints++;
    const l = log10PossibleAt(t, k);
    possible = possible === 0 ? l : Math.max(possible, l) + Math.log10(1 + 10 ** (Math.min(possible, l) - Math.max(possible, l)));
    for (const s of crashStatesAt(t, k, seed, extra)) states.push({ flow: flow.name, cut: k, index: s.index, label: s.label, point, phase: ph, column });
  }
  return { states, named: states.length, cutPoints, log10Possible: possible };
}

/** Keeps `budget` states: each cut point's first two, then a seeded sample of the rest. */
export function sample(states: PlannedState[], budget: number | undefined, seed: number): PlannedState[] {
  if (budget === undefined || states.length <= budget) return states;
  const must = states.filter((s) => s.index < 2);
  const rest = states.filter((s) => s.index >= 2);
  const picked = must.length >= budget ? createRng(seed).shuffle(must).slice(0, budget) : [...must, ...createRng(seed).shuffle(rest).slice(0, budget - must.length)];
  const order = new Map(states.map((s, i) => [s, i]));
  return picked.sort((a, b) => order.get(a)! - order.get(b)!);
}

/**
 * The order a mutant's states are searched in (it stops at the first catch). A bug shows at some
 * kind of crash state at some state point of some flow, so the states are grouped by (flow, point,
 * kind) and the groups are taken round-robin, each in a seeded shuffle: first every point's plain
 * states (all issued writes landed, or nothing unsynced) together with the crash states of the env
 * copies and the state files (where a cut matters most: a torn or lost copy, a lost rename), then
 * the payload's and the seeded mixes. Streaming the payload makes hundreds of cut points at a single
 * state point; searched uniformly they would fill the search and a torn env copy would come late.
 */
export function searchOrder(states: PlannedState[], seed: number): PlannedState[] {
  const rng = createRng(seed ^ 0x5eed);
  const target = (s: PlannedState): string => {
    const path = /\((?:write|file) ([^@)]+)/.exec(s.label)?.[1] ?? '';
    return path.startsWith('disk/rootfs') ? 'payload' : path;
  };
  const shape = (s: PlannedState): string => {
    const l = s.label;
    if (/mixed at byte/.test(l)) return 'mixed';
    if (/last \d+\/\d+ sectors/.test(l)) return 'suffix';
    if (/first \d+\/\d+ sectors/.test(l)) return 'prefix';
    return /scattered|first half|lost|metadata|seeded/.exec(l)?.[0] ?? 'other';
  };
  const order = (group: PlannedState[]): PlannedState[] => {
    const groups = new Map<string, PlannedState[]>();
    for (const s of group) {
      const key = s.index < 2 ? `${s.flow}|${s.point}|plain ${s.index}` : `${s.flow}|${s.point}|${target(s)} ${shape(s)}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = []));
      g.push(s);
    }
    const queues = rng.shuffle([...groups.values()]).map((g) => rng.shuffle(g));
    const out: PlannedState[] = [];
    for (let i = 0; out.length < group.length; i++) for (const q of queues) if (i < q.length) out.push(q[i]!);
    return out;
  };
  const first = states.filter((s) => s.index < 2 || (target(s) !== 'payload' && target(s) !== '' && !/seeded/.test(s.label)));
  const firstSet = new Set(first);
  return [...order(first), ...order(states.filter((s) => !firstSet.has(s)))];
}

export { FLOWS };
