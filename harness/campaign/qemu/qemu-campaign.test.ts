// Choosing crash images with distinct bytes: the selection grows past its duplicates to the count
// asked, and stops when the log has no more (fakes for the selection and the keys).
import test from 'ava';
import { firstOfEachKey, type CrashImageSpec } from './crash-images.js';
import { selectDistinct } from './qemu-campaign.js';

const spec = (i: number): CrashImageSpec => ({ id: `${i}:0`, boundary: i, at: i, variant: 0, fates: {}, label: '' });
/** A fake log of `total` images where image i has the bytes of image i - i % group. */
const fake = (total: number, group: number) => ({
  select: (n: number) => [...Array(Math.min(n, total)).keys()].map(spec),
  dedupe: (xs: CrashImageSpec[]) => firstOfEachKey(xs, (s) => String(s.at - (s.at % group))),
});

test('no duplicates: the selection as asked', (t) => {
  const f = fake(100, 1);
  const r = selectDistinct(10, f.select, f.dedupe);
  t.is(r.unique.length, 10);
  t.is(r.duplicateOf.size, 0);
  t.is(r.selected, 10);
});

test('duplicates: the selection grows until the count of distinct images is reached, the extra spread out', (t) => {
  const f = fake(1000, 3); // a third of the images are distinct
  const r = selectDistinct(10, f.select, f.dedupe);
  t.is(r.unique.length, 10);
  t.true(r.duplicateOf.size > 0);
  for (const [d, first] of r.duplicateOf) t.true(r.unique.some((s) => s.id === first), `${d} names a kept image`);
  t.is(r.selected, r.unique.length + r.duplicateOf.size);
});

test('a log with fewer distinct images than asked: all of them, no endless growth', (t) => {
  const f = fake(12, 4); // 3 distinct
  const r = selectDistinct(10, f.select, f.dedupe);
  t.deepEqual(r.unique.map((s) => s.id), ['0:0', '4:0', '8:0']);
  t.is(r.duplicateOf.size, 9);
});
