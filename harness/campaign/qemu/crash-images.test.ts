// Crash images from a write log: flush boundaries, seeded lost/torn variants, the selection, and
// the cursor that rolls one disk copy forward and undoes a variant's pending writes.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { boundaries, dedupeCrashImages, distinctBoundaries, firstOfEachKey, ImageCursor, selectCrashImages, variantFates, type Fate, type Region } from './crash-images.js';
import { encodeWriteLog, readWriteLog } from './write-log.js';

const fill = (n: number, byte: number) => Buffer.alloc(n, byte);

function fixture() {
  const d = mkdtempSync(join(tmpdir(), 'crash-images-'));
  const logFile = join(d, 'log');
  writeFileSync(
    logFile,
    encodeWriteLog([
      { kind: 'write', offset: 0, data: fill(1024, 1) }, // 0
      { kind: 'flush' }, // 1
      { kind: 'flush' }, // 2: nothing since the last one
      { kind: 'write', offset: 1024, data: fill(512, 2) }, // 3
      { kind: 'write', offset: 2048, data: fill(1536, 3) }, // 4
      { kind: 'flush' }, // 5
      { kind: 'write', offset: 0, data: fill(512, 4) }, // 6: pending at the end
    ]),
  );
  const image = join(d, 'img');
  writeFileSync(image, Buffer.alloc(4096));
  return { d, logFile, image, log: readWriteLog(logFile) };
}

test('boundaries: after each flush, the start and the end; of repeated flushes the last, with the pending writes', (t) => {
  const { d, log } = fixture();
  const bs = boundaries(log);
  t.deepEqual(
    bs.map((b) => [b.at, b.pending]),
    [
      [0, [0]],
      [2, []],
      [3, [3, 4]],
      [6, [6]],
      [7, []],
    ],
  );
  // 2 and 3 are the same disk state; only 3 has writes 3 and 4 pending (they could be lost or torn).
  t.deepEqual(
    distinctBoundaries(log).map((b) => [b.at, b.pending]),
    [
      [0, [0]],
      [3, [3, 4]],
      [6, [6]],
      [7, []],
    ],
  );
  rmSync(d, { recursive: true });
});

test('the cursor replays prefixes and undoes a variant exactly', (t) => {
  const { d, log, logFile, image } = fixture();
  const c = new ImageCursor(log, logFile, image);
  c.advance(3);
  const after3 = readFileSync(image);
  t.true(after3.subarray(0, 1024).equals(fill(1024, 1)));
  t.true(after3.subarray(1024).equals(Buffer.alloc(3072)));
  // Entry 3 kept, entry 4 torn to its sectors 0 and 2.
  const undo = c.applyPending({ 3: { kind: 'kept' }, 4: { kind: 'torn', sectors: [0, 2] } });
  const v = readFileSync(image);
  t.true(v.subarray(1024, 1536).equals(fill(512, 2)));
  t.true(v.subarray(2048, 2560).equals(fill(512, 3)));
  t.true(v.subarray(2560, 3072).equals(Buffer.alloc(512)), 'the torn write lost its middle sector');
  t.true(v.subarray(3072, 3584).equals(fill(512, 3)));
  undo();
  t.true(readFileSync(image).equals(after3));
  c.advance(7);
  const end = readFileSync(image);
  t.true(end.subarray(0, 512).equals(fill(512, 4)));
  t.true(end.subarray(512, 1024).equals(fill(512, 1)));
  t.throws(() => c.advance(2), { message: /cannot go back/ });
  c.close();
  rmSync(d, { recursive: true });
});

test('variants are seeded: the same seed gives the same fates, a torn write keeps fewer sectors than it has', (t) => {
  const { d, log } = fixture();
  const b = boundaries(log)[2]!;
  for (let v = 1; v <= 6; v++) t.deepEqual(variantFates(log, b, v, 7), variantFates(log, b, v, 7));
  const torn = variantFates(log, b, 3, 7);
  const f = Object.values(torn.fates).find((x) => x.kind === 'torn');
  t.truthy(f);
  if (f?.kind === 'torn') t.true(f.sectors.length < 3 || log.entries.length === 0);
  t.deepEqual(variantFates(log, b, 0, 7).fates, {}, 'variant 0 is the plain boundary');
  rmSync(d, { recursive: true });
});

test('the selection: as many as asked when the log allows, sorted by log position, env boundaries first', (t) => {
  const { d, log } = fixture();
  const regions: Region[] = [
    { name: 'env', offset: 1024, size: 512 },
    { name: 'data', offset: 2048, size: 2048 },
  ];
  const a = selectCrashImages(log, 6, 3, regions);
  const b = selectCrashImages(log, 6, 3, regions);
  t.deepEqual(a, b);
  t.is(a.selected.length, 6);
  t.is(a.distinct, 4);
  t.deepEqual(
    a.selected.map((s) => s.at),
    [...a.selected.map((s) => s.at)].sort((x, y) => x - y),
  );
  t.true(a.selected.some((s) => s.at === 3 && s.variant === 0), 'the boundary before the env write');
  t.true(a.selected.some((s) => s.at === 3 && s.variant === 3), 'the env write torn');
  t.is(new Set(a.selected.map((s) => s.id)).size, 6);
  rmSync(d, { recursive: true });
});

