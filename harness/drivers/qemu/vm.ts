// One QEMU virtual machine per run: its own disk (a sparse copy or a qcow2 overlay, so runs never
// share state), the serial console on a unix socket, QMP for power, network and block stats.
// QEMU does not die with its parent, so each VM runs under a small sh watchdog that SIGKILLs it
// when our end of its stdin pipe closes (this process exited, even by SIGKILL), and an exit
// handler kills the process group as well.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { qemuOf, type BoardFile } from '../../../boards/schema.js';
import { StreamConsole } from '../../console/stream-console.js';
import { UnixSocketTransport } from '../../console/unix-transport.js';
import type { Console } from '../../types.js';
import { run } from '../../../qemu/image/exec.js';
import { QmpClient } from './qmp.js';
import { GUEST_NET } from '../../../qemu/image/guest-files.js';
import { VmConsole } from './vm-console.js';
import { processTempDir } from '../../run/temp-dir.js';

export interface QemuVmOptions {
  board: BoardFile;
  /** The built image; never written: the VM works on its own copy or overlay. */
  disk: string;
  /** Per-run folder: disk copy, sockets, pidfile, console transcript. */
  runDir: string;
  /** Host port of the server; the guest reaches it as http(s)://10.0.2.100:80. */
  serverPort?: number;
  /** true: a qcow2 overlay backed by `disk` (instant); false (default): a sparse raw copy. */
  snapshot?: boolean;
  /** Firmware instead of the board's qemu.bios (BuiltImage.qemuBios: U-Boot from the board's package). */
  bios?: string;
  /**
   * Record every guest write and flush to this file (QEMU's blklogwrites driver, dm-log-writes
   * format; a fresh log per power-on). Raw disks on a -device disk model only.
   */
  writeLog?: string;
}

export interface BlockStats {
  device: string;
  wrBytes: number;
  rdBytes: number;
  wrOperations: number;
  flushOperations: number;
}

/**
 * QEMU's arguments for a board (without the binary). The machine's own parts come from the board
 * file: firmware as -bios or -kernel, a -device disk or the SD slot (if=sd), an optional NIC, and
 * which -serial carries the console (the ones before it are null).
 */
export function qemuCommandLine(
  board: BoardFile,
  p: { disk: string; diskFormat: 'raw' | 'qcow2'; consoleSocket: string; qmpSocket: string; pidFile: string; serverPort?: number; bios?: string; writeLog?: string },
): string[] {
  const q = qemuOf(board);
  if (p.writeLog && (q.diskDevice === 'sd' || p.diskFormat !== 'raw')) throw new Error(`${board.name}: a write log needs a raw disk on a -device disk model`);
  const serials: string[] = [];
  for (let i = 0; i < q.consoleSerial; i++) serials.push('-serial', 'null');
  serials.push('-serial', 'chardev:con0');
  // The write log: blklogwrites between the device and the file; each guest flush is an entry of
  // the log (no-flush only spares the host's fdatasync, the entry is still written).
  const logged = (log: string) => [
    '-blockdev',
    `driver=blklogwrites,node-name=hd0,log-sector-size=512,log-append=off,file.driver=file,file.filename=${p.disk},file.cache.no-flush=on,log.driver=file,log.filename=${log},log.cache.no-flush=on`,
    '-device', `${q.diskDevice},drive=hd0`,
  ];
  const disk = p.writeLog
    ? logged(p.writeLog)
    : q.diskDevice === 'sd'
      ? ['-drive', `if=sd,id=hd0,file=${p.disk},format=${p.diskFormat},cache=unsafe`]
      : ['-drive', `if=none,file=${p.disk},format=${p.diskFormat},id=hd0,cache=unsafe`, '-device', `${q.diskDevice},drive=hd0`];
  const net: string[] = [];
  if (q.nicDevice) {
    const netdev = ['user', 'id=n0', 'restrict=on'];
    // One socat per guest connection, so the server may start after the VM (recipe).
    if (p.serverPort) netdev.push(`guestfwd=tcp:${GUEST_NET.server}:80-cmd:socat - TCP:127.0.0.1:${p.serverPort}`);
    net.push('-netdev', netdev.join(','), '-device', `${q.nicDevice},netdev=n0`);
  }
  return [
    ...q.machineArgs,
    '-m', String(q.memoryMiB),
    '-smp', String(q.smp),
    `-${q.firmwareArg}`, p.bios ?? q.bios,
    '-display', 'none',
    '-nodefaults',
    '-no-user-config',
    '-chardev', `socket,id=con0,path=${p.consoleSocket},server=on,wait=on`,
    ...serials,
    ...disk,
    ...net,
    '-qmp', `unix:${p.qmpSocket},server=on,wait=off`,
    '-pidfile', p.pidFile,
  ];
}

