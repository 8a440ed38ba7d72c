import test from 'ava';
import { createRng, normaliseSeed, randomSeed } from './prng.js';

test('the sequence for a seed is fixed (golden values: a change here breaks every recorded replay)', (t) => {
  const r = createRng(42);
  t.deepEqual([r.next(), r.next(), r.next()].map((x) => Math.round(x * 0x1_0000_0000)), [2581720956, 1925393290, 3661312704]);
});

test('same seed, same sequence; different seed, different sequence', (t) => {
  const seq = (s: number) => {
    const r = createRng(s);
    return Array.from({ length: 50 }, () => r.next());
  };
  t.deepEqual(seq(7), seq(7));
  t.notDeepEqual(seq(7), seq(8));
});

test('seeds are folded to uint32 the same way everywhere', (t) => {
  t.is(normaliseSeed(-1), 0xffffffff);
  t.is(normaliseSeed(2 ** 32 + 5), 5);
  t.is(normaliseSeed(3.9), 3);
  t.throws(() => normaliseSeed(Number.NaN), { instanceOf: RangeError });
  const s = randomSeed();
  t.true(Number.isInteger(s) && s >= 0 && s < 2 ** 32);
});

test('int stays in range and reaches both ends; next is in [0,1)', (t) => {
  const r = createRng(1);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const x = r.next();
    t.true(x >= 0 && x < 1);
    seen.add(r.int(3, 7));
  }
  t.deepEqual([...seen].sort(), [3, 4, 5, 6, 7]);
  t.throws(() => r.int(5, 4), { instanceOf: RangeError });
});

test('values spread evenly over ten buckets', (t) => {
  const r = createRng(123);
  const buckets = new Array(10).fill(0) as number[];
  for (let i = 0; i < 10_000; i++) buckets[Math.floor(r.next() * 10)]!++;
  for (const b of buckets) t.true(b > 850 && b < 1150, `bucket ${b}`);
});

test('shuffle is a permutation and pick returns a member', (t) => {
  const r = createRng(9);
  const items = [1, 2, 3, 4, 5, 6, 7, 8];
  const s = r.shuffle(items);
  t.deepEqual([...s].sort(), items);
  t.deepEqual(items, [1, 2, 3, 4, 5, 6, 7, 8]);
  t.true(items.includes(r.pick(items)));
  t.throws(() => r.pick([]), { instanceOf: RangeError });
});
