// `--shard k/n`: CI runners split one board's suite; light enough for the CLI to load at start-up.
export interface Shard {
  index: number;
  count: number;
}

/** `k/n` from the command line, checked. */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || index < 1 || index > count) throw new Error(`--shard ${text}: use k/n with 1 ≤ k ≤ n, e.g. 2/3`);
  return { index, count };
}

/** Every count-th job from index-1 on: the shards of a plan cover it exactly once, each with a spread of scenarios. */
export function shardJobs<T>(jobs: readonly T[], shard: Shard | undefined): T[] {
  return shard ? jobs.filter((_, i) => i % shard.count === shard.index - 1) : [...jobs];
}
