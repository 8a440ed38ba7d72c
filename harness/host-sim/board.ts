// host-sim: a simulated A/B board on the host. File-backed rootfs partitions A and B, a data
// directory, a redundant U-Boot env image named by an fw_env.config, a fake /proc/cmdline. boot()
// runs the U-Boot script's logic against the env and "starts" the chosen rootfs by writing its
// root= into the cmdline the client reads; runClient() runs the real client CLI as a child process,
// and a power cut is a SIGKILL of it (the FLIPSIDE_TEST_KILL_AT* hooks make the client do that to
// itself at an exact point).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { UBootEnv } from '../../bootenv/uboot-env.js';
import type { EnvVars } from '../../bootenv/types.js';
import { JsonStore } from '../../client/state/store.js';
import { parseStateLine } from '../../client/state/state-log.js';
import { runBootScript, type BootOutcome, type BootVarsSpec } from './boot-script.js';
import { clientCommand, type ClientRunner } from './client-bundle.js';
import { createEnvImage, fwEnvConfigText, type EnvLayout } from './env-image.js';
import { loadSimulatedBoardFile } from '../../boards/load.js';
import type { SimulatedBoardFile } from '../../boards/schema.js';
import { BOARDS_DIR } from '../../paths.js';

/** The simulated board the host-sim builds unless given another. */
export const HOST_SIM_BOARD_FILE = join(BOARDS_DIR, 'host-sim.yaml');

export function defaultSimulatedBoard(): SimulatedBoardFile {
  return loadSimulatedBoardFile(HOST_SIM_BOARD_FILE);
}

/** A rootfs whose first bytes are this does not boot (kernel panic in the simulation). */
export const BROKEN_ROOTFS_MAGIC = Buffer.from('FLIPSIDE-BROKEN-ROOTFS\n');

export interface HostSimOptions {
  /** Board description (default: boards/host-sim.yaml). */
  spec?: SimulatedBoardFile;
  /** Overrides the spec's rootfs partition size, in bytes. */
  partitionSize?: number;
  deviceType?: string;
  initialArtifact?: string;
  /** Extra keys merged into flipside.conf (ArtifactVerifyKey, ...). */
  config?: Record<string, unknown>;
  runner?: ClientRunner;
  /** Why a rootfs image does not boot (null: it boots); default: only the broken-rootfs magic fails. */
  bootCheck?: (image: string) => Promise<string | null>;
  /** A deliberately broken boot script (harness tests). */
  bootScriptBug?: 'no-bootcount' | null;
}

export interface ClientRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** States announced on FLIPSIDE-STATE lines, in order. */
  states: string[];
}

export class HostSimBoard {
  readonly partA: string;
  readonly partB: string;
  readonly envFile: string;
  readonly fwEnvConfig: string;
  readonly configFile: string;
  readonly cmdline: string;
  readonly dataDir: string;
  readonly consoleLog: string;
  readonly bootVars: BootVarsSpec;
  running: 'A' | 'B' | null = null;
  private envCache: UBootEnv | null = null;

  private constructor(
    readonly dir: string,
    readonly spec: SimulatedBoardFile,
    readonly opts: Required<Omit<HostSimOptions, 'config' | 'spec' | 'bootCheck' | 'bootScriptBug'>> & Pick<HostSimOptions, 'bootCheck' | 'bootScriptBug'> & { config: Record<string, unknown> },
  ) {
    this.partA = join(dir, spec.disk.rootfsA.file);
    this.partB = join(dir, spec.disk.rootfsB.file);
    this.envFile = join(dir, spec.env.file);
    this.fwEnvConfig = join(dir, 'etc', 'fw_env.config');
    this.configFile = join(dir, 'etc', 'flipside', 'flipside.conf');
    this.cmdline = join(dir, spec.client.cmdline);
    this.dataDir = join(dir, spec.disk.data.dir);
    this.consoleLog = join(dir, spec.client.consoleStateLog);
    const v = spec.bootloader.vars;
    this.bootVars = { ...v, valueA: spec.bootloader.values.A, valueB: spec.bootloader.values.B };
  }

  /** The env as the client sees it: through fw_env.config (re-read, since tests may rewrite it). */
  get env(): UBootEnv {
    if (!this.envCache) throw new Error('host-sim env not opened');
    return this.envCache;
  }

  async reopenEnv(): Promise<UBootEnv> {
    this.envCache = await UBootEnv.fromConfigFile(this.fwEnvConfig);
    return this.envCache;
  }

