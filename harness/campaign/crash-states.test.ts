import test from 'ava';
import { crashStatesAt, materialize, pendingAt, SECTOR, type Image } from './crash-states.js';
import { sample, type PlannedState } from './plan.js';
import type { Trace, TraceOp } from './trace.js';

// A tiny recorded run: a 2-sector env write + fsync, a store write (tmp, fsync, rename, dir fsync), a second env write.
function trace(): Trace {
  const a = Buffer.alloc(2 * SECTOR, 0x61);
  const b = Buffer.alloc(2 * SECTOR, 0x62);
  const st = Buffer.from('{"state":"ArtifactInstall"}');
  const data = Buffer.concat([a, st, b]);
  const ops: TraceOp[] = [
    { op: 'write', path: 'env', offset: 0, length: a.length, data: 0 },
    { op: 'sync', path: 'env' },
    { op: 'file', path: 'd/state.json.tmp', length: st.length, data: a.length },
    { op: 'fsync', path: 'd/state.json.tmp' },
    { op: 'rename', from: 'd/state.json.tmp', to: 'd/state.json' },
    { op: 'dsync', path: 'd' },
    { op: 'mark', point: 'ArtifactInstall' },
    { op: 'write', path: 'env', offset: 0, length: b.length, data: a.length + st.length },
  ];
  return { ops, data };
}

const base = (): Image => ({ blocks: new Map([['env', Buffer.alloc(2 * SECTOR)]]), files: new Map(), modes: new Map(), links: new Map() });

test('pending: writes since the device fsync, metadata since the last barrier', (t) => {
  const tr = trace();
  t.deepEqual(pendingAt(tr, 1), { blocks: [0], files: [], meta: [] });
  t.deepEqual(pendingAt(tr, 2), { blocks: [], files: [], meta: [] });
  t.deepEqual(pendingAt(tr, 3), { blocks: [], files: [2], meta: [] });
  t.deepEqual(pendingAt(tr, 5), { blocks: [], files: [], meta: [4] });
  t.deepEqual(pendingAt(tr, 8), { blocks: [7], files: [], meta: [] });
});

test('crash states of a pending env write: kept, lost, each sector prefix and suffix, a mixed first sector', (t) => {
  const tr = trace();
  const states = crashStatesAt(tr, 8, 1, 0);
  t.is(states[0]!.label, 'everything issued reached the disk');
  t.is(states[1]!.label, 'nothing since the last fsync survived');
  const imgs = states.map((s) => materialize(tr, s, base()).blocks.get('env')!);
  t.true(imgs[0]!.equals(Buffer.alloc(2 * SECTOR, 0x62)));
  t.true(imgs[1]!.equals(Buffer.alloc(2 * SECTOR, 0x61)), 'the fsynced write stays');
  const torn = states.findIndex((s) => s.label.includes('first 1/2 sectors'));
  t.true(torn > 1);
  t.true(imgs[torn]!.subarray(0, SECTOR).equals(Buffer.alloc(SECTOR, 0x62)));
  t.true(imgs[torn]!.subarray(SECTOR).equals(Buffer.alloc(SECTOR, 0x61)));
  const mixed = states.findIndex((s) => s.label.includes('mixed at byte 16'));
  t.is(imgs[mixed]![15], 0x62);
  t.is(imgs[mixed]![16], 0x61);
  t.deepEqual(states.map((s) => s.index), states.map((_, i) => i));
});

test('a rename not yet covered by a barrier may be lost; after the dir fsync it stays', (t) => {
  const tr = trace();
  const at5 = crashStatesAt(tr, 5, 1, 0);
  const lostRename = at5.find((s) => s.meta === 0)!;
  t.false(materialize(tr, lostRename, base()).files.has('d/state.json'));
  t.true(materialize(tr, at5[0]!, base()).files.has('d/state.json'));
  for (const s of crashStatesAt(tr, 6, 1, 0)) t.true(materialize(tr, s, base()).files.has('d/state.json'));
});

test('an unsynced file may be empty or torn', (t) => {
  const tr = trace();
  const states = crashStatesAt(tr, 3, 1, 0);
  const contents = states.map((s) => materialize(tr, s, base()).files.get('d/state.json.tmp')!.toString());
  t.true(contents.includes(''));
  t.true(contents.includes('{"state":"ArtifactInstall"}'));
  t.true(contents.some((c) => c.length > 0 && c.length < 27));
});

test('seeded mixes are distinct and the same seed gives the same states', (t) => {
  const tr = trace();
  const a = crashStatesAt(tr, 8, 9, 6);
  t.deepEqual(a, crashStatesAt(tr, 8, 9, 6));
  t.is(new Set(a.map((s) => JSON.stringify([s.fates, s.meta]))).size, a.length);
});

test('sampling keeps each cut point\'s first two states', (t) => {
  const states: PlannedState[] = Array.from({ length: 100 }, (_, i) => ({ flow: 'update', cut: Math.floor(i / 10), index: i % 10, label: '', point: 'p', phase: 'write', column: 0 }));
  const s = sample(states, 30, 4);
  t.is(s.length, 30);
  t.is(s.filter((x) => x.index < 2).length, 20);
  t.deepEqual(sample(states, 30, 4), s);
});

// The daemon's download spool: truncated to its checkpoint, appended in chunks, fsynced at each checkpoint.
test('a data file written in place (the download spool): synced chunks stay, unsynced ones are lost or torn, a truncate is metadata', (t) => {
  const c1 = Buffer.alloc(SECTOR, 0x31);
  const c2 = Buffer.alloc(2 * SECTOR, 0x32);
  const spool = 'data/flipside/download/d1/artifact.part';
  const ops: TraceOp[] = [
    { op: 'truncate', path: spool, length: 0 },
    { op: 'write', path: spool, offset: 0, length: c1.length, data: 0 },
    { op: 'sync', path: spool },
    { op: 'fsync', path: spool },
    { op: 'write', path: spool, offset: SECTOR, length: c2.length, data: c1.length },
  ];
  const tr: Trace = { ops, data: Buffer.concat([c1, c2]) };
  t.deepEqual(pendingAt(tr, 1), { blocks: [], files: [], meta: [0] });
  t.deepEqual(pendingAt(tr, 5), { blocks: [4], files: [], meta: [] });
  const states = crashStatesAt(tr, 5, 1, 0);
  const kept = materialize(tr, states[0]!, base()).files.get(spool)!;
  t.deepEqual(kept, Buffer.concat([c1, c2]));
  const lost = materialize(tr, states.find((s) => s.label === 'nothing since the last fsync survived')!, base()).files.get(spool)!;
  t.deepEqual(lost, c1, 'a lost append leaves the synced prefix, no longer');
  const torn = states.find((s) => /torn: first 1\/2 sectors/.test(s.label))!;
  const img = materialize(tr, torn, base()).files.get(spool)!;
  t.is(img.length, 3 * SECTOR);
  t.deepEqual(img.subarray(SECTOR, 2 * SECTOR), c2.subarray(0, SECTOR));
  t.true(img.subarray(2 * SECTOR).every((b) => b === 0), 'the unwritten sector reads as a hole');
  // The truncate before the first fsync may be lost: the file is then as it was (absent here).
  t.false(materialize(tr, { cut: 1, index: 1, label: '', fates: {}, meta: 0 }, base()).files.has(spool));
  t.deepEqual(materialize(tr, { cut: 1, index: 0, label: '', fates: {} }, base()).files.get(spool), Buffer.alloc(0));
});
