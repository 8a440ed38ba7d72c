// host-sim bound to the scenario engine: the same scenarios that run on QEMU run here in seconds.
// The "device" is a HostSimBoard (file-backed A/B partitions, a real redundant U-Boot env, the
// boot script's rules); its console is the lines the board model prints plus the client's output;
// its shell understands the commands scenarios and invariants send (`flipside …` runs the real
// client bundle, `fw_printenv`, `cat` of the files a device has). In managed scenarios the board
// runs `flipside daemon` as the image's init does, against the harness's server. Power cut =
// SIGKILL of the running client and daemon, and every write they never fsynced is lost; a power
// cut at a client state or payload byte is exact, through the client's test hooks
// (FLIPSIDE_TEST_KILL_AT / _AT_BYTE) instead of racing the console.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { copyFile, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { buildDeviceBundle } from '../../client/build-device.js';
import { parseStateLine } from '../../client/state/state-log.js';
import type { ArtifactRole, Board, BoardCaps, Capability, EnvCopies, LabVersions, ResetOptions } from '../board/board.js';
import { DEFAULT_VERSIONS, writeCorruptArtifact, writeSignedArtifacts, writeUnhealthyArtifact, writeWrongDeviceArtifact } from '../board/lab-artifacts.js';
import { LineConsole } from '../console/line-console.js';
import { BoardStrategy, literal } from '../strategy/board-strategy.js';
import type { Fault, Power, Shell, ShellResult } from '../types.js';
import { rootfsImage, writeRootfsArtifact } from './artifacts.js';
import { BROKEN_ROOTFS_MAGIC, defaultSimulatedBoard, HostSimBoard } from './board.js';
import type { SimulatedBoardFile } from '../../boards/schema.js';
import { configureDaemon, rebootMarker } from './daemon.js';
import { processTempDir } from '../run/temp-dir.js';

export const HOST_SIM_PROMPTS = { bootloader: 'U-Boot (host-sim)', shell: 'host-sim# ', clientReady: 'FLIPSIDE-STATE ' };

/** First bytes of a simulated rootfs: what `cat /etc/flipside/artifact_info` shows when it runs. */
export function rootfsHeader(artifactName: string): Buffer {
  return Buffer.from(`FLIPSIDE-HOSTSIM-ROOTFS artifact_name=${artifactName}\n`);
}

const HEADER = /^FLIPSIDE-HOSTSIM-ROOTFS artifact_name=(\S+)\n/;

