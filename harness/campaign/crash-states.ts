// Crash states: what the storage may hold after a power cut at one point of a recorded run.
// The model (CrashMonkey/ALICE style, one rule per kind of storage):
// - Block devices (rootfs partitions, the U-Boot env): a write is durable once an fsync of its
//   device follows it. Of the writes since the last fsync any subset may have reached the medium
//   (that is what reordering by the cache and the disk can do), and a write may be torn: some of
//   its 512-byte sectors new and the others old, or one sector itself mixed (a prefix of its bytes
//   new), as on storage without power-loss protection.
// - The data partition (the state store): metadata operations (rename, unlink, rm -r) are ordered
//   as ext4's journal orders them: a prefix of those since the last fsync survives; file contents
//   are durable only after an fsync of that file, before it they may be lost (an empty file) or torn.
// A cut `k` means the first k operations were issued. Each crash state is a list of fates for the
// pending operations (kept unless said otherwise), with a label that says what was lost or torn.
import type { Trace, TraceOp } from './trace.js';
import { bytesOf } from './trace.js';
import { createRng } from '../faults/prng.js';

export const SECTOR = 512;

export type Fate =
  | { kind: 'lost' }
  | { kind: 'torn'; sectors: number[] }
  | { kind: 'mixed'; bytes: number };

export interface CrashState {
  cut: number;
  /** Index of this state among the states of its cut (replay: cut + index + seed). */
  index: number;
  label: string;
  /** Fates of pending operations by op index; a pending op not named here was kept. */
  fates: Record<number, Fate>;
  /** How many of the pending metadata operations survive (default: all). */
  meta?: number;
}

export interface Pending {
  blocks: number[];
  files: number[];
  meta: number[];
}

/** What was issued but not yet durable after the first `k` operations. */
export function pendingAt(t: Trace, k: number): Pending {
  const blocks = new Map<string, number[]>();
  const files = new Map<string, number[]>();
  let meta: number[] = [];
  for (let i = 0; i < k; i++) {
    const o = t.ops[i]!;
    switch (o.op) {
      case 'write':
        blocks.set(o.path, [...(blocks.get(o.path) ?? []), i]);
        break;
      case 'sync':
        blocks.delete(o.path);
        break;
      case 'file':
        files.set(o.path, [...(files.get(o.path) ?? []), i]);
        break;
      case 'fsync':
        files.delete(o.path);
        meta = [];
        break;
      case 'dsync':
        meta = [];
        break;
      case 'rename':
      case 'unlink':
      case 'rmtree':
      case 'symlink':
      case 'truncate':
        meta.push(i);
        break;
      case 'mark':
        break;
    }
  }
  return { blocks: [...blocks.values()].flat().sort((a, b) => a - b), files: [...files.values()].flat().sort((a, b) => a - b), meta };
}

const sectorsOf = (len: number): number => Math.ceil(len / SECTOR);

function tearsOf(o: Extract<TraceOp, { op: 'write' }>, rnd: () => number): { fate: Fate; label: string }[] {
  const n = sectorsOf(o.length);
  const out: { fate: Fate; label: string }[] = [];
  const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);
  if (n <= 64) {
    // Small writes (the env): every prefix and suffix of sectors, and a mixed first sector.
    for (let p = 1; p < n; p++) out.push({ fate: { kind: 'torn', sectors: range(0, p) }, label: `first ${p}/${n} sectors` });
    for (let s = 1; s < Math.min(n, 4); s++) out.push({ fate: { kind: 'torn', sectors: range(n - s, n) }, label: `last ${s}/${n} sectors` });
    for (const b of [4, 5, 16, 64, 256].filter((b) => b < Math.min(SECTOR, o.length))) out.push({ fate: { kind: 'mixed', bytes: b }, label: `first sector mixed at byte ${b}` });
  } else {
    const cuts = [1, Math.floor(n / 2), n - 1, 1 + Math.floor(rnd() * (n - 1))];
    for (const p of [...new Set(cuts)]) out.push({ fate: { kind: 'torn', sectors: range(0, p) }, label: `first ${p}/${n} sectors` });
    const subset = range(0, n).filter(() => rnd() < 0.5);
    out.push({ fate: { kind: 'torn', sectors: subset }, label: `${subset.length}/${n} scattered sectors` });
  }
  return out;
}

