// When a simulated device asks again after a failed step (an auth, poll or inventory that got a
// network error or a 5xx): sooner than its next regular poll, later after each failure in a row,
// never later than a poll, with jitter so a fleet that failed together does not retry together.
// Mender's client backs off the same way (RetryPollIntervalSeconds, doubling, capped by the poll
// interval); the base is seconds here because a fleet run is minutes long.

export const RETRY_BASE_SECONDS = 5;

/** Milliseconds to wait after `failures` (≥ 1) failures in a row; random() is uniform in [0, 1). */
export function retryDelayMs(failures: number, pollSeconds: number, random: () => number): number {
  if (!Number.isInteger(failures) || failures < 1) throw new RangeError(`failures must be a positive integer, got ${failures}`);
  const capped = Math.min(pollSeconds, RETRY_BASE_SECONDS * 2 ** Math.min(failures - 1, 20));
  // Uniform in [capped / 2, capped): "full" spread would retry some devices at once.
  return capped * 1000 * (0.5 + random() / 2);
}

/** Milliseconds to the next regular poll: the interval × a uniform factor in [1 - jitter, 1 + jitter]. */
export function pollDelayMs(pollSeconds: number, jitter: number, random: () => number): number {
  return pollSeconds * 1000 * (1 + jitter * (2 * random() - 1));
}
