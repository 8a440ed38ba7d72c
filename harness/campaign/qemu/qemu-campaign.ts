// `flipside-lab campaign --board qemu-*`: one recorded update (every guest write and flush in a
// blklogwrites log), crash images made from the log (flush boundaries and seeded lost or torn
// unflushed writes), and a seeded selection of them booted and checked (check-image.ts) on
// --jobs VMs. Each job rolls its own raw copy of the base disk forward along the log, so a crash
// image costs only the writes since the previous one; the VM writes to a qcow2 overlay over it,
// deleted after the verdict, and the pending writes of a variant are undone afterwards.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { QemuBoard } from '../../board/qemu-board.js';
import { partition } from '../../../qemu/image/layout.js';
import { run } from '../../../qemu/image/exec.js';
import type { ClientKind } from '../../scenario/client.js';
import { checkCrashImage, RetryBook, type ImageVerdict } from './check-image.js';
import { dedupeCrashImages, distinctBoundaries, ImageCursor, log10PossibleStates, regionsWritten, selectCrashImages, variantFates, type CrashImageSpec, type DedupedImages, type Region } from './crash-images.js';
import { envOfRawImage } from './env-region.js';
import { recordingFiles, recordUpdate, stepAt, type Recording } from './record.js';
import { readWriteLog, type WriteLog } from './write-log.js';

export interface QemuCampaignOptions {
  board: string;
  client: ClientKind;
  images: number;
  seed: number;
  jobs: number;
  reportsDir: string;
  /** Reuse a recording (a replay): the folder a failed run kept. */
  recording?: string;
  /** Retry the update on at most this many images that kept the old version (default: all). */
  retryLimit?: number;
  /** Start no new crash image after this many seconds (the images not booted are reported). */
  budgetSeconds?: number;
  /** Boot only this crash image (`at:variant`, as a replay command names it). */
  only?: string;
  /** Run every retry, even where one with the same retry key passed (see check-image.ts). */
  noRetryLookup?: boolean;
  onProgress?: (p: { phase: 'setup' | 'images'; done: number; total: number; failures: number; message?: string }) => void;
}

export interface ImageResult extends CrashImageSpec {
  step: string;
  verdict: ImageVerdict;
  seconds: number;
}

export interface QemuCampaignResult {
  runId: string;
  dir: string;
  board: string;
  client: ClientKind;
  seed: number;
  recording: { dir: string; kept: boolean; seconds: number | null; entries: number; writes: number; flushes: number; writtenBytes: number; logBytes: number };
  distinctStates: number;
  boundariesWithPending: number;
  log10Possible: number;
  results: ImageResult[];
  /** Selected but not booted: the time budget ran out. */
  notBooted: number;
  /** Selected crash images with the same disk bytes as a booted one: booted once, counted once. */
  duplicates: { id: string; sameAs: string }[];
  /** Images selected before the duplicates were set aside (the selection grows to keep the count). */
  selectedWithDuplicates: number;
  /** Retries looked up by retry key instead of run (null: lookups off, and why). */
  retryLookup: { on: true; keys: number; lookedUp: number } | { on: false; why: string };
  seconds: number;
  jobs: number;
}

/**
 * `want` crash images with distinct disk bytes: the seeded selection, its duplicates set aside and
 * the selection grown until `want` distinct ones are found (or the log has no more). `dedupe`
 * finds the duplicates of a selection.
 */
export function selectDistinct(want: number, select: (n: number) => CrashImageSpec[], dedupe: (specs: CrashImageSpec[]) => DedupedImages): DedupedImages & { selected: number } {
  let n = want;
  let last: (DedupedImages & { selected: number }) | null = null;
  for (let round = 0; round < 6; round++) {
    const specs = select(n);
    const d = dedupe(specs);
    last = { ...d, selected: specs.length };
    if (d.unique.length >= want || specs.length < n) break;
    // Grow by the share of distinct images seen so far (at least by the shortfall).
    n = Math.max(n + want - d.unique.length, Math.ceil((n * want) / Math.max(1, d.unique.length)));
  }
  const d = last!;
  if (d.unique.length <= want) return d;
  // Grown past `want`: keep a spread over the log, and the duplicates of what is kept.
  const keep = new Set(spreadOrder(d.unique.length).slice(0, want).map((k) => d.unique[k]!.id));
  const unique = d.unique.filter((s) => keep.has(s.id));
  const duplicateOf = new Map([...d.duplicateOf].filter(([, f]) => keep.has(f)));
  return { unique, duplicateOf, selected: unique.length + duplicateOf.size };
}