/**
 * Every crash state this model names at cut `k`, in a fixed order: all kept, all lost, each pending
 * write lost alone, each torn way, each metadata prefix, then `extra` seeded random combinations.
 */
export function crashStatesAt(t: Trace, k: number, seed: number, extra = 4): CrashState[] {
  const p = pendingAt(t, k);
  const rng = createRng((seed * 1_000_003 + k) >>> 0);
  const rnd = (): number => rng.next();
  const out: Omit<CrashState, 'index'>[] = [{ cut: k, label: 'everything issued reached the disk', fates: {} }];
  const anyPending = p.blocks.length + p.files.length + p.meta.length > 0;
  if (!anyPending) return out.map((s, index) => ({ ...s, index }));
  const lostAll: Record<number, Fate> = {};
  for (const i of [...p.blocks, ...p.files]) lostAll[i] = { kind: 'lost' };
  out.push({ cut: k, label: 'nothing since the last fsync survived', fates: lostAll, meta: 0 });
  const name = (i: number): string => {
    const o = t.ops[i]!;
    return 'path' in o ? `op ${i} (${o.op} ${o.path}${'offset' in o ? `@${o.offset}` : ''})` : `op ${i}`;
  };
  // Many pending writes (a payload being streamed): the last one (in flight) and a seeded few
  // stand for the rest; the seeded mixes below combine them.
  const some = (xs: number[]): number[] => (xs.length <= 6 ? xs : [...new Set([xs[0]!, ...createRng(seed + k).shuffle(xs).slice(0, 4), xs.at(-1)!])].sort((a, b) => a - b));
  const writes = [...p.blocks, ...p.files];
  if (writes.length > 1) for (const i of some(writes)) out.push({ cut: k, label: `${name(i)} lost, the rest kept`, fates: { [i]: { kind: 'lost' } } });
  const envOrLast = p.blocks.filter((i, n) => n === p.blocks.length - 1 || (t.ops[i] as { length: number }).length <= 64 * SECTOR);
  for (const i of envOrLast) {
    for (const tear of tearsOf(t.ops[i] as Extract<TraceOp, { op: 'write' }>, rnd)) out.push({ cut: k, label: `${name(i)} torn: ${tear.label}`, fates: { [i]: tear.fate } });
  }
  for (const i of p.files) {
    const o = t.ops[i] as Extract<TraceOp, { op: 'file' }>;
    out.push({ cut: k, label: `${name(i)} torn: first half of its bytes`, fates: { [i]: { kind: 'mixed', bytes: Math.floor(o.length / 2) } } });
  }
  for (let m = 0; m < p.meta.length; m++) out.push({ cut: k, label: `${m} of ${p.meta.length} metadata ops since the last fsync survived`, fates: {}, meta: m });
  const items = [...p.blocks, ...p.files];
  const seen = new Set(out.map((s) => JSON.stringify([s.fates, s.meta])));
  for (let e = 0, tries = 0; e < extra && tries < extra * 4; tries++) {
    const fates: Record<number, Fate> = {};
    const lost: number[] = [];
    for (const i of items) {
      const r = rnd();
      if (r < 0.4) {
        fates[i] = { kind: 'lost' };
        lost.push(i);
      } else if (r < 0.55 && t.ops[i]!.op === 'write') {
        const tears = tearsOf(t.ops[i] as Extract<TraceOp, { op: 'write' }>, rnd);
        fates[i] = tears[Math.floor(rnd() * tears.length)]!.fate;
      }
    }
    const meta = p.meta.length ? Math.floor(rnd() * (p.meta.length + 1)) : undefined;
    const key = JSON.stringify([fates, meta]);
    if (seen.has(key)) continue;
    seen.add(key);
    e++;
    out.push({ cut: k, label: `seeded mix: ${Object.keys(fates).length} of ${items.length} pending writes lost or torn${meta !== undefined ? `, ${meta}/${p.meta.length} metadata ops` : ''}`, fates, ...(meta !== undefined ? { meta } : {}) });
  }
  return out.map((s, index) => ({ ...s, index }));
}

/** log10 of how many distinct crash states the model allows at cut `k` (every sector subset of every pending write). */
export function log10PossibleAt(t: Trace, k: number): number {
  const p = pendingAt(t, k);
  let l = Math.log10(p.meta.length + 1);
  for (const i of p.blocks) l += sectorsOf((t.ops[i] as Extract<TraceOp, { op: 'write' }>).length) * Math.log10(2);
  for (const i of p.files) l += Math.log10(2 + sectorsOf((t.ops[i] as Extract<TraceOp, { op: 'file' }>).length));
  return l;
}

