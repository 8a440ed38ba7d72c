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