/** The crash image a replay command names (`<log position>:<variant>`). */
export function imageById(log: WriteLog, id: string, seed: number): CrashImageSpec {
  const m = /^(\d+):(\d+)$/.exec(id);
  const bs = distinctBoundaries(log);
  const bi = m ? bs.findIndex((b) => b.at === Number(m[1])) : -1;
  if (!m || bi < 0) throw new Error(`--only ${id}: no such crash image in this recording (ids are <log position>:<variant>; positions: ${bs.map((b) => b.at).slice(0, 12).join(', ')}, ...)`);
  const variant = Number(m[2]);
  if (variant > 0 && bs[bi]!.pending.length === 0) throw new Error(`--only ${id}: nothing is pending after that flush boundary, it has no variants`);
  const v = variantFates(log, bs[bi]!, variant, seed);
  return { id, boundary: bi, at: bs[bi]!.at, variant, fates: v.fates, label: v.label };
}

/** 0, n/2, n/4, 3n/4, ...: every prefix of this order is spread over 0..n-1. */
export function spreadOrder(n: number): number[] {
  const out: number[] = [];
  const seen = new Set<number>();
  for (let i = 0; out.length < n; i++) {
    let x = 0;
    for (let f = 0.5, k = i; k > 0; k >>= 1, f /= 2) if (k & 1) x += f;
    const idx = Math.floor(x * n);
    if (!seen.has(idx)) {
      seen.add(idx);
      out.push(idx);
    }
    if (i > 64 * n) break;
  }
  for (let k = 0; k < n; k++) if (!seen.has(k)) out.push(k);
  return out;
}

export function qemuReplayCommand(r: Pick<QemuCampaignResult, 'board' | 'client' | 'seed'>, recordingDir: string, id: string): string {
  return `flipside-lab campaign --board ${r.board} --client ${r.client} --seed ${r.seed} --recording ${recordingDir} --only ${id}`;
}

function runId(): string {
  return `campaign-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${process.pid}`;
}

