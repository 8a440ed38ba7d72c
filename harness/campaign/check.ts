// One crash state, end to end: the crash image goes on the board, the power comes on (boot logic),
// the client recovers (`flipside resume`, then `commit` where a standalone update waits for it),
// the invariants are checked, the board is power-cycled and checked again, and where the update
// did not finish a retry with the good artifact must succeed. The first broken rule is the verdict.
import { UBootEnv } from '../../bootenv/uboot-env.js';
import { checkCopy } from '../../bootenv/uboot-env-format.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ArtifactRole, Flow } from './flows.js';
import { materialize, pendingAt, type CrashState, type Image } from './crash-states.js';
import { CANARY, VERSIONS, type SimBoard } from './sim.js';
import type { Trace } from './trace.js';

export type Verdict = { ok: true; outcome: 'new' | 'old'; retried: boolean } | { ok: false; stage: string; reason: string; outcome?: 'new' | 'old'; transcript: string[] };

type EnvVars = Record<string, string>;

const ENV = 'disk/uboot-env.img';

const STORE = 'data/flipside/state.json';
const PROVIDES = 'data/flipside/provides.json';
const LAST = 'data/flipside/last-deployment.json';

/** The env U-Boot reads from an image (null: no valid copy). */
export function envOf(img: Image, board: SimBoard): EnvVars | null {
  const l = board.envLayout();
  const file = img.blocks.get(ENV);
  if (!file) throw new Error('crash image without the env device');
  const blobs = l.offsets.map((o) => file.subarray(o, o + l.size));
  const checks = blobs.map((b) => checkCopy(b, true));
  const valid = checks.map((c) => c.crcOk);
  if (!valid[0] && !valid[1]) return null;
  let cur = valid[0] && !valid[1] ? 0 : !valid[0] && valid[1] ? 1 : null;
  if (cur === null) {
    const [f0, f1] = [checks[0]!.flag!, checks[1]!.flag!];
    cur = f0 === 0xff && f1 === 0 ? 1 : f1 === 0xff && f0 === 0 ? 0 : f1 > f0 ? 1 : 0;
  }
  const data = blobs[cur]!.subarray(5);
  const out: EnvVars = {};
  for (const entry of data.toString('latin1').split('\0')) {
    if (entry === '') break;
    const eq = entry.indexOf('=');
    if (eq > 0) out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

const same = (a: EnvVars | null, b: EnvVars | null): boolean => JSON.stringify(a && Object.entries(a).sort()) === JSON.stringify(b && Object.entries(b).sort());

function parse<T>(b: Buffer | undefined): T | null | 'unreadable' {
  if (!b) return null;
  try {
    return JSON.parse(b.toString('utf8')) as T;
  } catch {
    return 'unreadable';
  }
}

/**
 * What the recovery must end with, decided from what the crash image stores (the client's promise
 * for each stored state) and the bootloader's documented rule (bootcount past bootlimit rolls back).
 * null: either version is right (the stored facts allow both).
 */
export function expectedOutcome(flow: Flow, img: Image, env: EnvVars | null, bootlimit: number): { want: 'new' | 'old' | null; why: string } {
  const rec = parse<{ state: string; error: string | null }>(img.files.get(STORE));
  if (flow.mustFail) return { want: 'old', why: `flow ${flow.name}: the artifact must never stay installed` };
  if (rec === 'unreadable') return { want: null, why: 'the stored state is unreadable' };
  const B = '3';
  const pendingTrial = env?.upgrade_available === '1' && env?.boot_part === B;
  const committed = env?.upgrade_available === '0' && env?.boot_part === B;
  if (!rec) {
    const p = parse<{ artifact_name?: string }>(img.files.get(PROVIDES));
    const name = p && p !== 'unreadable' ? p.artifact_name : null;
    return { want: name === VERSIONS.next ? 'new' : 'old', why: `no deployment stored; provides says ${name}` };
  }
  switch (rec.state) {
    case 'ArtifactReboot':
      // Installed and promised: only the bootloader's own count may still take it back.
      if (pendingTrial && Number(env?.bootcount ?? '0') >= bootlimit) return { want: 'old', why: 'stored ArtifactReboot, but the trial boot was already counted: the next power-on rolls back' };
      return { want: 'new', why: 'stored ArtifactReboot: the client said the update is installed' };
    case 'ArtifactCommit':
      if (committed) return { want: 'new', why: 'stored ArtifactCommit and the env already commits the new slot' };
      if (pendingTrial && Number(env?.bootcount ?? '0') < bootlimit) return { want: 'new', why: 'stored ArtifactCommit, trial boot not yet counted' };
      return { want: 'old', why: 'stored ArtifactCommit before the env commit: the next power-on counts past bootlimit and rolls back' };
    case 'AfterCommit':
      return { want: 'new', why: 'stored AfterCommit: past the point of no return' };
    case 'Cleanup':
      return { want: rec.error ? 'old' : 'new', why: `stored Cleanup of a ${rec.error ? 'failed' : 'successful'} deployment` };
    default:
      return { want: 'old', why: `stored ${rec.state}: the update had not been promised` };
  }
}

export interface CheckInput {
  flow: Flow;
  trace: Trace;
  state: CrashState;
  bundle: string;
  artifacts: Record<ArtifactRole, string>;
  /** Look up retries of an already-retried settled state (default); false runs every retry. */
  memo?: boolean;
}

/** Retry verdicts by client, boot logic and settled device state (see the retry in checkCrashState). */
const retryMemo = new Map<string, true | { stage: string; reason: string }>();
export let retryHits = 0;

/** Milliseconds per stage of checkCrashState, summed (FLIPSIDE_CAMPAIGN_TIMING=1 prints them per worker). */
export const STAGE_MS: Record<string, number> = {};
let stageT = 0;
const lap = (name: string): void => {
  const now = performance.now();
  if (stageT) STAGE_MS[name] = (STAGE_MS[name] ?? 0) + now - stageT;
  stageT = now;
};
export async function checkCrashState(board: SimBoard, x: CheckInput): Promise<Verdict> {
  stageT = performance.now();
  const img = materialize(x.trace, x.state, board.base);
  const bootlimit = board.hs.spec.bootloader.bootlimit;
  const env0 = envOf(img, board);
  const expect = expectedOutcome(x.flow, img, env0, bootlimit);
  // What happened after the cut, for the report of a failure (kept short: the client's last lines).
  const transcript: string[] = [];
  const fail = (stage: string, reason: string, outcome?: 'new' | 'old'): Verdict => ({ ok: false, stage, reason, ...(outcome ? { outcome } : {}), transcript });
  const client = async (args: string[]) => {
    const r = await board.client(x.bundle, args);
    transcript.push(`$ flipside ${args.join(' ').replace(/\S*\/([^/\s]+\.mender)/, '$1')} → exit ${r.code}`, ...r.stderr.trim().split('\n').filter((l) => l && !/TEST BUILD/.test(l)).slice(-6).map((l) => `  ${l}`));
    return r;
  };
  const power = async () => {
    const b = await board.boot();
    transcript.push(`power-on: ${b.log.join('; ')}${b.ok ? '' : ` → ${b.reason}`}`);
    return b;
  };

  // The env the bootloader may see: the last one written durably, or one that was being written.
  const pending = pendingAt(x.trace, x.state.cut);
  const envOps = pending.blocks.filter((i) => (x.trace.ops[i] as { path: string }).path === ENV);
  const envWith = (fates: CrashState['fates']): EnvVars | null => envOf(materialize(x.trace, { ...x.state, fates: { ...x.state.fates, ...fates } }, board.base, ENV), board);
  const lost = (ops: number[]) => Object.fromEntries(ops.map((i) => [i, { kind: 'lost' as const }]));
  const allowed: (EnvVars | null)[] = [envWith(lost(envOps))];
  for (const i of envOps) allowed.push(envWith({ ...lost(envOps.filter((j) => j !== i)), [i]: undefined as never }));
  if (x.flow.envUntouched && !same(env0, envOf(board.base, board))) {
    return fail('crash image', `the env changed during the ${x.flow.name} flow, whose artifact must be refused before anything is switched: ${JSON.stringify(env0)}`);
  }
  if (x.flow.mustFail && env0?.boot_part === '3' && env0.upgrade_available === '0') {
    return fail('crash image', `the env commits slot B (boot_part=3, upgrade_available=0) for an artifact that must never stay (${x.flow.name})`);
  }

  lap('materialize');
  await board.restore(img);
  lap('restore');
  const b1 = await power();
  lap('power1');
  if (!b1.ok) return fail('power-on', `the board does not boot after the cut: ${b1.reason} (${b1.log.join('; ')})`);
  if (!allowed.some((a) => same(a, b1.envSeen))) {
    return fail('power-on', `the bootloader read an env that was neither the last one written durably nor one being written: ${JSON.stringify(b1.envSeen)}`);
  }

  const stored0 = parse<{ state: string }>(img.files.get(STORE));
  const resume = await client(['resume']);
  if (resume.code !== 0 && resume.code !== 1 && resume.code !== 2) return fail('recovery', `flipside resume exited ${resume.code}: ${lastLine(resume.stderr)}`);
  let rec = parse<{ state: string }>(await readFileOrNull(join(board.dir, STORE)));
  if (rec && rec !== 'unreadable' && rec.state === 'ArtifactReboot') {
    // Reached during this resume (not stored at the cut): the device reboots before the commit, as a user would.
    if (!(stored0 && stored0 !== 'unreadable' && stored0.state === 'ArtifactReboot')) {
      const rb = await power();
      if (!rb.ok) return fail('recovery', `the reboot the resumed install asked for does not boot: ${rb.reason}`);
    }
    const c = await client(['commit']);
    if (c.code !== 0 && c.code !== 1) return fail('recovery', `flipside commit exited ${c.code}: ${lastLine(c.stderr)}`);
  }
  rec = parse<{ state: string }>(await readFileOrNull(join(board.dir, STORE)));
  if (rec) return fail('recovery', `a deployment is still stored after recovery (${rec === 'unreadable' ? 'unreadable state.json' : rec.state}); resume said: ${lastLine(resume.stderr)}`);

  lap('recovery');
  const settled = await settledCheck(board, 'after recovery');
  lap('settled');
  if ('reason' in settled) return fail(settled.stage, settled.reason);
  const outcome = settled.name === VERSIONS.next ? 'new' : 'old';
  if (expect.want && outcome !== expect.want) return fail('outcome', `${outcome === 'new' ? VERSIONS.next : VERSIONS.current} is committed but ${expect.want === 'new' ? VERSIONS.next : VERSIONS.current} was expected: ${expect.why}`, outcome);

  let retried = false;
  const retry = async (): Promise<true | { stage: string; reason: string }> => {
    const i = await client(['install', x.artifacts.next]);
    if (i.code !== 0) return { stage: 'retry', reason: `flipside install exited ${i.code}: ${lastLine(i.stderr)}` };
    const rb = await power();
    if (!rb.ok || rb.slot !== 'B') return { stage: 'retry', reason: `the reboot after the retry's install did not run slot B: ${rb.ok ? rb.slot : rb.reason}` };
    const c = await client(['commit']);
    if (c.code !== 0) return { stage: 'retry', reason: `flipside commit exited ${c.code}: ${lastLine(c.stderr)}` };
    const after = await settledCheck(board, 'after the retry');
    if ('reason' in after) return after;
    if (after.name !== VERSIONS.next) return { stage: 'retry', reason: `after the retry ${after.name} is committed, not ${VERSIONS.next}` };
    const copies = envCopies(board);
    if (!copies.every((c) => c)) return { stage: 'env copies', reason: `env copy ${copies.indexOf(false) + 1} is not CRC-valid at the end (after the retry)` };
    return true;
  };
  if (outcome === 'old') {
    retried = true;
    // The retry is a function of the client, the boot logic and the settled device: a state
    // already retried gives the same verdict, so it is looked up instead of run again (most crash
    // states settle back to one of a few devices). The key is the env and /data: settledCheck has
    // just found slot A byte for byte the old image, and slot B does not matter: the retry's
    // install rewrites all of it without reading it (SkipUnchangedBlocks is off on campaign
    // boards, and no deployment is stored, so nothing resumes), and its verdict requires B to
    // hold the new image byte for byte afterwards. last-deployment.json (id, outcome and time of
    // the last deployment) is written, never read, by the client.
    const key = `${x.bundle}|${board.o.bootBug ?? ''}|${board.stateHash([], [LAST])}`;
    let r = x.memo === false ? undefined : retryMemo.get(key);
    if (r) retryHits++;
    else {
      r = await retry();
      retryMemo.set(key, r);
    }
    if (r !== true) return fail(r.stage, r.reason, outcome);
  }
  lap('retry');
  if (!retried) {
    const copies = envCopies(board);
    if (!copies.every((c) => c)) return fail('env copies', `env copy ${copies.indexOf(false) + 1} is not CRC-valid at the end`, outcome);
  }
  return { ok: true, outcome, retried };
}

async function readFileOrNull(p: string): Promise<Buffer | undefined> {
  try {
    return readFileSync(p);
  } catch {
    return undefined;
  }
}

function lastLine(s: string): string {
  return s.trim().split('\n').filter((l) => !/TEST BUILD/.test(l)).at(-1) ?? '';
}

function envCopies(board: SimBoard): boolean[] {
  const l = board.envLayout();
  const file = readFileSync(l.file);
  return l.offsets.map((o) => checkCopy(file.subarray(o, o + l.size), true).crcOk);
}

/**
 * The rules of a settled device, checked twice: as recovery left it, and after one more power
 * cycle. One version is committed (upgrade_available=0), the env's boot partition holds exactly
 * the image provides names, it is the one that runs, the old rootfs and the /data canary are intact.
 */
export async function settledCheck(board: SimBoard, when: string): Promise<{ name: string } | { stage: string; reason: string }> {
  const bad = (reason: string) => ({ stage: when, reason });
  let env: EnvVars;
  try {
    env = await (await UBootEnv.fromConfigFile(board.hs.fwEnvConfig)).read();
  } catch (e) {
    return bad(`the env is unreadable: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (env.upgrade_available !== '0') return bad(`no update is in progress but the env has upgrade_available=${env.upgrade_available} (boot_part=${env.boot_part}, bootcount=${env.bootcount})`);
  const slot = env.boot_part === '2' ? 'A' : env.boot_part === '3' ? 'B' : null;
  if (!slot) return bad(`boot_part=${env.boot_part} names no rootfs`);
  const p = parse<{ artifact_name?: string }>(await readFileOrNull(join(board.dir, PROVIDES)));
  if (!p || p === 'unreadable' || !p.artifact_name) return bad(`provides.json is ${p === 'unreadable' ? 'unreadable' : 'missing'}`);
  const name = p.artifact_name;
  if (!(await board.slotHolds(slot, name))) return bad(`the committed slot ${slot} does not hold exactly ${name} (its header says ${await board.slotArtifact(slot)})`);
  // (Already compared when A is the committed slot holding the old version.)
  if (!(slot === 'A' && name === VERSIONS.current) && !(await board.slotHolds('A', VERSIONS.current))) return bad('slot A (the old rootfs, never a target here) was modified');
  const canary = await readFileOrNull(join(board.dir, 'data', CANARY));
  if (!canary || !canary.toString().startsWith('flipside campaign canary')) return bad('the /data canary was lost or changed');
  const b = await board.boot();
  if (!b.ok) return bad(`the settled board does not boot: ${b.reason}`);
  if (b.slot !== slot) return bad(`the power cycle ran slot ${b.slot}, the env commits slot ${slot}`);
  const env2 = await (await UBootEnv.fromConfigFile(board.hs.fwEnvConfig)).read();
  if (env2.upgrade_available !== '0' || env2.boot_part !== env.boot_part) return bad(`the power cycle changed the committed env: ${JSON.stringify(env2)}`);
  return { name };
}