export interface Image {
  /** Block devices and data files by path relative to the board folder. */
  blocks: Map<string, Buffer>;
  files: Map<string, Buffer>;
  /** Files written with a mode (state scripts) and symbolic links (the scripts dir switch). */
  modes: Map<string, number>;
  links: Map<string, string>;
}

function applyWrite(dev: Buffer, off: number, bytes: Buffer, fate: Fate | undefined): void {
  if (!fate) return void bytes.copy(dev, off);
  if (fate.kind === 'lost') return;
  if (fate.kind === 'mixed') return void bytes.copy(dev, off, 0, Math.min(fate.bytes, bytes.length));
  for (const s of fate.sectors) bytes.copy(dev, off + s * SECTOR, s * SECTOR, Math.min((s + 1) * SECTOR, bytes.length));
}

/** The storage after crash state `s`: `base` (the board before the run) plus what survived. */
export function materialize(t: Trace, s: CrashState, base: Image, only?: string): Image {
  const p = pendingAt(t, s.cut);
  const pendingMeta = new Set(p.meta);
  const keptMeta = new Set(p.meta.slice(0, s.meta ?? p.meta.length));
  const blocks = new Map<string, Buffer>();
  const files = new Map(base.files);
  const modes = new Map(base.modes);
  const links = new Map(base.links);
  for (let i = 0; i < s.cut; i++) {
    const o = t.ops[i]!;
    switch (o.op) {
      case 'write': {
        if (only !== undefined && o.path !== only) break;
        if (!base.blocks.has(o.path)) {
          // A write into a data file (the daemon's download spool): the file grows to hold it,
          // unless the write was lost (a lost append leaves the file as long as it was).
          const f = s.fates[i];
          if (f?.kind === 'lost') break;
          const old = files.get(o.path) ?? Buffer.alloc(0);
          const file = Buffer.alloc(Math.max(old.length, o.offset + o.length));
          old.copy(file);
          applyWrite(file, o.offset, bytesOf(t, o), f);
          files.set(o.path, file);
          break;
        }
        let dev = blocks.get(o.path);
        if (!dev) {
          const b = base.blocks.get(o.path);
          if (!b) throw new Error(`crash state: ${o.path} is not a block device of the board`);
          dev = Buffer.from(b);
          blocks.set(o.path, dev);
        }
        applyWrite(dev, o.offset, bytesOf(t, o), s.fates[i]);
        break;
      }
      case 'file': {
        const f = s.fates[i];
        const bytes = bytesOf(t, o);
        files.set(o.path, !f ? bytes : f.kind === 'lost' ? Buffer.alloc(0) : f.kind === 'mixed' ? bytes.subarray(0, f.bytes) : bytes);
        if (o.mode !== undefined) modes.set(o.path, o.mode);
        break;
      }
      case 'rename':
      case 'unlink':
      case 'rmtree':
      case 'symlink':
      case 'truncate':
        if (pendingMeta.has(i) && !keptMeta.has(i)) break;
        if (o.op === 'truncate') {
          const f = files.get(o.path) ?? Buffer.alloc(0);
          files.set(o.path, f.length >= o.length ? f.subarray(0, o.length) : Buffer.concat([f, Buffer.alloc(o.length - f.length)]));
        } else if (o.op === 'symlink') links.set(o.path, o.target);
        else if (o.op === 'rename') {
          for (const m of [files, modes, links] as Map<string, unknown>[]) {
            const v = m.get(o.from);
            m.delete(o.from);
            if (v !== undefined) m.set(o.to, v);
          }
        } else if (o.op === 'unlink') for (const m of [files, modes, links] as Map<string, unknown>[]) m.delete(o.path);
        else for (const m of [files, modes, links] as Map<string, unknown>[]) for (const f of [...m.keys()]) if (f === o.path || f.startsWith(`${o.path}/`)) m.delete(f);
        break;
      default:
        break;
    }
  }
  for (const [k, v] of base.blocks) if (!blocks.has(k) && (only === undefined || k === only)) blocks.set(k, v);
  return { blocks, files, modes, links };
}
