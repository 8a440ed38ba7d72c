import test from 'ava';
import { filterAsyncInSlices } from './async-array.js';

test('filterAsyncInSlices keeps the order across slices and lets the event loop run between them', async (t) => {
  const items = Array.from({ length: 25 }, (_, i) => i);
  // Event-loop turns, counted by a chain of setImmediate.
  let turns = 0;
  const counting = (): void => {
    turns++;
    if (turns < 1000) setImmediate(counting);
  };
  setImmediate(counting);
  const seenAtSlice: number[] = [];
  const kept = await filterAsyncInSlices(items, async (i) => {
    if (i % 10 === 0) seenAtSlice.push(turns);
    return i % 2 === 0;
  }, 10);
  t.deepEqual(kept, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24]);
  // Each slice starts on a later turn than the one before.
  t.true(seenAtSlice[0]! < seenAtSlice[1]! && seenAtSlice[1]! < seenAtSlice[2]!, JSON.stringify(seenAtSlice));
});