// For a deadline raced against QEMU's exit or its QMP reply: those keep the process alive while
// they are pending, and the deadline, never cancelled, must not hold it for seconds once they came.
const UNREF = { ref: false } as const;

/** sun_path holds 108 bytes with the NUL: QEMU refuses a longer socket path. */
const MAX_SOCKET_PATH = 107;

/**
 * Where a VM's console and QMP sockets go: its run folder, unless a deep checkout and a long
 * scenario name make those paths too long for a unix socket; then a short temp folder.
 */
export function socketDir(runDir: string): string {
  return Buffer.byteLength(join(runDir, 'console.sock')) <= MAX_SOCKET_PATH ? runDir : processTempDir('flipside-vm-');
}

const live = new Set<QemuVm>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const vm of live) vm.killNow();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.once(sig, () => {
      for (const vm of live) vm.killNow();
      process.kill(process.pid, sig);
    });
}

// Runs QEMU in the background and waits for either QEMU to exit or stdin to close; on stdin EOF
// (the Node process is gone) QEMU is killed at once.
// Background jobs get /dev/null as stdin in sh, hence the copy of our pipe on fd 3.
const WATCHDOG = `exec 3<&0
"$@" </dev/null 3<&- & q=$!
( cat <&3 >/dev/null; kill -9 $q 2>/dev/null ) &
wait $q; rc=$?
exit $rc`;

export class QemuVm {
  private readonly relay: VmConsole;
  /** Stays the same object across power cycles, so shells and listeners made once keep working. */
  readonly console: Console;
  private link: StreamConsole | null = null;
  private qmpClient: QmpClient | null = null;
  private proc: ChildProcess | null = null;
  private exited: Promise<number | null> = Promise.resolve(null);
  readonly diskPath: string;
  readonly consoleSocket: string;
  readonly qmpSocket: string;
  readonly pidFile: string;
  readonly transcriptFile: string;

  private constructor(private readonly opts: QemuVmOptions) {
    const dir = opts.runDir;
    this.diskPath = join(dir, opts.snapshot ? 'disk.qcow2' : 'disk.img');
    const sockets = socketDir(dir);
    this.consoleSocket = join(sockets, 'console.sock');
    this.qmpSocket = join(sockets, 'qmp.sock');
    this.pidFile = join(dir, 'qemu.pid');
    this.transcriptFile = join(dir, 'console.log');
    this.relay = new VmConsole(`${opts.board.name}:console`);
    this.console = this.relay;
  }

  get board(): BoardFile {
    return this.opts.board;
  }

  /** Prepares the run's disk and powers the machine on. */
  static async start(opts: QemuVmOptions): Promise<QemuVm> {
    const runDir = resolve(opts.runDir);
    mkdirSync(runDir, { recursive: true });
    const vm = new QemuVm({ ...opts, runDir });
    writeFileSync(vm.transcriptFile, ''); // the power cycles of this VM append to it
    rmSync(vm.diskPath, { force: true });
    if (opts.snapshot) await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', resolve(opts.disk), vm.diskPath]);
    else await run('cp', ['--sparse=always', '--reflink=auto', opts.disk, vm.diskPath]);
    await vm.powerOn();
    return vm;
  }

  /** The QEMU command line for this VM (exposed for logs and tests). */
  qemuArgs(): string[] {
    return qemuCommandLine(this.opts.board, {
      disk: this.diskPath,
      diskFormat: this.opts.snapshot ? 'qcow2' : 'raw',
      consoleSocket: this.consoleSocket,
      qmpSocket: this.qmpSocket,
      pidFile: this.pidFile,
      serverPort: this.opts.serverPort,
      bios: this.opts.bios,
      writeLog: this.opts.writeLog,
    });
  }

  get running(): boolean {
    return this.proc !== null;
  }