export async function runQemuCampaign(o: QemuCampaignOptions): Promise<QemuCampaignResult> {
  const t0 = Date.now();
  const id = runId();
  const dir = join(resolve(o.reportsDir), id);
  mkdirSync(dir, { recursive: true });
  const work = join(process.env.FLIPSIDE_CAMPAIGN_WORK ?? (existsSync('/dev/shm') ? '/dev/shm' : dir), `flipside-${id}`);
  mkdirSync(work, { recursive: true });
  const say = (message: string) => o.onProgress?.({ phase: 'setup', done: 0, total: 0, failures: 0, message });
  const jobs = Math.max(1, Math.min(o.jobs, o.only ? 1 : o.images));
  const boards: QemuBoard[] = [];
  const cursors: ImageCursor[] = [];
  let keep = false;
  const recDir = o.recording ? resolve(o.recording) : join(work, 'recording');
  try {
    for (let j = 0; j < jobs; j++) {
      const b = await QemuBoard.open(o.board, { client: o.client });
      await b.prepare(j === 0 ? say : () => undefined);
      boards.push(b);
    }
    const b0 = boards[0]!;
    let rec: Recording;
    if (o.recording) {
      rec = JSON.parse(readFileSync(recordingFiles(recDir).meta, 'utf8')) as Recording;
      rec = { ...rec, ...recordingFiles(recDir), dir: recDir };
      say(`replaying the recording in ${recDir}`);
    } else {
      say('recording one update with every disk write logged (blklogwrites)');
      rec = await recordUpdate(b0, { dir: recDir, client: o.client, seed: o.seed, log: say });
    }
    const log = readWriteLog(rec.log);
    const layout = b0.image.layout;
    if (!layout.env) throw new Error(`${o.board}: the campaign checks a U-Boot env; this board has none`);
    const envLayout = { offsets: layout.env.offsets, size: layout.env.size };
    const regions: Region[] = [
      { name: 'env', offset: Math.min(...envLayout.offsets), size: Math.abs(envLayout.offsets[1] - envLayout.offsets[0]) + envLayout.size },
      ...(['boot', 'rootfsA', 'rootfsB', 'data'] as const).map((r) => ({ name: r, offset: partition(layout, r).offset, size: partition(layout, r).size })),
    ];
    const newSlot = String(partition(layout, 'rootfsB').number);
    const sel = selectCrashImages(log, 0, o.seed, regions);
    // A replay names its image: the variants depend only on the seed, the boundary and the index.
    let specs: CrashImageSpec[];
    let deduped: DedupedImages & { selected: number } = { unique: [], duplicateOf: new Map(), selected: 1 };
    if (o.only) specs = [imageById(log, o.only, o.seed)];
    else {
      // Crash images with equal bytes are booted once: keyed on a scratch copy rolled along the log.
      const scratch = join(work, 'dedupe.img');
      deduped = selectDistinct(
        o.images,
        (n) => selectCrashImages(log, n, o.seed, regions).selected,
        (xs) => {
          copyFileSync(rec.base, scratch);
          try {
            return dedupeCrashImages(log, rec.log, scratch, xs);
          } finally {
            rmSync(scratch, { force: true });
          }
        },
      );
      specs = deduped.unique.sort((a, b) => a.at - b.at || a.variant - b.variant);
    }
    const writes = log.entries.filter((e) => e.kind === 'write');
    say(`log: ${log.entries.length} entries (${writes.length} writes, ${log.entries.length - writes.length} flushes), ${sel.distinct} distinct flush-boundary states, ${specs.length} crash images to boot on ${jobs} VM(s)${deduped.duplicateOf.size ? ` (${deduped.duplicateOf.size} more selected had the same bytes as one of them)` : ''}`);
    // A retry's lookup trusts that slot A (the client) and the boot partition are the base's in every
    // crash image: the recorded update never writes them.
    const written = regionsWritten(log.entries, regions);
    const lookupOff = o.noRetryLookup ? 'turned off (--no-retry-lookup)' : ['rootfsA', 'boot'].filter((r) => written.has(r)).map((r) => `the recorded update writes ${r}`).join(', ');
    const retries = lookupOff ? undefined : new RetryBook();

    // Boot order: spread over the log (van der Corput over the log-ordered list), so a time budget
    // that stops early still leaves images from every step. Jobs take the next image from one queue.
    const order = spreadOrder(specs.length).map((k) => specs[k]!);
    // Retries are costly (an install under TCG): with a limit, they go to images spread over the
    // steps where an update was in progress, not to the first ones that kept the old version.
    const stepOf = (s: CrashImageSpec) => stepAt(rec, log.entries[Math.max(0, s.at - 1)]?.dataAt ?? 0);
    const retryCandidates = new Set<string>();
    if (o.retryLimit !== undefined) {
      const busy = specs.filter((s) => stepOf(s) !== 'boot');
      for (let k = 0; k < Math.min(o.retryLimit, busy.length); k++) retryCandidates.add(busy[Math.floor(((k + 0.5) * busy.length) / o.retryLimit)]!.id);
    }
    const results: ImageResult[] = [];
    let done = 0;
    let failures = 0;
    let next = 0;
    const outOfTime = () => o.budgetSeconds !== undefined && (Date.now() - t0) / 1000 > o.budgetSeconds;
    const runJob = async (j: number) => {
      const board = boards[j]!;
      const img = join(work, `crash-${j}.img`);
      let cursor: ImageCursor | null = null;
      for (;;) {
        if (outOfTime() || next >= order.length) break;
        const s = order[next++]!;
        const mayRetry = () => o.retryLimit === undefined || retryCandidates.has(s.id);
        const t = Date.now();
        // The copy only rolls forward: an image earlier in the log starts again from the base.
        if (!cursor || cursor.position > s.at) {
          cursor?.close();
          if (cursor) cursors.splice(cursors.indexOf(cursor), 1);
          await run('cp', ['--sparse=always', '--reflink=auto', rec.base, img]);
          cursor = new ImageCursor(log, rec.log, img);
          cursors.push(cursor);
        }
        cursor.advance(s.at);
        const undo = cursor.applyPending(s.fates);
        let verdict: ImageVerdict = { ok: false, stage: 'harness', reason: 'not checked', transcript: [] };
        const runDir = join(work, `vm-${j}`);
        try {
          const envBefore = envOfRawImage(img, envLayout);
          await board.resetToImage(img, runDir);
          verdict = await checkCrashImage({ board, client: o.client, seed: rec.seed, envBefore, envLayout, newSlot, overlay: () => join(runDir, 'vm', 'disk.qcow2'), tmp: runDir, mayRetry, imageId: s.id, ...(retries ? { retries } : {}) });
        } catch (e) {
          verdict = { ok: false, stage: 'harness', reason: e instanceof Error ? e.message : String(e), transcript: [] };
        } finally {
          const logs = await board.release().catch(() => [] as string[]);
          undo();
          // A failure keeps its console transcript in the report folder.
          if (!verdict.ok) for (const l of logs) if (existsSync(l)) copyFileSync(l, join(dir, `console-${s.id.replace(':', '-')}.log`));
        }
        const step = stepOf(s);
        results.push({ ...s, step, verdict, seconds: (Date.now() - t) / 1000 });
        done++;
        if (!verdict.ok) failures++;
        o.onProgress?.({ phase: 'images', done, total: specs.length, failures, message: `${s.id} (${step}, ${s.label}): ${verdict.ok ? `ok, ${verdict.outcome}${verdict.retried ? ', retried' : ''}` : `FAILED at ${verdict.stage}: ${verdict.reason}`}` });
      }
    };
    await Promise.all(boards.map((_, j) => runJob(j)));
    results.sort((a, b) => a.at - b.at || a.variant - b.variant);
    keep = !o.recording && failures > 0;
    const kept = keep ? join(dir, 'recording') : recDir;
    if (keep) {
      mkdirSync(kept, { recursive: true });
      for (const f of ['base', 'log', 'meta'] as const) await run('cp', ['--sparse=always', recordingFiles(recDir)[f], recordingFiles(kept)[f]]);
    }
    return {
      runId: id,
      dir,
      board: o.board,
      client: o.client,
      seed: o.seed,
      recording: {
        dir: kept,
        kept: keep || !!o.recording,
        seconds: o.recording ? null : rec.seconds,
        entries: log.entries.length,
        writes: writes.length,
        flushes: log.entries.filter((e) => e.kind === 'flush').length,
        writtenBytes: writes.reduce((a, e) => a + e.length, 0),
        logBytes: log.entries.length ? log.entries.at(-1)!.dataAt + log.entries.at(-1)!.length : 0,
      },
      distinctStates: sel.distinct,
      boundariesWithPending: sel.withVariants,
      log10Possible: Math.round(log10PossibleStates(log, distinctBoundaries(log)) * 10) / 10,
      results,
      notBooted: specs.length - results.length,
      duplicates: [...deduped.duplicateOf].map(([id, sameAs]) => ({ id, sameAs })),
      selectedWithDuplicates: deduped.selected,
      retryLookup: retries ? { on: true, keys: retries.size, lookedUp: results.filter((x) => x.verdict.ok && x.verdict.retryLookedUp).length } : { on: false, why: lookupOff },
      seconds: (Date.now() - t0) / 1000,
      jobs,
    };
  } finally {
    for (const c of cursors) c.close();
    for (const b of boards) await b.release().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}