test('dedupe: a variant with the same bytes as another crash image is set aside, naming the first', (t) => {
  const { d, logFile, image, log } = fixture();
  const b3 = distinctBoundaries(log).findIndex((b) => b.at === 3);
  const spec = (at: number, variant: number, fates: Record<number, Fate>, boundary = b3) => ({ id: `${at}:${variant}`, boundary, at, variant, fates, label: '' });
  const specs = [
    spec(3, 0, {}), // writes 3 and 4 pending, both lost: the boundary
    spec(3, 1, { 3: { kind: 'lost' }, 4: { kind: 'lost' } }), // the same bytes as 3:0
    spec(3, 2, { 3: { kind: 'kept' }, 4: { kind: 'kept' } }), // the same bytes as the next boundary 6:0
    spec(3, 3, { 3: { kind: 'kept' }, 4: { kind: 'torn', sectors: [0] } }), // its own state
    spec(6, 0, {}),
    spec(6, 1, { 6: { kind: 'kept' } }), // the end state, 7:0
    spec(7, 0, {}),
  ];
  const r = dedupeCrashImages(log, logFile, image, specs);
  t.deepEqual(r.unique.map((s) => s.id), ['3:0', '3:2', '3:3', '6:1']);
  t.deepEqual([...r.duplicateOf], [['3:1', '3:0'], ['6:0', '3:2'], ['7:0', '6:1']]);
  rmSync(d, { recursive: true });
});

test('dedupe: writing the same bytes again (a rewritten block) is no new crash image', (t) => {
  const d = mkdtempSync(join(tmpdir(), 'crash-images-'));
  const logFile = join(d, 'log');
  writeFileSync(logFile, encodeWriteLog([{ kind: 'write', offset: 0, data: fill(512, 1) }, { kind: 'flush' }, { kind: 'write', offset: 0, data: fill(512, 1) }, { kind: 'flush' }, { kind: 'write', offset: 512, data: fill(512, 2) }, { kind: 'flush' }]));
  const image = join(d, 'img');
  writeFileSync(image, Buffer.alloc(2048));
  const log = readWriteLog(logFile);
  const specs = distinctBoundaries(log).map((b, i) => ({ id: `${b.at}:0`, boundary: i, at: b.at, variant: 0, fates: {}, label: '' }));
  const r = dedupeCrashImages(log, logFile, image, specs);
  t.deepEqual(r.unique.map((s) => s.id), ['0:0', '2:0', '6:0']);
  t.deepEqual([...r.duplicateOf], [['4:0', '2:0']]);
  t.deepEqual(readFileSync(image), Buffer.alloc(2048).fill(1, 0, 512).fill(2, 512, 1024), 'the scratch copy is rolled to the last image, its variants undone');
  rmSync(d, { recursive: true });
});

test('firstOfEachKey keeps the first of each key in the given order', (t) => {
  const s = (id: string) => ({ id, boundary: 0, at: 0, variant: 0, fates: {}, label: '' });
  const r = firstOfEachKey([s('a'), s('b'), s('c'), s('d')], (x) => ({ a: 'k1', b: 'k2', c: 'k1', d: 'k2' })[x.id]!);
  t.deepEqual(r.unique.map((x) => x.id), ['a', 'b']);
  t.deepEqual([...r.duplicateOf], [['c', 'a'], ['d', 'b']]);
});

test('the selection: a small one looks at every env write, plain then torn, before a third look at any; a large one takes all five around each', (t) => {
  const d = mkdtempSync(join(tmpdir(), 'crash-images-'));
  const logFile = join(d, 'log');
  const env = (b: number) => ({ kind: 'write' as const, offset: 0, data: fill(512, b) });
  const data = (b: number) => ({ kind: 'write' as const, offset: 2048, data: fill(512, b) });
  // Env writes at entries 0, 4 and 8, each followed by a flush; data writes between them.
  writeFileSync(logFile, encodeWriteLog([env(1), { kind: 'flush' }, data(2), { kind: 'flush' }, env(3), { kind: 'flush' }, data(4), { kind: 'flush' }, env(5), { kind: 'flush' }]));
  const log = readWriteLog(logFile);
  const regions: Region[] = [
    { name: 'env', offset: 0, size: 512 },
    { name: 'data', offset: 2048, size: 512 },
  ];
  const small = selectCrashImages(log, 3, 1, regions).selected.map((s) => s.id);
  t.deepEqual(small, ['0:0', '4:0', '8:0'], 'the boundary before each env write');
  const six = selectCrashImages(log, 6, 1, regions).selected.map((s) => s.id);
  t.deepEqual(six, ['0:0', '0:3', '4:0', '4:3', '8:0', '8:3'], 'then each env write torn');
  const large = new Set(selectCrashImages(log, 40, 1, regions).selected.map((s) => s.id));
  for (const [at, after] of [[0, 2], [4, 6], [8, 10]] as const) for (const id of [`${at}:0`, `${after}:0`, `${at}:1`, `${at}:2`, `${at}:3`]) t.true(large.has(id), id);
  rmSync(d, { recursive: true });
});