  /** Starts QEMU on the run's disk (again, after powerCut or quit); the transcript continues. */
  async powerOn(): Promise<void> {
    if (this.proc) return;
    const bios = this.opts.bios ?? qemuOf(this.opts.board).bios;
    if (!existsSync(bios)) throw new Error(`${this.opts.board.name}: firmware ${bios} not found (pass the image's qemuBios, or install its package)`);
    for (const f of [this.consoleSocket, this.qmpSocket, this.pidFile]) rmSync(f, { force: true });
    // QEMU opens the log, it does not create it; each power-on starts a fresh one (log-append=off).
    if (this.opts.writeLog) writeFileSync(this.opts.writeLog, '');
    installExitHook();
    const child = spawn('sh', ['-c', WATCHDOG, 'qemu-watchdog', qemuOf(this.opts.board).binary, ...this.qemuArgs()], {
      stdio: ['pipe', 'ignore', 'pipe'],
      detached: true,
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    this.proc = child;
    live.add(this);
    this.exited = new Promise((res) =>
      child.once('exit', (code) => {
        child.stdin?.end(); // lets the watchdog's reader finish
        if (this.proc === child) this.proc = null;
        live.delete(this);
        res(code);
      }),
    );
    const con = new StreamConsole(new UnixSocketTransport(this.consoleSocket), {
      name: this.console.name,
      charDelayMs: this.opts.board.console.charDelayMs,
      transcriptPath: this.transcriptFile,
      plainTranscriptFile: true,
      openWaitMs: 15_000,
    });
    this.link = con;
    this.relay.use(con);
    try {
      // The console socket waits for us (wait=on): QEMU starts the guest once we are connected,
      // so the transcript has U-Boot's first line.
      await Promise.race([
        con.open(),
        this.exited.then((c) => {
          throw new Error(`QEMU exited (${c}) at start: ${stderr.trim()}`);
        }),
      ]);
      this.qmpClient = await QmpClient.connect(this.qmpSocket, 15_000);
    } catch (e) {
      this.killNow();
      await con.close().catch(() => {});
      throw e;
    }
  }

  /** Runs a QMP command. */
  qmp<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (!this.qmpClient) return Promise.reject(new Error('QMP: the VM is off'));
    return this.qmpClient.execute<T>(command, args);
  }

  /** Network cable in or out (QMP set_link on the user-mode NIC). */
  async setLink(up: boolean): Promise<void> {
    if (!qemuOf(this.opts.board).nicDevice) throw new Error(`board ${this.opts.board.name} has no network in QEMU`);
    await this.qmp('set_link', { name: 'n0', up });
  }

  /** The reset button: reboot through the bootloader, with no shutdown in the guest. */
  async systemReset(): Promise<void> {
    await this.qmp('system_reset');
  }

  private qemuPid(): number | null {
    if (!existsSync(this.pidFile)) return null;
    const pid = Number(readFileSync(this.pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  }

  /** Power cut: SIGKILL QEMU. What QEMU already wrote stays on the disk (cache=unsafe keeps host-side writes). */
  async powerCut(): Promise<void> {
    const pid = this.qemuPid();
    if (pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await this.afterExit(5000);
  }

  /** Clean shutdown of the emulator (QMP quit), SIGKILL if it does not go. */
  async quit(): Promise<void> {
    if (!this.proc) return;
    try {
      await Promise.race([this.qmp('quit'), delay(3000, undefined, UNREF)]);
    } catch {
      /* the connection may close before the reply */
    }
    await this.afterExit(5000);
  }

  private async afterExit(graceMs: number): Promise<void> {
    const gone = await Promise.race([this.exited.then(() => true), delay(graceMs, undefined, UNREF).then(() => false)]);
    if (!gone) {
      this.killNow();
      await this.exited;
    }
    this.qmpClient?.close();
    this.qmpClient = null;
    await this.link?.close();
  }

  /** Synchronous last resort (exit handlers): kill QEMU and its watchdog's process group. */
  killNow(): void {
    const pid = this.qemuPid();
    for (const target of [pid, this.proc?.pid ? -this.proc.pid : null]) {
      if (!target) continue;
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }

  /** Bytes read and written by the guest on its disk since QEMU started. */
  async blockStats(): Promise<BlockStats> {
    type Raw = Array<{ device: string; qdev?: string; stats: Record<string, number> }>;
    const all = await this.qmp<Raw>('query-blockstats');
    const s = all.find((b) => b.device === 'hd0') ?? all[0];
    if (!s) throw new Error('query-blockstats: no block device');
    return {
      device: s.device || s.qdev || 'hd0',
      wrBytes: s.stats.wr_bytes ?? 0,
      rdBytes: s.stats.rd_bytes ?? 0,
      wrOperations: s.stats.wr_operations ?? 0,
      flushOperations: s.stats.flush_operations ?? 0,
    };
  }
}
