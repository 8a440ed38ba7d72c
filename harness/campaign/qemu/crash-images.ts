// Crash images from a recorded write log. A flush boundary is a durable disk state: every write
// before it landed. Between two flushes the disk has a volatile cache, so a power cut may keep any
// subset of the writes since the last flush, and a write being done may be torn at 512-byte
// granularity. A crash state is a boundary plus the fate of each pending write (kept, lost, or
// torn: some of its sectors). Index 0 is the plain boundary; higher indices are seeded variants.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { createRng } from '../../faults/prng.js';
import { DiskKey } from './disk-key.js';
import type { LogEntry, WriteLog } from './write-log.js';

export const TEAR_SECTOR = 512;

/** A durable state: the writes of log entries [0, at) have landed. */
export interface Boundary {
  /** Log position: entries before it are applied. */
  at: number;
  /** The writes after it, up to the next flush: what a cut there may keep some of. */
  pending: number[];
  /** Bytes written since the previous boundary (0: same disk as the previous one). */
  bytesSincePrevious: number;
}

export type Fate = { kind: 'kept' } | { kind: 'lost' } | { kind: 'torn'; sectors: number[] };

export interface CrashImageSpec {
  /** Stable name for replays: `<boundary position>:<variant index>`. */
  id: string;
  boundary: number;
  at: number;
  variant: number;
  /** Fate per pending entry index (entries not named are lost). */
  fates: Record<number, Fate>;
  label: string;
}

/** Every boundary of a log: after each flush, plus the start and (if writes follow the last flush) the end. */
export function boundaries(log: WriteLog): Boundary[] {
  const e = log.entries;
  const positions = [0];
  e.forEach((x, i) => x.kind === 'flush' && positions.push(i + 1));
  if (positions.at(-1) !== e.length) positions.push(e.length);
  const out: Boundary[] = [];
  let prev = 0;
  for (const at of positions) {
    const pending: number[] = [];
    for (let i = at; i < e.length && e[i]!.kind !== 'flush'; i++) if (e[i]!.kind !== 'mark') pending.push(i);
    let bytes = 0;
    for (let i = prev; i < at; i++) if (e[i]!.kind !== 'flush' && e[i]!.kind !== 'mark') bytes += e[i]!.length;
    out.push({ at, pending, bytesSincePrevious: at === 0 ? 1 : bytes });
    prev = at;
  }
  return out;
}

/**
 * Boundaries that are distinct disk states. Repeated flushes with nothing written between them
 * leave equal states; of such a run the last is kept, since only it has the writes that follow as
 * pending (kept earlier, a write right after a double flush, such as an env write after an fsync,
 * was never lost or torn in any crash image).
 */
export function distinctBoundaries(log: WriteLog): Boundary[] {
  const bs = boundaries(log);
  return bs.filter((_, k) => k + 1 >= bs.length || bs[k + 1]!.bytesSincePrevious > 0);
}

/** log10 of the crash states a log allows: per boundary, each pending sector kept or not. */
export function log10PossibleStates(log: WriteLog, bs = distinctBoundaries(log)): number {
  let best = 0;
  let sum = 0;
  for (const b of bs) {
    const sectors = b.pending.reduce((a, i) => a + log.entries[i]!.length / TEAR_SECTOR, 0);
    const l = sectors * Math.log10(2);
    best = Math.max(best, l);
    sum += 10 ** Math.min(l, 300);
  }
  return best > 300 ? best : Math.log10(sum);
}

/** The seeded variant `variant` (≥ 1) of a boundary: drop one write, keep a random subset, or tear one. */
export function variantFates(log: WriteLog, b: Boundary, variant: number, seed: number): { fates: Record<number, Fate>; label: string } {
  const fates: Record<number, Fate> = {};
  if (variant === 0 || b.pending.length === 0) return { fates, label: 'flush boundary' };
  const r = createRng((seed ^ Math.imul(b.at + 1, 0x9e3779b1) ^ Math.imul(variant, 0x85ebca6b)) >>> 0);
  const rng = () => r.next();
  const pick = (n: number) => Math.floor(rng() * n);
  const all = (): void => b.pending.forEach((i) => (fates[i] = { kind: 'kept' }));
  const kinds = ['drop-one', 'subset', 'tear'] as const;
  const kind = kinds[(variant - 1) % kinds.length]!;
  if (kind === 'drop-one') {
    all();
    const lost = b.pending[pick(b.pending.length)]!;
    fates[lost] = { kind: 'lost' };
    return { fates, label: `all ${b.pending.length} pending writes but entry ${lost}` };
  }
  if (kind === 'subset') {
    for (const i of b.pending) fates[i] = rng() < 0.5 ? { kind: 'kept' } : { kind: 'lost' };
    const kept = Object.values(fates).filter((f) => f.kind === 'kept').length;
    return { fates, label: `${kept} of ${b.pending.length} pending writes (seeded subset)` };
  }
  // Tear: the writes before the torn one kept (in order), the torn one with a seeded subset of its
  // sectors, later ones lost: a cut while the device wrote that request.
  const at = pick(b.pending.length);
  b.pending.slice(0, at).forEach((i) => (fates[i] = { kind: 'kept' }));
  const torn = b.pending[at]!;
  const n = log.entries[torn]!.length / TEAR_SECTOR;
  const sectors = [...Array(n).keys()].filter(() => rng() < 0.5);
  if (n > 1 && sectors.length === n) sectors.pop();
  fates[torn] = { kind: 'torn', sectors };
  return { fates, label: `${at} pending writes kept, entry ${torn} torn (${sectors.length} of ${n} sectors)` };
}

