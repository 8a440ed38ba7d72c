// One crash image, booted: the board's own power-on (U-Boot's script and bootcount, the kernel),
// the client's recovery (Flipside: `flipside resume`, and the commit a resumed install waits for;
// Mender: `mender commit` where the env shows a trial boot), the invariants in the guest (one
// version committed and running, the env names the running root, /data canary intact), a retry of
// the update where the old version stayed, and at the end, with the power off, both env copies
// CRC-valid in the disk. The VM is cut as soon as the verdict is known.
import { join } from 'node:path';
import { devicePathOf } from '../../board/board.js';
import type { QemuBoard } from '../../board/qemu-board.js';
import { CANARY_PATH, canaryContent, rootPartitionOf, withoutClientLog } from '../../invariants/invariants.js';
import { parseEnvLines } from '../../../bootenv/env-lines.js';
import { clientCommands, CLIENT_DATA_DIR, type ClientKind } from '../../scenario/client.js';
import { envOfImage, type EnvLayout, type EnvSeen } from './env-region.js';

/** Seconds per stage of one check: power-on, recovery, checks, retry, power-off and the env read. */
export type StageSeconds = Partial<Record<'power-on' | 'recovery' | 'checks' | 'retry-key' | 'retry' | 'power-off', number>>;

export type ImageVerdict =
  | { ok: true; outcome: 'new' | 'old'; retried: boolean; retryLookedUp?: string; transcript: string[]; stages?: StageSeconds }
  | { ok: false; stage: string; reason: string; outcome?: 'new' | 'old'; transcript: string[]; stages?: StageSeconds };

/**
 * What a retry depends on once recovery has settled the device on the old version: the env (every
 * variable, bootcount included) and every file in /data (names, types, contents: the artifact the
 * retry installs, the client's stored data). Slot A runs the client and is checked unwritten by the
 * whole recording (the campaign turns lookups off otherwise); slot B is rewritten whole by a fresh
 * install (no deployment is stored after recovery, checked), so its bytes are not part of the key.
 * The client's last-deployment record is keyed without its `t` (the wall clock when the deployment
 * ended, which nothing but reports reads): with it, no two images would share a key.
 * The same inputs decide `show-artifact` on the old version (the client in slot A, its store in
 * /data), so a looked-up image skips that Node start too. Files are hashed with md5sum (an equality
 * key, not a defence: under TCG it is about twice as fast as sha256sum on the 54 MB artifact).
 */
export function retryKeyCommand(dataDir = '/data'): string {
  // busybox: no find -printf; one line per entry (type, mode, path, link target or content hash).
  return `( fw_printenv | LC_ALL=C sort; cd ${dataDir} && find . -xdev | grep -v '^\\./lost+found' | LC_ALL=C sort | while read -r f; do if [ -L "$f" ]; then echo "l $f $(readlink "$f")"; elif [ -d "$f" ]; then echo "d $(stat -c %a "$f") $f"; else case "$f" in */last-deployment.json) h=$(sed '/^  "t": [0-9]*,*$/d' "$f" | md5sum);; *) h=$(md5sum < "$f");; esac; echo "f $(stat -c %a "$f") $f $h"; fi; done ) | sha256sum`;
}

/**
 * Each redundant env copy fw_env.config names, checked in the guest: its stored CRC and the CRC-32
 * of its data (the bytes after CRC and flag), which gzip's trailer carries (busybox has no crc32).
 * One line per copy: `env-copy <device> <offset> stored=<hex> computed=<hex>`, equal when valid.
 */
export function envCopiesCommand(fwEnvConfig = '/etc/fw_env.config'): string {
  const copy = 'dd if="$dev" bs=512 skip=$((off / 512)) count=$((size / 512)) 2>/dev/null';
  return `grep -v '^#' ${fwEnvConfig} | while read -r dev off size _; do [ -n "$dev" ] || continue; c=$(${copy} | head -c 4 | od -An -tx1 | tr -d ' \\n'); d=$(${copy} | tail -c +6 | gzip -c | tail -c 8 | head -c 4 | od -An -tx1 | tr -d ' \\n'); echo "env-copy $dev $off stored=$c computed=$d"; done`;
}