/** What the first bytes of a simulated rootfs say: the broken-init magic, or the artifact it holds (null: damaged). */
async function readRootfsHead(image: string): Promise<{ broken: boolean; artifactName: string | null }> {
  const fh = await open(image, 'r');
  const head = Buffer.alloc(256);
  try {
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  return { broken: head.subarray(0, BROKEN_ROOTFS_MAGIC.length).equals(BROKEN_ROOTFS_MAGIC), artifactName: HEADER.exec(head.toString('latin1'))?.[1] ?? null };
}

/** Feeds a child's stdout and stderr to `onLine` a line at a time; the returned function flushes unterminated tails. */
function pipeLines(child: ChildProcess, onLine: (line: string) => void, onData: (chunk: string) => void = () => undefined): () => void {
  const carries = [child.stdout!, child.stderr!].map((stream) => {
    const carry = { rest: '' };
    stream.setEncoding('utf8').on('data', (d: string) => {
      onData(d);
      carry.rest += d;
      const parts = carry.rest.split('\n');
      carry.rest = parts.pop()!;
      parts.forEach(onLine);
    });
    return carry;
  });
  return () => carries.forEach((c) => c.rest && onLine(c.rest));
}

/** A whole partition image for `name`: the header, then seeded filler (so checksums differ per version). */
export function simRootfs(name: string, size: number, opts: { broken?: boolean } = {}): Buffer {
  const img = rootfsImage(name, size);
  (opts.broken ? BROKEN_ROOTFS_MAGIC : rootfsHeader(name)).copy(img, 0);
  return img;
}

interface ArmedHook {
  env: Record<string, string>;
  onInjected: () => void;
}

export class HostSimLabBoard implements Board {
  readonly caps: BoardCaps;
  readonly strategy: BoardStrategy;
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>(['power', 'console', 'shell', 'storage', 'bytes-written', 'server', 'exact-cuts', 'boot-console']);
  artifacts: Partial<Record<ArtifactRole, string>> = {};
  private readonly con = new LineConsole('host-sim:console');
  private sim: HostSimBoard | null = null;
  private bundle: string | null = null;
  private on = false;
  private child: ChildProcess | null = null;
  private cutByPower = false;
  private hooks = new Set<ArmedHook>();
  /** Managed mode: the server address the daemon uses, and the daemon as init would run it. */
  private serverUrl: string | null = null;
  private daemon: ChildProcess | null = null;
  private rebootWatch: NodeJS.Timeout | null = null;
  /** This scenario's console log (the report's raw log) and where its lines start in the transcript. */
  private runLog: { file: string; from: number } | null = null;
  private loadedSpec: SimulatedBoardFile | null = null;

  constructor(
    readonly versions: LabVersions = DEFAULT_VERSIONS,
    private readonly opts: {
      clientBundle?: string;
      spec?: SimulatedBoardFile;
      /** A deliberately broken boot script (harness tests that must see a scenario fail). */
      bootScriptBug?: 'no-bootcount';
    } = {},
  ) {
    const power: Power = {
      name: 'host-sim:power',
      on: () => this.powerOn(),
      cut: () => this.powerCut(),
      cycle: async () => {
        await this.powerCut();
        await this.powerOn();
      },
    };
    const shell: Shell = { run: (cmd, o) => this.run(cmd, o?.timeoutMs ?? 60_000) };
    // `reboot` typed on the console: no marker reply comes back, the board just boots again.
    this.con.onWrite = (text) => {
      if (!/\breboot\b/.test(text) || !this.on) return;
      if (/\bsync\b/.test(text)) this.syncAll();
      void this.powerOn();
    };
    this.caps = { console: this.con, shell, power, storage: { readEnv: async () => (await this.readEnvCopies()).vars } };
    const t = { bootloaderMs: 5_000, shellMs: 10_000, clientReadyMs: 10_000 };
    this.strategy = new BoardStrategy({
      power,
      console: this.con,
      prompts: { bootloader: literal(HOST_SIM_PROMPTS.bootloader), shell: literal(HOST_SIM_PROMPTS.shell), clientReady: literal(HOST_SIM_PROMPTS.clientReady) },
      timeouts: t,
    });
  }

  private get spec(): SimulatedBoardFile {
    return (this.loadedSpec ??= this.opts.spec ?? defaultSimulatedBoard());
  }

  get name(): string {
    return this.spec.name;
  }

  get rootfsBytes(): number {
    return this.spec.disk.rootfsA.sizeMiB * 2 ** 20;
  }

  private need(): HostSimBoard {
    if (!this.sim) throw new Error('host-sim: reset() was not called');
    return this.sim;
  }

  async prepare(log: (line: string) => void): Promise<void> {
    // Per board: parallel runs (jobs, test workers) never share a file being written.
    const dir = processTempDir('flipside-hostsim-lab-');
    this.bundle = this.opts.clientBundle ?? (await buildDeviceBundle(join(dir, 'flipside.cjs')));
    const size = this.rootfsBytes;
    const deviceTypes = [this.spec.deviceType];
    const t0 = Date.now();
    // Written every run: a few MiB, and never stale against a changed writer.
    const next = await writeRootfsArtifact(dir, this.versions.next, simRootfs(this.versions.next, size), { deviceTypes });
    const broken = await writeRootfsArtifact(dir, this.versions.broken, simRootfs(this.versions.broken, size, { broken: true }), { deviceTypes });
    const corrupt = join(dir, 'corrupt.mender');
    const wrong = join(dir, 'wrong-device.mender');
    await writeCorruptArtifact(corrupt, this.spec.deviceType, `${this.versions.next}-corrupt`);
    await writeWrongDeviceArtifact(wrong, `${this.versions.next}-other-device`);
    const unhealthy = join(dir, 'unhealthy.mender');
    await writeUnhealthyArtifact(unhealthy, { rootfs: simRootfs(`${this.versions.next}-unhealthy`, size), deviceType: this.spec.deviceType, name: `${this.versions.next}-unhealthy` });
    this.artifacts = { next, broken, corrupt, 'wrong-device': wrong, unhealthy, ...(await writeSignedArtifacts(dir, { next, deviceType: this.spec.deviceType, name: this.versions.next })) };
    log(`host-sim: client bundle ${this.bundle}, artifacts in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }

  async reset(opts: ResetOptions): Promise<void> {
    await this.release();
    const sim = await HostSimBoard.create({
      spec: this.spec,
      initialArtifact: this.versions.current,
      bootCheck: (image) => this.bootCheck(image),
      bootScriptBug: this.opts.bootScriptBug ?? null,
    });
    this.sim = sim;
    await writeFile(sim.partA, simRootfs(this.versions.current, this.rootfsBytes));
    mkdirSync(opts.runDir, { recursive: true });
    for (const [devicePath, src] of Object.entries(opts.dataFiles)) {
      const host = this.hostPath(devicePath);
      await mkdir(dirname(host), { recursive: true });
      if ('path' in src) await copyFile(src.path, host);
      else await writeFile(host, src.content);
    }
    this.serverUrl = opts.serverPort ? `http://127.0.0.1:${opts.serverPort}` : null;
    if (this.serverUrl) {
      // Short test intervals as the daemon tests use; a scenario's fallback config (DataDir) adds its own keys.
      await configureDaemon(sim, { serverUrl: this.serverUrl, identity: { mac: '02:00:00:00:00:01', serial: 'host-sim-1' } });
    }
    this.runLog = { file: join(opts.runDir, 'console.log'), from: this.con.transcript().length };
    this.on = false;
    this.strategy.poweredOff();
  }

  /** Device path → host path: /data is the board's data folder (the client's DataDir is /data/flipside). */
  private hostPath(devicePath: string): string {
    if (!devicePath.startsWith('/data/')) throw new Error(`host-sim: ${devicePath} is not on the data partition`);
    return join(dirname(this.need().dataDir), devicePath.slice('/data/'.length));
  }

  private emit(text: string): void {
    this.con.emit(text);
  }

  /** A rootfs boots when its header is intact (not the broken-init magic, not damaged by lost writes). */
  private async bootCheck(image: string): Promise<string | null> {
    const head = await readRootfsHead(image);
    const dev = image === this.need().partA ? this.deviceOf('A') : this.deviceOf('B');
    let reason: string | null = null;
    if (head.broken) reason = `Kernel panic - not syncing: Attempted to kill init! (${dev} holds the broken-init rootfs)`;
    else if (head.artifactName === null) reason = `VFS: Unable to mount root fs on ${dev}: no valid rootfs header (damaged or never written)`;
    if (reason) this.emit(reason);
    return reason;
  }

  private get journal(): string {
    return join(this.need().dir, 'write-journal');
  }

  /** `sync`: everything the client wrote is on the disk. */
  private syncAll(): void {
    if (this.sim) rmSync(this.journal, { force: true });
  }

  /**
   * The page cache dies with the power: every partition or env write the client made and never
   * fsynced is lost (filled with a marker, so a checksum or a boot notices), as the harshest disk
   * would do. The journal comes from the client's FLIPSIDE_TEST_WRITE_JOURNAL hook.
   */
  private async dropUnsyncedWrites(): Promise<void> {
    if (!this.sim) return;
    let text: string;
    try {
      text = await readFile(this.journal, 'utf8');
    } catch {
      return;
    }
    rmSync(this.journal, { force: true });
    const pending = new Map<string, { offset: number; length: number }[]>();
    for (const line of text.split('\n')) {
      const m = /^([ws]) (\d+) (\d+) (.+)$/.exec(line);
      if (!m) continue;
      const path = m[4]!;
      if (m[1] === 's') pending.delete(path);
      else pending.set(path, [...(pending.get(path) ?? []), { offset: Number(m[2]), length: Number(m[3]) }]);
    }
    const marker = Buffer.from('FLIPSIDE-LOST-WRITE ');
    for (const [path, ranges] of pending) {
      const fh = await open(path, 'r+');
      let lost = 0;
      try {
        for (const r of ranges) {
          const fill = Buffer.alloc(r.length);
          for (let o = 0; o < fill.length; o += marker.length) marker.copy(fill, o, 0, Math.min(marker.length, fill.length - o));
          await fh.write(fill, 0, fill.length, r.offset);
          lost += r.length;
        }
      } finally {
        await fh.close();
      }
      const lo = Math.min(...ranges.map((r) => r.offset));
      const hi = Math.max(...ranges.map((r) => r.offset + r.length));
      this.emit(`[host-sim] power cut: ${lost} bytes written to ${path.slice(this.sim.dir.length + 1)} (offsets ${lo}–${hi}) were never fsynced and are lost`);
    }
  }

  /** The boot in progress: shell commands and release() wait for it, so nothing runs against a board mid-boot. */
  private booting: Promise<void> | null = null;

  private powerOn(): Promise<void> {
    const sim = this.need();
    this.on = false;
    this.con.discardUnread();
    const boot = (this.booting ?? Promise.resolve()).then(() => this.bootNow(sim));
    this.booting = boot;
    void boot.finally(() => {
      if (this.booting === boot) this.booting = null;
    });
    return boot;
  }

  private async bootNow(sim: HostSimBoard): Promise<void> {
    if (this.sim !== sim) return; // released meanwhile
    await this.powerCut();
    this.on = true;
    this.emit(`${HOST_SIM_PROMPTS.bootloader} boot script (bootlimit ${this.spec.bootloader.bootlimit})`);
    const r = await sim.boot();
    for (const l of r.log) this.emit(`boot: ${l}`);
    if (!r.ok) {
      // No shell comes: the strategy's stage timeout names the hang, as on a board that panics.
      this.emit(`Kernel panic - not syncing: ${r.reason}`);
      return;
    }
    const slot = r.slot;
    const name = await this.runningArtifact();
    this.emit(`flipside: init root=${this.deviceOf(slot)} artifact_name=${name ?? '?'}`);
    if (this.serverUrl && !existsSync(join(sim.dataDir, 'client.disabled'))) {
      this.emit('flipside: starting client');
      this.startDaemon();
    }
    this.emit(HOST_SIM_PROMPTS.shell);
  }

  /** `flipside daemon` as the image's init starts it; its RebootCommand drops a marker this board turns into a reboot. */
  private startDaemon(): void {
    // Short backoff and report intervals, as the daemon tests use: a run takes seconds, not minutes.
    const child = this.spawnClient(['daemon'], { FLIPSIDE_TEST_BACKOFF_UNIT_MS: '200', FLIPSIDE_TEST_REPORT_INTERVAL_MS: '300' });
    this.daemon = child;
    pipeLines(child, (l) => this.emit(l));
    child.once('close', (code, signal) => {
      if (this.daemon === child) this.daemon = null;
      if (signal !== 'SIGKILL') this.emit(`flipside: client exited with status ${code ?? signal}`);
    });
    this.rebootWatch ??= setInterval(() => {
      if (!this.sim || !existsSync(rebootMarker(this.sim))) return;
      rmSync(rebootMarker(this.sim), { force: true });
      this.emit('reboot: Restarting system');
      // `reboot` syncs first: the page cache reaches the disk.
      this.syncAll();
      void this.powerOn().catch((e) => this.emit(`[host-sim] reboot failed: ${(e as Error).message}`));
    }, 50);
  }

  private async stopDaemon(): Promise<void> {
    const d = this.daemon;
    this.daemon = null;
    if (!d || d.exitCode !== null || d.signalCode !== null) return;
    await new Promise<void>((r) => {
      d.once('close', () => r());
      d.kill('SIGKILL');
    });
  }

  private async powerCut(): Promise<void> {
    const hadDaemon = !!this.daemon;
    await this.stopDaemon();
    const child = this.child;
    if (child) {
      this.cutByPower = true;
      child.kill('SIGKILL');
      // Its writes must have stopped before the lost ones are dropped.
      if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
    }
    const wasOn = this.on;
    this.on = false;
    if (this.sim) this.sim.running = null;
    if (wasOn || child || hadDaemon) await this.dropUnsyncedWrites();
  }

  private deviceOf(slot: 'A' | 'B'): string {
    return `/dev/simblk${this.need().bootVars[slot === 'A' ? 'valueA' : 'valueB']}`;
  }

  private async runningArtifact(): Promise<string | null> {
    const sim = this.need();
    return sim.running ? (await readRootfsHead(sim.partPath(sim.running))).artifactName : null;
  }

  armFault(fault: Fault, onInjected: () => void): { dispose(): void } | null {
    if (fault.kind !== 'power-cut') return null;
    let env: Record<string, string>;
    if (fault.at.on === 'state' && (fault.at.nth ?? 1) === 1) env = { FLIPSIDE_TEST_KILL_AT: fault.at.state };
    else if (fault.at.on === 'bytes-written') env = { FLIPSIDE_TEST_KILL_AT_BYTE: String(fault.at.bytes) };
    else return null;
    const hook: ArmedHook = { env, onInjected };
    this.hooks.add(hook);
    return { dispose: () => this.hooks.delete(hook) };
  }

  private async run(command: string, timeoutMs: number): Promise<ShellResult> {
    await this.booting?.catch(() => undefined);
    if (!this.on) throw new Error(`host-sim: the board is off (command: ${command})`);
    const [cmd, ...args] = command.replace(/^sync;\s*/, '').trim().split(/\s+/);
    switch (cmd) {
      case 'flipside':
        return this.runClient(args, timeoutMs);
      case 'fw_printenv':
        return this.fwPrintenv(args);
      case 'cat':
        return this.cat(args);
      case 'sync':
        this.syncAll();
        return { stdout: '', code: 0 };
      case 'true':
        return { stdout: '', code: 0 };
      default:
        return { stdout: `sh: ${cmd}: not found in the host-sim shell\n`, code: 127 };
    }
  }

  private async fwPrintenv(names: string[]): Promise<ShellResult> {
    const vars = await this.need().readEnv();
    if (names.length === 0) return { stdout: Object.entries(vars).map(([k, v]) => `${k}=${v}\n`).join(''), code: 0 };
    let out = '';
    let code = 0;
    for (const n of names) {
      if (vars[n] === undefined) {
        out += `## Error: "${n}" not defined\n`;
        code = 1;
      } else out += `${n}=${vars[n]}\n`;
    }
    return { stdout: out, code };
  }

  private async cat(paths: string[]): Promise<ShellResult> {
    let out = '';
    for (const p of paths) {
      if (p === '/etc/flipside/artifact_info') {
        const name = await this.runningArtifact();
        if (name === null) return { stdout: `${out}cat: ${p}: No such file or directory\n`, code: 1 };
        out += `artifact_name=${name}\n`;
      } else if (p === '/proc/cmdline') {
        const slot = this.need().running;
        out += `console=ttyS0 root=${slot ? this.deviceOf(slot) : ''} rootwait rw\n`;
      } else if (p.startsWith('/data/')) {
        try {
          out += await readFile(this.hostPath(p), 'utf8');
        } catch {
          return { stdout: `${out}cat: ${p}: No such file or directory\n`, code: 1 };
        }
      } else return { stdout: `${out}cat: ${p}: not simulated on host-sim\n`, code: 1 };
    }
    return { stdout: out, code: 0 };
  }

  /** The device bundle with the board's config; every write it makes is journalled for the lost-writes model. */
  private spawnClient(args: string[], env: Record<string, string>): ChildProcess {
    const sim = this.need();
    if (!this.bundle) throw new Error('host-sim: prepare() was not called');
    return spawn(process.execPath, [this.bundle, '--config', sim.configFile, ...args], {
      env: { ...process.env, FLIPSIDE_TEST_KILL_AT: '', FLIPSIDE_TEST_KILL_AT_BYTE: '', FLIPSIDE_TEST_WRITE_JOURNAL: this.journal, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  /** The real client on the simulated device; its output goes to the console line by line (state lines trigger faults). */
  private async runClient(args: string[], timeoutMs: number): Promise<ShellResult> {
    const sim = this.need();
    const hookEnv: Record<string, string> = {};
    for (const h of this.hooks) Object.assign(hookEnv, h.env);
    const hostArgs = args.map((a) => (a.startsWith('/data/') ? this.hostPath(a) : a));
    const child = this.spawnClient(hostArgs, hookEnv);
    this.child = child;
    this.cutByPower = false;
    let out = '';
    const flush = pipeLines(child, (l) => this.emit(l), (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) => child.on('close', (c, s) => res([c, s])));
    clearTimeout(timer);
    this.child = null;
    flush();
    if (signal === 'SIGKILL' && !this.cutByPower && Object.keys(hookEnv).length > 0) {
      // The client cut its own power at the armed point: the board is off from here.
      const states = out.split('\n').map(parseStateLine).filter((l) => l !== null);
      this.emit(`[host-sim] power cut at ${JSON.stringify(hookEnv)} (last state ${states.at(-1)?.state ?? 'none'})`);
      this.on = false;
      sim.running = null;
      await this.dropUnsyncedWrites();
      for (const h of this.hooks) h.onInjected();
      this.hooks.clear();
    }
    return { stdout: out, code: code ?? 128 + 9 };
  }

  async readEnvCopies(): Promise<EnvCopies> {
    const sim = this.need();
    const env = await sim.reopenEnv();
    const state = await env.inspect();
    const vars = state.current === null ? {} : await env.read();
    return { current: state.current, copies: state.copies.map((c) => ({ offset: c.offset, crcOk: c.crcOk, flag: c.flag })), vars };
  }

  async release(): Promise<string[]> {
    await this.booting?.catch(() => undefined);
    await this.powerCut();
    if (this.rebootWatch) clearInterval(this.rebootWatch);
    this.rebootWatch = null;
    this.serverUrl = null;
    this.hooks.clear();
    const sim = this.sim;
    this.sim = null;
    if (sim) await rm(sim.dir, { recursive: true, force: true });
    const log = this.runLog;
    this.runLog = null;
    if (!log) return [];
    const lines = this.con.transcript().slice(log.from);
    writeFileSync(log.file, lines.map((l) => `${new Date(l.t).toISOString()} ${l.text}\n`).join(''));
    return [log.file];
  }
}
