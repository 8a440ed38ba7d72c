import test from 'ava';
import { searchOrder, type PlannedState } from './plan.js';

const st = (flow: PlannedState['flow'], point: string, cut: number, index: number, label: string): PlannedState => ({ flow, cut, index, label, point, phase: 'download', column: 0 });

// A streamed payload: 200 cut points at Download, each with its plain states and payload tears;
// one env write at ArtifactInstall with a mixed (CRC-breaking) tear; a state file torn at Cleanup.
function states(): PlannedState[] {
  const out: PlannedState[] = [];
  for (let k = 0; k < 200; k++) {
    out.push(st('update', 'Download', k, 0, 'everything issued reached the disk'), st('update', 'Download', k, 1, 'nothing since the last fsync survived'));
    out.push(st('update', 'Download', k, 2, `op ${k} (write disk/rootfs-b.img@${k * 16384}) torn: first 1/32 sectors`));
    out.push(st('update', 'Download', k, 3, 'seeded mix: 2 of 3 pending writes lost or torn'));
  }
  out.push(st('update', 'ArtifactInstall', 300, 0, 'everything issued reached the disk'));
  for (let p = 1; p < 32; p++) out.push(st('update', 'ArtifactInstall', 300, 1 + p, `op 299 (write disk/uboot-env.img@16384) torn: first ${p}/32 sectors`));
  out.push(st('update', 'ArtifactInstall', 300, 40, 'op 299 (write disk/uboot-env.img@16384) torn: first sector mixed at byte 4'));
  out.push(st('unhealthy', 'Cleanup', 310, 0, 'everything issued reached the disk'));
  out.push(st('unhealthy', 'Cleanup', 310, 2, 'op 309 (file data/flipside/state.json) torn: first half of its bytes'));
  return out;
}

test('the mutant search is a seeded permutation that reaches every point and every env/state-file tear before the payload repeats', (t) => {
  const all = states();
  const order = searchOrder(all, 7);
  t.is(order.length, all.length);
  t.is(new Set(order).size, all.length);
  t.deepEqual(searchOrder(all, 7), order, 'the same seed gives the same order');
  t.notDeepEqual(searchOrder(all, 8), order);
  // One round over the groups: plain 0 and 1 of each point, env prefix tears, the mixed env tear, the torn state file.
  const firstRound = order.slice(0, 8);
  t.true(firstRound.some((s) => /mixed at byte/.test(s.label)), 'the CRC-breaking env tear is in the first round');
  t.true(firstRound.some((s) => /state\.json/.test(s.label)), 'the torn state file is in the first round');
  t.true(firstRound.some((s) => s.point === 'ArtifactInstall' && s.index === 0));
  // Payload tears and seeded mixes only after every plain state and env/state-file crash state.
  const firstPayload = order.findIndex((s) => /rootfs|seeded/.test(s.label));
  t.is(firstPayload, 200 * 2 + 1 + 31 + 1 + 1 + 1);
});