/** Per env copy, in fw_env.config's order: CRC-valid? Null when the output has no copy lines. */
export function parseEnvCopies(lines: string[]): boolean[] | null {
  const copies = lines.map((l) => /^env-copy \S+ \S+ stored=([0-9a-f]*) computed=([0-9a-f]*)$/.exec(l.trim())).filter((m) => m !== null);
  return copies.length ? copies.map((m) => m[1]!.length === 8 && m[1] === m[2]) : null;
}

/**
 * Retries that passed, by retry key: an image whose settled device has the key of one that passed
 * its retry reuses that verdict instead of a second install (several minutes under TCG). Shared
 * by the campaign's jobs.
 */
export class RetryBook {
  private readonly passed = new Map<string, string>();
  lookup(key: string): string | undefined {
    return this.passed.get(key);
  }
  record(key: string, imageId: string): void {
    if (!this.passed.has(key)) this.passed.set(key, imageId);
  }
  get size(): number {
    return this.passed.size;
  }
}

/** The key a RETRY_KEY_COMMAND printed (sha256sum's hex), or null when the output has none. */
export function parseRetryKey(lines: string[]): string | null {
  for (const l of [...lines].reverse()) {
    const m = /^([0-9a-f]{64})\s+-$/.exec(l.trim());
    if (m) return m[1]!;
  }
  return null;
}

export interface ImageCheckInput {
  board: QemuBoard;
  client: ClientKind;
  seed: number;
  /** The env in the crash image before power-on: what decides which version may win. */
  envBefore: EnvSeen;
  envLayout: EnvLayout;
  /** Partition number of the slot the update installs to. */
  newSlot: string;
  /** The qcow2 overlay the VM wrote to (read with the power off). */
  overlay: () => string | null;
  tmp: string;
  /** Asked once the old version is found running: may this image run the (costly) retry? */
  mayRetry: () => boolean;
  /** Retries that passed, by retry key (absent: every retry runs). */
  retries?: RetryBook;
  /** This image's id (what a later lookup names). */
  imageId?: string;
}

class Failed extends Error {
  constructor(
    readonly stage: string,
    message: string,
  ) {
    super(message);
  }
}

/** What the crash image allows: the env already commits the new slot → only the new version may run. */
export function expectedFromEnv(env: EnvSeen, newSlot: string): { want: 'new' | null; why: string } {
  const v = env.vars;
  if (!v) return { want: null, why: 'no valid env copy in the crash image' };
  const part = v.mender_boot_part ?? v.boot_part;
  if (part === newSlot && v.upgrade_available === '0') return { want: 'new', why: `the crash image's env commits the new slot (boot_part=${part}, upgrade_available=0)` };
  return { want: null, why: `env boot_part=${part}, upgrade_available=${v.upgrade_available}: either version may be right` };
}

const MARK = '--flipside-campaign-section--';

/** Output lines split at MARK lines: a section is complete only when its mark followed it. */
export function sections(lines: string[]): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  for (const l of lines) {
    if (l === MARK) {
      out.push(cur);
      cur = [];
    } else cur.push(l);
  }
  return out;
}

