// An in-memory A/B board for fast tests of the strategy, the runner and the invariants: it boots
// by printing the same stage lines a QEMU board prints (applying the U-Boot script's bootcount
// rule), and its shell understands the handful of commands the invariants and simple scenarios
// send. Not a device simulation (host-sim is that): just enough behaviour to make checks fail
// when they should.
import { LineConsole } from '../console/line-console.js';
import { BoardStrategy, literal } from '../strategy/board-strategy.js';
import type { BoardState, Console, ConsoleLine, Power, Shell, ShellResult } from '../types.js';
import type { ArtifactRole, Board, BoardCaps, Capability, EnvCopies, LabVersions, ResetOptions } from './board.js';
import type { ClientKind } from '../scenario/client.js';

export const FAKE_PROMPTS = { bootloader: 'U-Boot ', shell: 'fake-shell# ', clientReady: 'FLIPSIDE-STATE ' };

export interface FakeBoardOptions {
  /** A boot stage whose line never comes (timeout tests). */
  hangAt?: Exclude<BoardState, 'off'>;
  capabilities?: Capability[];
  versions?: LabVersions;
  /** Per-stage timeout, short for tests. */
  stageTimeoutMs?: number;
  /** Honour FLIPSIDE_TEST_HOLD_AT(_BYTE) on `flipside install` as the real client does (held cuts). */
  holdsForCuts?: boolean;
  /** Where the runner must start the managed scenarios' fault proxy. */
  serverListen?: { host: string; port: number };
  /** The client under test the board says it carries (its shell still speaks flipside). */
  client?: ClientKind;
}

export class FakeBoard implements Board {
  readonly name = 'fake';
  readonly caps: BoardCaps;
  readonly strategy: BoardStrategy;
  readonly capabilities: ReadonlySet<Capability>;
  readonly versions: LabVersions;
  readonly artifacts: Partial<Record<ArtifactRole, string>> = { next: '/host/next.mender' };
  readonly con = new LineConsole('fake:console');
  /** The device: env, slot contents, data files, and the running slot ('' when off). */
  env: Record<string, string> = {};
  slots: Record<string, string> = {};
  data = new Map<string, string>();
  running = '';
  committedProvides = '';
  envCorrupt = false;
  poweredOn = false;
  commands: string[] = [];
  readonly holdsForCuts: boolean;
  readonly serverListen?: { host: string; port: number };
  readonly client?: ClientKind;

  constructor(private readonly o: FakeBoardOptions = {}) {
    if (o.client) this.client = o.client;
    this.holdsForCuts = o.holdsForCuts ?? false;
    if (o.serverListen) this.serverListen = o.serverListen;
    this.versions = o.versions ?? { current: 'v1', next: 'v2', broken: 'v2-broken' };
    this.capabilities = new Set(o.capabilities ?? ['power', 'console', 'shell', 'storage', 'boot-console']);
    const power: Power = {
      name: 'fake:power',
      on: async () => this.boot(),
      cut: async () => {
        this.poweredOn = false;
        this.running = '';
      },
      cycle: async () => {
        this.poweredOn = false;
        await this.boot();
      },
    };
    const shell: Shell = { run: (cmd) => this.sh(cmd) };
    this.con.onWrite = (text) => {
      if (/\breboot\b/.test(text) && this.poweredOn) void this.sh('reboot');
    };
    this.caps = { console: this.con, shell, power, storage: { readEnv: async () => (await this.readEnvCopies()).vars } };
    const ms = o.stageTimeoutMs ?? 200;
    this.strategy = new BoardStrategy({
      power,
      console: this.con,
      prompts: { bootloader: literal(FAKE_PROMPTS.bootloader), shell: literal(FAKE_PROMPTS.shell), clientReady: literal(FAKE_PROMPTS.clientReady) },
      timeouts: { bootloaderMs: ms, shellMs: ms, clientReadyMs: ms },
    });
  }

  async prepare(): Promise<void> {}

  async reset(opts: ResetOptions): Promise<void> {
    this.env = { boot_part: '2', upgrade_available: '0', bootcount: '0', bootlimit: '1' };
    this.slots = { '2': this.versions.current, '3': '' };
    this.committedProvides = this.versions.current;
    this.data = new Map(Object.entries(opts.dataFiles).map(([k, v]) => [k, 'content' in v ? v.content.toString('utf8') : `<file ${v.path}>`]));
    this.running = '';
    this.poweredOn = false;
    this.envCorrupt = false;
    this.strategy.poweredOff();
  }

  async release(): Promise<string[]> {
    this.poweredOn = false;
    return [];
  }

