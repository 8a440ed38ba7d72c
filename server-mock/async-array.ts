// Array helpers for callbacks that ask the store (whose methods return Promises): Array's own
// filter/map would keep a Promise (always truthy) instead of its value.

/** The items whose predicate resolves true, in order. */
export async function filterAsync<T>(items: readonly T[], keep: (item: T) => Promise<boolean>): Promise<T[]> {
  const verdicts = await Promise.all(items.map(keep));
  return items.filter((_, i) => verdicts[i]);
}

/** Each item mapped, in order. */
export function mapAsync<T, R>(items: readonly T[], f: (item: T, index: number) => Promise<R>): Promise<R[]> {
  return Promise.all(items.map(f));
}

/**
 * filterAsync a slice at a time, the event loop getting a turn between slices: with the SQLite
 * store every lookup is synchronous, so checking 10,000 devices in one go was one long task that
 * held up every other request (about 0.3 s on this box).
 */
export async function filterAsyncInSlices<T>(items: readonly T[], keep: (item: T) => Promise<boolean>, sliceSize = 500): Promise<T[]> {
  const kept: T[] = [];
  for (let i = 0; i < items.length; i += sliceSize) {
    if (i > 0) await new Promise((r) => setImmediate(r));
    kept.push(...(await filterAsync(items.slice(i, i + sliceSize), keep)));
  }
  return kept;
}
