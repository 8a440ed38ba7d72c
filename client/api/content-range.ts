// Content-Range of a 206 answer: `bytes <start>-<end>/<total>` (total may be `*`).
export interface ContentRange {
  start: number;
  end: number;
  total: number | null;
}

export function parseContentRange(header: string | undefined): ContentRange | null {
  if (!header) return null;
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim());
  if (!m) return null;
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === '*' ? null : Number(m[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return null;
  if (total !== null && (!Number.isSafeInteger(total) || end >= total)) return null;
  return { start, end, total };
}