  async readEnvCopies(): Promise<EnvCopies> {
    if (this.poweredOn) throw new Error('fake: power the board off to read the env offline');
    return { current: this.envCorrupt ? null : 0, copies: [{ offset: 0, crcOk: !this.envCorrupt, flag: 1 }, { offset: 0x4000, crcOk: !this.envCorrupt, flag: 0 }], vars: { ...this.env } };
  }

  private boot(): void {
    this.poweredOn = true;
    const hang = this.o.hangAt;
    setImmediate(() => {
      if (hang === 'bootloader') return;
      this.con.emit('U-Boot 2023.01 (fake)');
      if (this.env.upgrade_available === '1') {
        this.env.bootcount = String(Number(this.env.bootcount) + 1);
        if (Number(this.env.bootcount) > Number(this.env.bootlimit)) {
          this.env.boot_part = this.env.boot_part === '2' ? '3' : '2';
          this.env.upgrade_available = '0';
          this.env.bootcount = '0';
        }
      }
      this.running = this.env.boot_part!;
      if (hang === 'shell') return;
      this.con.emit(`flipside: init root=/dev/vda${this.running} artifact_name=${this.slots[this.running]}`);
      this.con.emit(FAKE_PROMPTS.shell);
      if (hang !== 'client-ready') this.con.emit('FLIPSIDE-STATE {"state":"Idle","deployment":null,"t":1}');
    });
  }

  private async sh(typed: string): Promise<ShellResult> {
    if (!this.poweredOn) throw new Error('fake: shell while the board is off');
    this.commands.push(typed);
    const hook = this.holdsForCuts ? /^FLIPSIDE_TEST_HOLD_AT(_BYTE)?=(\S+) (.*)$/.exec(typed) : null;
    const cmd = hook ? hook[3]! : typed;
    const holdAt = hook ? (hook[1] ? `byte ${hook[2]}` : hook[2]) : null;
    // The client stops at the point, announces it, and the command never returns: the cut ends it.
    const held = (point: string) => (holdAt === point ? (this.con.emit(`FLIPSIDE-HOLD ${point}`), true) : false);
    const never = new Promise<ShellResult>(() => undefined);
    const ok = (stdout = ''): ShellResult => ({ stdout, code: 0 });
    if (cmd === 'cat /proc/cmdline') return ok(`console=ttyAMA0 root=/dev/vda${this.running} ro\n`);
    if (cmd.startsWith('fw_printenv')) {
      const names = cmd.split(/\s+/).slice(1);
      return ok(Object.entries(this.env).filter(([k]) => names.length === 0 || names.includes(k)).map(([k, v]) => `${k}=${v}\n`).join(''));
    }
    if (cmd.startsWith('flipside show-artifact')) return ok(`${this.committedProvides}\n`);
    if (cmd === 'flipside --version') return ok('0.0.0-fake\n');
    if (cmd === 'cat /etc/flipside/artifact_info') return ok(`artifact_name=${this.slots[this.running]}\n`);
    const cat = /^cat (\S+)/.exec(cmd);
    if (cat) return this.data.has(cat[1]!) ? ok(this.data.get(cat[1]!)) : { stdout: 'No such file', code: 1 };
    const install = /^flipside install (\S+)/.exec(cmd);
    if (install) {
      if (!this.data.has(install[1]!)) return { stdout: 'no such file', code: 1 };
      const other = this.running === '2' ? '3' : '2';
      this.con.emit('FLIPSIDE-STATE {"state":"Download","deployment":"d1","t":2}');
      if (held('Download')) return never;
      // Any byte offset lands mid-write in the fake: the slot is left half written.
      if (holdAt?.startsWith('byte ') && held(holdAt)) return ((this.slots[other] = `${this.versions.next} (partial)`), never);
      this.slots[other] = this.versions.next;
      this.con.emit('FLIPSIDE-STATE {"state":"ArtifactInstall","deployment":"d1","t":3}');
      if (held('ArtifactInstall')) return never;
      Object.assign(this.env, { boot_part: other, upgrade_available: '1', bootcount: '0' });
      this.con.emit('FLIPSIDE-STATE {"state":"ArtifactReboot","deployment":"d1","t":4}');
      if (held('ArtifactReboot')) return never;
      return ok();
    }
    if (cmd.startsWith('flipside commit')) {
      if (this.env.upgrade_available !== '1' || this.env.boot_part !== this.running) return { stdout: 'refusing to commit', code: 1 };
      this.env.upgrade_available = '0';
      this.committedProvides = this.slots[this.running]!;
      return ok();
    }
    if (cmd.startsWith('reboot')) {
      this.poweredOn = false;
      setImmediate(() => this.boot());
      return ok();
    }
    return { stdout: `fake: unknown command ${cmd}`, code: 127 };
  }
}
