// One scratch host-sim board in a campaign worker: the board folder of harness/host-sim (A/B
// partition files, a redundant U-Boot env, the client's DataDir) restored to any crash image in a
// few milliseconds, powered on through the boot logic (a mutant's, when asked), and driven by the
// client module in-process. It records a flow's trace too: the same board, the trace hook on.
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { UBootEnv } from '../../bootenv/uboot-env.js';
import { envWriteJournal, traceOp } from '../../client/test-hooks.js';
import { DEFAULT_VERSIONS } from '../board/lab-artifacts.js';
import { defaultSimulatedBoard, HostSimBoard } from '../host-sim/board.js';
import { runBootScript, type BootOutcome, type BootScriptBug } from '../host-sim/boot-script.js';
import { simRootfs } from '../host-sim/lab-board.js';
import { ObservedEnv } from './boot-env.js';
import { callClient, type ClientCall } from './client-module.js';
import type { Image } from './crash-states.js';
import { readTrace, type Trace } from './trace.js';
import { configureDaemon } from '../host-sim/daemon.js';
import { KEY_FILE } from '../../client/identity/device-key.js';
import { CAMPAIGN_IDENTITY } from './managed-server.js';
import { stepMark, type ArtifactRole, type Flow } from './flows.js';

export const VERSIONS = DEFAULT_VERSIONS;
export const CANARY = 'canary/keep-me.txt';
const CANARY_TEXT = 'flipside campaign canary: user data on /data must survive every cut\n';

const HEADER = /^FLIPSIDE-HOSTSIM-ROOTFS artifact_name=(\S+)\n/;

export interface SimOptions {
  partitionSize: number;
  bootBug: BootScriptBug | null;
  /** A managed board: the daemon's config for this server, and the device key the server knows. */
  managed?: { serverUrl: string; keyPem: string };
}

export class SimBoard {
  private constructor(
    readonly hs: HostSimBoard,
    readonly o: SimOptions,
    readonly base: Image,
    /** The images a slot may legitimately hold, by artifact name. */
    readonly images: Map<string, Buffer>,
  ) {}

  static async create(o: SimOptions): Promise<SimBoard> {
    const spec = defaultSimulatedBoard();
    const hs = await HostSimBoard.create({
      spec,
      partitionSize: o.partitionSize,
      initialArtifact: VERSIONS.current,
      config: { ScriptsDir: 'etc/flipside/scripts' },
    });
    await hs.writeConfig({ ScriptsDir: join(hs.dir, 'etc', 'flipside', 'scripts') });
    if (o.managed) {
      await configureDaemon(hs, {
        serverUrl: o.managed.serverUrl,
        identity: CAMPAIGN_IDENTITY,
        // The reboot is the harness's: the daemon logs that it started it, the driver powers the board off and on.
        config: { ScriptsDir: join(hs.dir, 'etc', 'flipside', 'scripts'), RebootCommand: ['true'], DownloadResumeAcrossRestarts: true },
      });
      await writeFile(join(hs.dataDir, KEY_FILE), o.managed.keyPem, { mode: 0o600 });
    }
    const current = simRootfs(VERSIONS.current, o.partitionSize);
    await writeFile(hs.partA, current);
    await mkdir(join(hs.dir, 'data', 'canary'), { recursive: true });
    await writeFile(join(hs.dir, 'data', CANARY), CANARY_TEXT);
    const images = new Map<string, Buffer>([
      [VERSIONS.current, current],
      [VERSIONS.next, simRootfs(VERSIONS.next, o.partitionSize)],
      [`${VERSIONS.next}-unhealthy`, simRootfs(`${VERSIONS.next}-unhealthy`, o.partitionSize)],
    ]);
    const board = new SimBoard(hs, o, { blocks: new Map(), files: new Map(), modes: new Map(), links: new Map() }, images);
    const base = await board.capture();
    return new SimBoard(hs, o, base, images);
  }

  private rel(p: string): string {
    return relative(this.hs.dir, p);
  }

