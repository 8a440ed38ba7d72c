// "did you mean …" for a mistyped command or flag: the closest known name by edit distance, when
// it is close enough to be the one meant (commander does this for the other CLIs).

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const keep = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = keep;
    }
  }
  return row[b.length]!;
}

/** " (did you mean write?)", or '' when nothing known is close (at most 40 % of the word changed). */
export function didYouMean(word: string, known: readonly string[], prefix = ''): string {
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(word, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  const limit = Math.max(1, Math.floor(Math.max(word.length, 1) * 0.4));
  return best !== null && bestD <= limit ? ` (did you mean ${prefix}${best}?)` : '';
}