export interface Region {
  name: string;
  offset: number;
  size: number;
}

/** Which named regions a list of entries writes to (env, boot, rootfs A/B, data). */
export function regionsWritten(entries: LogEntry[], regions: Region[]): Set<string> {
  const out = new Set<string>();
  for (const e of entries) {
    if (e.kind !== 'write' && e.kind !== 'discard') continue;
    for (const r of regions) if (e.offset < r.offset + r.size && e.offset + e.length > r.offset) out.add(r.name);
  }
  return out;
}

/**
 * A seeded selection of `n` crash images, sorted by log position (so one disk copy can be rolled
 * forward): first the plain boundaries on both sides of every env write and the variants of the
 * boundaries whose pending writes touch the env, then the data partition's (the client's state
 * store), then plain boundaries and variants spread evenly over the rest of the log.
 */
export function selectCrashImages(log: WriteLog, n: number, seed: number, regions: Region[]): { selected: CrashImageSpec[]; distinct: number; withVariants: number } {
  const bs = distinctBoundaries(log);
  const r = createRng(seed >>> 0);
  const rng = () => r.next();
  const chosen = new Map<string, CrashImageSpec>();
  const add = (bi: number, variant: number): void => {
    if (chosen.size >= n) return;
    const b = bs[bi]!;
    if (variant > 0 && b.pending.length === 0) return;
    const id = `${b.at}:${variant}`;
    if (chosen.has(id)) return;
    const v = variantFates(log, b, variant, seed);
    chosen.set(id, { id, boundary: bi, at: b.at, variant, fates: v.fates, label: v.label });
  };
  const touches = (b: Boundary, name: string) => regionsWritten(b.pending.map((i) => log.entries[i]!), regions).has(name);
  const envBs = bs.map((b, i) => (touches(b, 'env') ? i : -1)).filter((i) => i >= 0);
  const dataBs = bs.map((b, i) => (touches(b, 'data') ? i : -1)).filter((i) => i >= 0);
  // Around each env write: the boundary before it (old env durable), the write torn (variant 3), the
  // boundary after it, one write lost and a seeded subset. Taken round by round over the env writes,
  // so a small selection (CI's slice) reaches every env write, plain and torn, before a third look
  // at any; when n holds all five of each, the set is the same as one env write at a time.
  const aroundEnv = [(i: number) => add(i, 0), (i: number) => add(i, 3), (i: number) => add(Math.min(i + 1, bs.length - 1), 0), (i: number) => add(i, 1), (i: number) => add(i, 2)];
  for (const pick of aroundEnv) for (const i of envBs) pick(i);
  // The data partition (state store, artifact reads' atime...): a seeded sample, plain and variants.
  const shuffled = (xs: number[]) => xs.map((x) => [rng(), x] as const).sort((a, b) => a[0] - b[0]).map(([, x]) => x);
  const budgetData = Math.floor((n - chosen.size) / 3);
  for (const i of shuffled(dataBs).slice(0, Math.max(0, budgetData))) add(i, chosen.size % 2 === 0 ? 0 : 1 + Math.floor(rng() * 3));
  // The rest: evenly spaced over the log, alternating plain boundaries and variants.
  const rest = n - chosen.size;
  for (let k = 0; k < rest && chosen.size < n && k < bs.length * 4; k++) {
    const i = Math.min(bs.length - 1, Math.floor(((k + rng()) * bs.length) / Math.max(1, rest)));
    add(i, k % 2 === 0 ? 0 : 1 + Math.floor(rng() * 3));
  }
  // Fill gaps left by duplicates with random picks.
  for (let guard = 0; chosen.size < Math.min(n, bs.length * 4) && guard < n * 20; guard++) add(Math.floor(rng() * bs.length), Math.floor(rng() * 10));
  const selected = [...chosen.values()].sort((a, b) => a.at - b.at || a.variant - b.variant);
  return { selected, distinct: bs.length, withVariants: bs.filter((b) => b.pending.length > 0).length };
}

/**
 * A raw disk rolled forward along the log: `advance(at)` applies the entries before `at` (never
 * backwards), `applyPending(fates)` writes a crash state's pending writes and returns an undo that
 * puts the bytes under them back.
 */