  get dir(): string {
    return this.hs.dir;
  }

  // The harness's own file work is synchronous (scratch boards live on tmpfs): thousands of small
  // reads and writes per second cost less without a thread-pool round trip each.
  private dataFiles(dir: string, out: Image): void {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, e.name);
      if (e.isSymbolicLink()) out.links.set(this.rel(p), readlinkSync(p));
      else if (e.isDirectory()) this.dataFiles(p, out);
      else {
        out.files.set(this.rel(p), readFileSync(p));
        const mode = lstatSync(p).mode & 0o777;
        if (mode & 0o111) out.modes.set(this.rel(p), mode);
      }
    }
  }

  /** The storage as it is now. */
  async capture(): Promise<Image> {
    const blocks = new Map<string, Buffer>();
    for (const p of [this.hs.partA, this.hs.partB, this.hs.envFile]) blocks.set(this.rel(p), readFileSync(p));
    const img: Image = { blocks, files: new Map(), modes: new Map(), links: new Map() };
    this.dataFiles(join(this.hs.dir, 'data'), img);
    return img;
  }

  /**
   * A digest of what the device stores: the env and /data (with modes and links), and of the slots
   * only those named (a caller that has just compared a slot with a known image leaves it out).
   * `ignore`: /data files the caller knows are written but never read (a record for the user).
   */
  stateHash(slots: ('A' | 'B')[], ignore: string[] = []): string {
    const h = createHash('sha1');
    const img = { blocks: new Map(), files: new Map(), modes: new Map(), links: new Map() } as Image;
    for (const p of [...slots.map((x) => this.hs.partPath(x)), this.hs.envFile]) h.update(readFileSync(p)).update('\0');
    this.dataFiles(join(this.hs.dir, 'data'), img);
    for (const [p, b] of img.files) if (!ignore.includes(p)) h.update(`${p}:${img.modes.get(p) ?? ''}:${b.length}\0`).update(b);
    for (const [p, t] of img.links) h.update(`${p}->${t}\0`);
    return h.digest('hex');
  }

  /**
   * Slot A holds the base image byte for byte: set by a check that passed (its last settled check
   * compared A with the old image, and nothing writes A after it), cleared by anything else. The
   * next restore then skips rewriting A (the largest write of a restore on big partitions).
   */
  slotAIntact = false;

  /** Puts a crash image on the board (power is off: nothing runs). */
  async restore(img: Image): Promise<void> {
    const a = this.rel(this.hs.partA);
    const skipA = this.slotAIntact && img.blocks.get(a) === this.base.blocks.get(a);
    this.slotAIntact = false;
    for (const [p, b] of img.blocks) if (!(skipA && p === a)) writeFileSync(join(this.hs.dir, p), b);
    rmSync(join(this.hs.dir, 'data'), { recursive: true, force: true });
    mkdirSync(this.hs.dataDir, { recursive: true });
    for (const [p, b] of img.files) {
      const full = join(this.hs.dir, p);
      mkdirSync(join(full, '..'), { recursive: true });
      writeFileSync(full, b);
      const mode = img.modes.get(p);
      if (mode !== undefined) chmodSync(full, mode);
    }
    for (const [p, target] of img.links) {
      const full = join(this.hs.dir, p);
      mkdirSync(join(full, '..'), { recursive: true });
      symlinkSync(target, full);
    }
    writeFileSync(this.hs.cmdline, '');
  }

  envLayout() {
    const spec = this.hs.spec;
    return { file: this.hs.envFile, offsets: spec.env.offsets, size: spec.env.size };
  }

  /** Power on: the boot logic (the mutant's, if any) picks a slot; it "runs" through /proc/cmdline. */
  async boot(): Promise<BootOutcome & { envSeen: Record<string, string> | null }> {
    // The boot logic's own env writes (bootcount, altbootcmd) go to the trace like the client's.
    const env = new ObservedEnv(await UBootEnv.fromConfigFile(this.hs.fwEnvConfig, { observer: envWriteJournal }), this.envLayout(), this.o.bootBug === 'no-crc');
    let r: BootOutcome;
    try {
      r = await runBootScript(env, this.hs.bootVars, (s) => this.bootable(s), 4, this.o.bootBug === 'no-crc' ? null : this.o.bootBug);
    } catch (e) {
      r = { ok: false, slot: null, resets: 0, log: [], reason: `the bootloader could not read its env: ${e instanceof Error ? e.message : String(e)}` };
    }
    const root = r.ok ? this.hs.partPath(r.slot) : null;
    writeFileSync(this.hs.cmdline, root ? `console=ttyS0 root=${root} rootwait rw\n` : '');
    writeFileSync(join(this.hs.dir, 'proc', 'mounts'), root ? `${root} / ext4 rw,relatime 0 0\n` : '');
    return { ...r, envSeen: env.seen[0] ?? null };
  }

  private async bootable(slot: 'A' | 'B'): Promise<boolean> {
    return (await this.slotArtifact(slot)) !== null;
  }

  /** The artifact a slot's rootfs header names (null: damaged, blank or the broken-init rootfs). */
  async slotArtifact(slot: 'A' | 'B'): Promise<string | null> {
    const fd = openSync(this.hs.partPath(slot), 'r');
    try {
      const head = Buffer.alloc(256);
      readSync(fd, head, 0, head.length, 0);
      return HEADER.exec(head.toString('latin1'))?.[1] ?? null;
    } finally {
      closeSync(fd);
    }
  }

  /** Whether a slot holds exactly the image of `name` (not a torn or partly written copy). */
  async slotHolds(slot: 'A' | 'B', name: string): Promise<boolean> {
    const img = this.images.get(name);
    return !!img && readFileSync(this.hs.partPath(slot)).equals(img);
  }

  client(bundle: string, args: string[], onStderr?: (text: string) => void): Promise<ClientCall> {
    return callClient(bundle, ['--config', this.hs.configFile, ...args], onStderr);
  }

  /** Runs a flow from the base image with the trace hook on; returns the trace (paths relative to the board). */
  async record(flow: Flow, bundle: string, artifacts: Record<ArtifactRole, string>, traceFile: string): Promise<{ trace: Trace; log: string[] }> {
    await this.restore(this.base);
    await rm(traceFile, { force: true });
    await rm(`${traceFile}.data`, { force: true });
    await this.boot();
    const log: string[] = [];
    process.env.FLIPSIDE_TEST_TRACE = traceFile;
    // The exact-cut byte hook set past the end: the client then writes each payload chunk as it
    // arrives instead of 1 MiB batches, so every chunk boundary is a cut point.
    process.env.FLIPSIDE_TEST_KILL_AT_BYTE = String(Number.MAX_SAFE_INTEGER);
    try {
      for (const s of flow.steps) {
        traceOp({ op: 'mark', point: stepMark(s) });
        if (s.kind === 'boot') {
          const b = await this.boot();
          log.push(`power-on: ${b.ok ? `slot ${b.slot}` : `no boot: ${b.reason}`}`);
          if (!b.ok) break;
        } else if (s.kind === 'daemon') {
          throw new Error(`flow ${flow.name}: a managed flow is recorded by the worker's recordManaged`);
        } else {
          const r = await this.client(bundle, s.cmd === 'install' ? ['install', artifacts[s.artifact!]] : [s.cmd]);
          log.push(`flipside ${s.cmd}: exit ${r.code} ${r.stderr.trim().split('\n').at(-1) ?? ''}`);
        }
      }
    } finally {
      delete process.env.FLIPSIDE_TEST_TRACE;
      delete process.env.FLIPSIDE_TEST_KILL_AT_BYTE;
    }
    return { trace: existsSync(traceFile) ? readTrace(traceFile, this.hs.dir) : { ops: [], data: Buffer.alloc(0) }, log };
  }

  async destroy(): Promise<void> {
    await this.hs.destroy();
  }
}