  static async create(options: HostSimOptions = {}): Promise<HostSimBoard> {
    const spec = options.spec ?? defaultSimulatedBoard();
    const dir = await mkdtemp(join(tmpdir(), 'flipside-hostsim-'));
    const opts = {
      partitionSize: options.partitionSize ?? spec.disk.rootfsA.sizeMiB * (1 << 20),
      deviceType: options.deviceType ?? spec.deviceType,
      initialArtifact: options.initialArtifact ?? 'release-0',
      runner: options.runner ?? spec.client.runner,
      config: options.config ?? {},
      bootCheck: options.bootCheck,
      bootScriptBug: options.bootScriptBug ?? null,
    };
    const board = new HostSimBoard(dir, spec, opts);
    for (const f of [board.partA, board.partB, board.envFile, board.fwEnvConfig, board.configFile, board.cmdline, board.consoleLog]) {
      await mkdir(dirname(f), { recursive: true });
    }
    await mkdir(board.dataDir, { recursive: true });
    const layout: EnvLayout = { file: board.envFile, offsets: spec.env.offsets, size: spec.env.size };
    await writeFile(board.fwEnvConfig, fwEnvConfigText(layout));
    await board.reopenEnv();
    // Slot A holds the factory rootfs, B is blank: like a freshly flashed disk image.
    await writeFile(board.partA, HostSimBoard.factoryImage(opts.partitionSize));
    await writeFile(board.partB, Buffer.alloc(opts.partitionSize));
    const v = board.bootVars;
    await createEnvImage(layout, {
      [v.bootPart]: v.valueA,
      [v.upgradeAvailable]: '0',
      [v.bootCount]: '0',
      [v.bootLimit]: String(spec.bootloader.bootlimit),
      altbootcmd: 'run mender_altbootcmd; run bootcmd',
    });
    await writeFile(join(board.dataDir, 'device_type'), `device_type=${opts.deviceType}\n`);
    await new JsonStore(board.dataDir).write('provides', { artifact_name: opts.initialArtifact });
    await board.writeConfig();
    return board;
  }

  /** Deterministic, non-zero content for the factory rootfs. */
  static factoryImage(size: number): Buffer {
    const b = Buffer.alloc(size);
    const line = Buffer.from('host-sim factory rootfs release-0\n');
    for (let o = 0; o < size; o += line.length) line.copy(b, o, 0, Math.min(line.length, size - o));
    return b;
  }

  async writeConfig(extra: Record<string, unknown> = {}): Promise<void> {
    const conf = {
      RootfsPartA: this.partA,
      RootfsPartB: this.partB,
      DataDir: this.dataDir,
      BootEnv: { type: 'uboot', fwEnvConfig: this.fwEnvConfig },
      ActivePartitionFrom: this.spec.client.activePartitionFrom,
      ProcCmdline: this.cmdline,
      MountTable: join(this.dir, 'proc', 'mounts'),
      BootVars: {
        BootPart: this.bootVars.bootPart,
        UpgradeAvailable: this.bootVars.upgradeAvailable,
        BootCount: this.bootVars.bootCount,
        ValueA: this.bootVars.valueA,
        ValueB: this.bootVars.valueB,
      },
      ConsoleStateLog: this.consoleLog,
      ScriptsDir: join(this.dir, 'etc', 'flipside', 'scripts'),
      RebootCommand: ['false'],
      ...this.opts.config,
      ...extra,
    };
    await writeFile(this.configFile, `${JSON.stringify(conf, null, 2)}\n`);
  }

  partPath(slot: 'A' | 'B'): string {
    return slot === 'A' ? this.partA : this.partB;
  }

  /** Why the last boot attempt of a slot failed, for the console. */
  bootFailure: string | null = null;

  private async bootable(slot: 'A' | 'B'): Promise<boolean> {
    if (this.opts.bootCheck) {
      this.bootFailure = await this.opts.bootCheck(this.partPath(slot));
      return this.bootFailure === null;
    }
    const fh = await open(this.partPath(slot), 'r');
    try {
      const head = Buffer.alloc(BROKEN_ROOTFS_MAGIC.length);
      await fh.read(head, 0, head.length, 0);
      return !head.equals(BROKEN_ROOTFS_MAGIC);
    } finally {
      await fh.close();
    }
  }

  /** Power on: the boot script runs against the env, then the chosen rootfs "runs". */
  async boot(): Promise<BootOutcome> {
    const r = await runBootScript(this.env, this.bootVars, (s) => this.bootable(s), 4, this.opts.bootScriptBug ?? null);
    this.running = r.ok ? r.slot : null;
    const root = r.ok ? this.partPath(r.slot) : null;
    await writeFile(this.cmdline, root ? `console=ttyS0 root=${root} rootwait rw\n` : '');
    await writeFile(join(this.dir, 'proc', 'mounts'), root ? `${root} / ext4 rw,relatime 0 0\n` : '');
    return r;
  }

  async readEnv(): Promise<EnvVars> {
    return this.env.read();
  }

  async provides(): Promise<Record<string, string>> {
    return JSON.parse(await readFile(join(this.dataDir, 'provides.json'), 'utf8')) as Record<string, string>;
  }

  async runClient(args: string[], o: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<ClientRun> {
    const [exe, ...pre] = await clientCommand(this.opts.runner);
    const child = spawn(exe!, [...pre, '--config', this.configFile, ...args], {
      env: { ...process.env, FLIPSIDE_TEST_KILL_AT: '', FLIPSIDE_TEST_KILL_AT_BYTE: '', ...o.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    clearTimeout(timer);
    const states = stdout
      .split('\n')
      .map(parseStateLine)
      .filter((l) => l !== null)
      .map((l) => l!.state);
    return { code, signal, stdout, stderr, states };
  }

  async destroy(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