export async function checkCrashImage(x: ImageCheckInput): Promise<ImageVerdict> {
  const { board } = x;
  const cmd = clientCommands(x.client);
  const transcript: string[] = [];
  const t0 = Date.now();
  const note = (l: string) => transcript.push(`${((Date.now() - t0) / 1000).toFixed(1)} s ${l}`);
  // A client command starts Node under TCG: over a minute on a loaded host.
  const sh = async (c: string, timeoutMs = 600_000) => {
    const r = await board.caps.shell.run(c, { timeoutMs });
    const out = withoutClientLog(r.stdout);
    note(`$ ${c} → exit ${r.code}${out.length ? `: ${out.slice(-2).join(' | ')}` : ''}`);
    return { code: r.code, lines: out };
  };
  const boot = async (stage: string) => {
    try {
      await board.strategy.transition('shell');
      note('power-on: shell');
    } catch (e) {
      throw new Failed(stage, `the board does not boot to a shell: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    }
  };
  const reboot = async (stage: string) => {
    shownByClient = undefined;
    await board.caps.console.write('sync; reboot -f\n');
    try {
      await board.strategy.followBoot('shell');
      note('reboot: shell');
    } catch (e) {
      throw new Failed(stage, `the reboot does not reach a shell: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    }
  };
  const stateOf = async (): Promise<string | null> => {
    if (x.client !== 'flipside') return null;
    const r = await sh(`cat ${CLIENT_DATA_DIR.flipside}/state.json 2>/dev/null || echo NONE`);
    const text = r.lines.join('\n');
    if (/^NONE$/m.test(text)) return null;
    return /"state"\s*:\s*"([^"]+)"/.exec(text)?.[1] ?? 'unreadable';
  };
  const envInGuest = async () => parseEnvLines((await sh('fw_printenv')).lines.join('\n'));
  /**
   * What the client named as installed at the end of its last command (Flipside's
   * `--show-artifact`: the same store read as `show-artifact`, without a second Node start of
   * tens of seconds under TCG); undefined once a reboot may have changed what it would say
   * (before any update is stored, show-artifact falls back to the running rootfs's artifact_info).
   */
  let shownByClient: string | undefined;
  const client = async (c: string, timeoutMs: number) => {
    const r = await sh(x.client === 'flipside' ? `${c} --show-artifact` : c, timeoutMs);
    shownByClient = x.client === 'flipside' ? [...r.lines].reverse().map((l) => /^artifact_name=(\S+)$/.exec(l)?.[1]).find(Boolean) : undefined;
    return r;
  };
  /**
   * One version committed, the env names the running root, the canary is intact; the client
   * names the running rootfs too: from its last command where it printed it, else (with `client`:
   * a Node start, asked once, of the final state) from `show-artifact`.
   */
  const settled = async (stage: string, askClient: boolean): Promise<string> => {
    // One shell round trip for the four reads (each ~0.2 s under TCG).
    const f = await sh(`cat /proc/cmdline; echo ${MARK}; fw_printenv; echo ${MARK}; cat /etc/flipside/artifact_info; echo ${MARK}; cat ${CANARY_PATH} && echo ${MARK}`);
    const [cmdline = [], envLines = [], info = [], canary] = sections(f.lines);
    const root = rootPartitionOf(cmdline.join(' '));
    const env = parseEnvLines(envLines.join('\n'));
    if (env.upgrade_available !== '0') throw new Failed(stage, `upgrade_available=${env.upgrade_available} with nothing in progress`);
    const part = env.mender_boot_part ?? env.boot_part;
    if (root === undefined || part !== root) throw new Failed(stage, `boot_part=${part}, running root partition ${root ?? '?'}`);
    const running = /artifact_name=(\S+)/.exec(info.join('\n'))?.[1];
    if (shownByClient !== undefined) {
      if (shownByClient !== running) throw new Failed(stage, `the client's last command names ${shownByClient} as installed, the running rootfs is ${running}`);
    } else if (askClient) {
      const shown = (await sh(cmd.showArtifact())).lines.at(-1);
      if (shown !== running) throw new Failed(stage, `show-artifact says ${shown}, the running rootfs is ${running}`);
    }
    if (running !== board.versions.current && running !== board.versions.next) throw new Failed(stage, `${running} runs, neither ${board.versions.current} nor ${board.versions.next}`);
    // The canary's section ends with a mark only where cat succeeded.
    if (canary === undefined || canary.join('\n') !== canaryContent(x.seed).trim()) throw new Failed(stage, `the /data canary is ${canary !== undefined ? 'changed' : 'gone'}`);
    return running;
  };

  const stages: StageSeconds = {};
  let stageStart = Date.now();
  const stageDone = (k: keyof StageSeconds) => {
    const now = Date.now();
    stages[k] = (stages[k] ?? 0) + (now - stageStart) / 1000;
    stageStart = now;
  };
  const expect = expectedFromEnv(x.envBefore, x.newSlot);
  note(`crash image env: copies ${x.envBefore.valid.map((v) => (v ? 'valid' : 'INVALID')).join('/')}; ${expect.why}`);
  let outcome: 'new' | 'old' | undefined;
  let retried = false;
  try {
    await boot('power-on');
    stageDone('power-on');
    // Recovery.
    if (x.client === 'flipside') {
      const s0 = await stateOf();
      const resume = await client(cmd.resume()!, 1_200_000);
      if (![0, 1, 2].includes(resume.code)) throw new Failed('recovery', `flipside resume exited ${resume.code}`);
      let left = await stateOf();
      if (left === 'ArtifactReboot') {
        // Reached during this resume: the device reboots before the commit, as a user would.
        if (s0 !== 'ArtifactReboot') await reboot('recovery');
        const c = await client(cmd.commit(), 600_000);
        if (c.code !== 0 && c.code !== 1) throw new Failed('recovery', `flipside commit exited ${c.code}`);
        left = await stateOf();
      }
      if (left) throw new Failed('recovery', `a deployment is still stored after recovery (${left})`);
    } else {
      const env = await envInGuest();
      if (env.upgrade_available === '1') {
        const c = await sh(cmd.commit(), 600_000);
        if (c.code !== 0) throw new Failed('recovery', `mender commit on the trial boot exited ${c.code}`);
      }
    }
    // A rollback by the recovery (the env back on the old slot while the new one runs) takes
    // effect at the next boot, as the host-sim campaign's power cycle after recovery shows.
    const root = rootPartitionOf((await sh('cat /proc/cmdline')).lines.join(' '));
    const envNow = await envInGuest();
    if (envNow.upgrade_available === '0' && (envNow.mender_boot_part ?? envNow.boot_part) !== root) {
      note(`the env names partition ${envNow.mender_boot_part ?? envNow.boot_part}, partition ${root} runs: reboot`);
      await reboot('recovery');
    }
    stageDone('recovery');
    const running = await settled('after recovery', false);
    outcome = running === board.versions.next ? 'new' : 'old';
    if (expect.want && outcome !== expect.want) throw new Failed('outcome', `${running} runs, but ${expect.why}`);
    let retryKey: string | null = null;
    let lookedUp: string | undefined;
    if (outcome === 'old' && x.mayRetry() && x.retries) {
      stageDone('checks');
      const k = await sh(retryKeyCommand());
      retryKey = k.code === 0 ? parseRetryKey(k.lines) : null;
      if (!retryKey) throw new Failed('retry', `the retry key command exited ${k.code} without a key`);
      lookedUp = x.retries.lookup(retryKey);
      stageDone('retry-key');
      if (lookedUp) note(`retry: the settled device has the retry key of ${lookedUp}, which passed show-artifact and its retry: neither run again`);
    }
    // The client already named what it runs in its last command, checked above; else ask it now.
    if (!lookedUp && shownByClient === undefined) {
      await settled('after recovery', outcome === 'new' || !x.mayRetry() || !!retryKey);
      stageDone('checks');
    }
    if (outcome === 'old' && x.mayRetry() && !lookedUp) {
      // The retry rewrites the env: check the copies recovery left before it can hide a torn one
      // (the power-off check below sees them after the retry only).
      const e = parseEnvCopies((await sh(envCopiesCommand())).lines);
      if (!e) throw new Failed('env copies', 'the guest printed no env copy CRCs');
      if (!e.every(Boolean)) throw new Failed('env copies', `env copy ${e.indexOf(false) + 1} is not CRC-valid after recovery`);
      retried = true;
      const i = await sh(cmd.install(devicePathOf('next')), 1_200_000);
      if (i.code !== 0) throw new Failed('retry', `the retried install exited ${i.code}`);
      await reboot('retry');
      const c = await client(cmd.commit(), 600_000);
      if (c.code !== 0) throw new Failed('retry', `the retried commit exited ${c.code}`);
      const after = await settled('after the retry', true);
      if (after !== board.versions.next) throw new Failed('retry', `after the retry ${after} runs, not ${board.versions.next}`);
      if (retryKey) x.retries?.record(retryKey, x.imageId ?? '?');
      stageDone('retry');
    }
    await sh('sync');
    await board.strategy.transition('off');
    const overlay = x.overlay();
    if (!overlay) throw new Failed('env copies', 'the VM has no disk overlay to read');
    const end = await envOfImage(overlay, 'qcow2', x.envLayout, join(x.tmp, 'env.bin'));
    note(`env at the end: copies ${end.valid.join('/')}`);
    if (!end.valid.every(Boolean)) throw new Failed('env copies', `env copy ${end.valid.indexOf(false) + 1} is not CRC-valid at the end${retried ? ' (after the retry)' : ''}`);
    stageDone('power-off');
    return { ok: true, outcome, retried, ...(lookedUp ? { retryLookedUp: lookedUp } : {}), transcript, stages };
  } catch (e) {
    if (e instanceof Failed) return { ok: false, stage: e.stage, reason: e.message, ...(outcome ? { outcome } : {}), transcript, stages };
    return { ok: false, stage: 'harness', reason: e instanceof Error ? e.message : String(e), ...(outcome ? { outcome } : {}), transcript, stages };
  }
}