export class ImageCursor {
  private pos = 0;
  private readonly img: number;
  private readonly logFd: number;
  private readonly buf = Buffer.alloc(1 << 20);
  private readonly keyer: DiskKey | null;

  /** `keyed`: keep a content key of the image (key()), for finding crash images with equal bytes. */
  constructor(
    private readonly log: WriteLog,
    logFile: string,
    imageFile: string,
    keyed = false,
  ) {
    this.img = openSync(imageFile, 'r+');
    this.logFd = openSync(logFile, 'r');
    this.keyer = keyed ? new DiskKey(this.img) : null;
  }

  /** The image's content key (a keyed cursor only): equal keys, equal bytes. */
  key(): string {
    if (!this.keyer) throw new Error('ImageCursor: not keyed');
    return this.keyer.key();
  }

  get position(): number {
    return this.pos;
  }

  advance(at: number): void {
    if (at < this.pos) throw new Error(`ImageCursor: at ${this.pos}, cannot go back to ${at}`);
    for (; this.pos < at; this.pos++) this.apply(this.log.entries[this.pos]!, null);
  }

  applyPending(fates: Record<number, Fate>): () => void {
    const saved: { offset: number; data: Buffer }[] = [];
    for (const [k, fate] of Object.entries(fates).sort((a, b) => Number(a[0]) - Number(b[0]))) {
      if (fate.kind === 'lost') continue;
      const e = this.log.entries[Number(k)]!;
      const ranges = fate.kind === 'kept' ? [[0, e.length]] : fate.sectors.map((s) => [s * TEAR_SECTOR, TEAR_SECTOR]);
      for (const [rel, len] of ranges as [number, number][]) {
        const old = Buffer.alloc(len);
        readFull(this.img, old, e.offset + rel);
        saved.push({ offset: e.offset + rel, data: old });
        this.apply(e, [rel, len]);
      }
    }
    return () => {
      for (const s of saved.reverse()) {
        this.keyer?.beforeWrite(s.offset, s.data.length);
        writeSync(this.img, s.data, 0, s.data.length, s.offset);
      }
    };
  }

  /** Copies (part of) an entry's effect onto the image: a write's data, zeros for a discard. */
  private apply(e: LogEntry, part: [number, number] | null): void {
    if (e.kind !== 'write' && e.kind !== 'discard') return;
    const [rel, len] = part ?? [0, e.length];
    this.keyer?.beforeWrite(e.offset + rel, len);
    for (let done = 0; done < len; ) {
      const n = Math.min(this.buf.length, len - done);
      if (e.kind === 'write') readFull(this.logFd, this.buf.subarray(0, n), e.dataAt + rel + done);
      else this.buf.fill(0, 0, n);
      writeSync(this.img, this.buf, 0, n, e.offset + rel + done);
      done += n;
    }
  }

  close(): void {
    closeSync(this.img);
    closeSync(this.logFd);
  }
}

function readFull(fd: number, b: Buffer, at: number): void {
  for (let got = 0; got < b.length; ) {
    const n = readSync(fd, b, got, b.length - got, at + got);
    if (n === 0) {
      b.fill(0, got);
      return;
    }
    got += n;
  }
}

export interface DedupedImages {
  /** The first image of each distinct disk content, in the order given. */
  unique: CrashImageSpec[];
  /** Image id → id of the unique image with the same bytes (booted once, counted once). */
  duplicateOf: Map<string, string>;
}

/**
 * Finds crash images with the same disk bytes (a variant that keeps every pending write is the next
 * boundary; one that loses the only pending write is its own boundary; a write may rewrite the
 * bytes already there). `image` is a scratch copy of the recording's base disk, rolled forward.
 */
export function dedupeCrashImages(log: WriteLog, logFile: string, image: string, specs: CrashImageSpec[]): DedupedImages {
  const cursor = new ImageCursor(log, logFile, image, true);
  const keyOf = new Map<string, string>();
  try {
    for (const s of [...specs].sort((a, b) => a.at - b.at)) {
      cursor.advance(s.at);
      const undo = cursor.applyPending(s.fates);
      keyOf.set(s.id, cursor.key());
      undo();
    }
  } finally {
    cursor.close();
  }
  return firstOfEachKey(specs, (s) => keyOf.get(s.id)!);
}

export function firstOfEachKey(specs: CrashImageSpec[], key: (s: CrashImageSpec) => string): DedupedImages {
  const first = new Map<string, string>();
  const unique: CrashImageSpec[] = [];
  const duplicateOf = new Map<string, string>();
  for (const s of specs) {
    const k = key(s);
    const f = first.get(k);
    if (f === undefined) {
      first.set(k, s.id);
      unique.push(s);
    } else duplicateOf.set(s.id, f);
  }
  return { unique, duplicateOf };
}
