// The managed client on a host-sim board: `flipside daemon` as a real child process. The board's
// RebootCommand drops a marker file; this runner sees it, "reboots" the board (SIGKILL of the
// daemon, boot() runs the U-Boot logic, the daemon starts again and resumes from its store), as
// systemd would restart the service after a real reboot. kill() is a power cut of the client.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseStateLine } from '../../client/state/state-log.js';
import type { HostSimBoard } from './board.js';
import { clientCommand } from './client-bundle.js';

export interface DaemonBoardOptions {
  serverUrl: string;
  /** Identity of the board (mac, serial): distinct per board. */
  identity: Record<string, string>;
  /** Extra flipside.conf keys (intervals default to 1 s). */
  config?: Record<string, unknown>;
  /** Extra environment (FLIPSIDE_TEST_KILL_AT ... for the first start only, see start()). */
  env?: Record<string, string>;
}

/** Sets the board's config up for the daemon: server, 1 s polls, identity script, reboot marker. */
export async function configureDaemon(b: HostSimBoard, o: DaemonBoardOptions): Promise<void> {
  const identityScript = join(b.dir, 'etc', 'flipside', 'identity');
  const lines = Object.entries(o.identity).map(([k, v]) => `echo '${k}=${v}'`);
  await writeFile(identityScript, `#!/bin/sh\n${lines.join('\n')}\n`);
  await chmod(identityScript, 0o755);
  await b.writeConfig({
    ServerURL: o.serverUrl,
    UpdatePollIntervalSeconds: 1,
    InventoryPollIntervalSeconds: 1,
    RetryPollIntervalSeconds: 1,
    IdentityScript: identityScript,
    InventoryScriptsDir: join(b.dir, 'inventory'),
    CommitStatusTimeoutSeconds: 3,
    // Cuts end a connection at once (FIN); a short stall timeout would only add a wall-clock margin.
    DownloadStallTimeoutSeconds: 30,
    RebootCommand: [process.execPath, '-e', 'require("fs").writeFileSync(process.argv[1], "")', rebootMarker(b)],
    ...o.config,
  });
}

export function rebootMarker(b: HostSimBoard): string {
  return join(b.dir, 'reboot-requested');
}

const BUSY_MACHINE_FACTOR = 3;

export class DaemonRunner {
  child: ChildProcess | null = null;
  stdout = '';
  stderr = '';
  states: string[] = [];
  reboots = 0;
  starts = 0;
  private watch: NodeJS.Timeout | null = null;
  private rebooting = false;
  private once: Record<string, string> = {};
  private stopped = false;
  private readonly all = new Set<ChildProcess>();
  private readonly ourKills = new WeakSet<ChildProcess>();
  /** Daemon processes that died of SIGKILL not sent by this runner (a FLIPSIDE_TEST_KILL_AT point). */
  selfKills = 0;

  constructor(
    readonly board: HostSimBoard,
    private readonly env: Record<string, string> = {},
  ) {}

  /** Extra env for the next start only (also a start after a reboot), e.g. FLIPSIDE_TEST_KILL_AT. */
  armNextStart(env: Record<string, string>): void {
    this.once = env;
  }

  /** Starts the daemon (extra env for this start only, e.g. a kill point). */
  async start(env: Record<string, string> = {}): Promise<void> {
    if (this.stopped) throw new Error('DaemonRunner was stopped');
    const once = this.once;
    this.once = {};
    const [exe, ...pre] = await clientCommand(this.board.opts.runner);
    this.starts++;
    const child = spawn(exe!, [...pre, '--config', this.board.configFile, 'daemon'], {
      env: {
        ...process.env,
        FLIPSIDE_TEST_KILL_AT: '',
        FLIPSIDE_TEST_KILL_AT_BYTE: '',
        FLIPSIDE_TEST_BACKOFF_UNIT_MS: '200',
        FLIPSIDE_TEST_REPORT_INTERVAL_MS: '300',
        ...this.env,
        ...once,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.all.add(child);
    child.once('close', (_code, signal) => {
      this.all.delete(child);
      if (signal === 'SIGKILL' && !this.ourKills.has(child)) this.selfKills++;
    });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      for (const l of d.split('\n')) {
        const s = parseStateLine(l);
        if (s) this.states.push(s.state);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.watch ??= setInterval(() => void this.checkReboot(), 50);
  }

  get exited(): boolean {
    return !this.child || this.child.exitCode !== null || this.child.signalCode !== null;
  }

  private async checkReboot(): Promise<void> {
    if (this.rebooting || this.stopped) return;
    this.rebooting = true;
    const st = await stat(rebootMarker(this.board)).catch(() => null);
    if (!st) {
      this.rebooting = false;
      return;
    }
    try {
      await this.kill();
      await rm(rebootMarker(this.board), { force: true });
      await this.board.boot();
      this.reboots++;
      if (!this.stopped) await this.start();
    } finally {
      this.rebooting = false;
    }
  }

  /** SIGKILL (power cut of the client process); resolves when it is gone. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    this.ourKills.add(c);
    await new Promise<void>((resolve) => {
      c.once('close', () => resolve());
      c.kill('SIGKILL');
    });
  }

  /** Stops watching for reboots and kills the daemon. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.watch) clearInterval(this.watch);
    this.watch = null;
    while (this.rebooting) await new Promise((r) => setTimeout(r, 20));
    await this.kill();
    // Any process still alive (a start racing a reboot): no orphan outlives the test.
    await Promise.all(
      [...this.all].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            this.ourKills.add(c);
            c.once('close', () => resolve());
            c.kill('SIGKILL');
          }),
      ),
    );
  }

  /**
   * Waits until `pred` holds (polled), or throws with the daemon's output. `timeoutMs` is what the
   * step takes on a quiet machine with room to spare; the deadline is three times that, so a busy
   * machine (load 20 on two cores) only makes the wait longer. A deadline only says when to give
   * up: nothing is judged by how long a step took.
   */
  async until(pred: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = 'condition'): Promise<void> {
    const end = Date.now() + timeoutMs * BUSY_MACHINE_FACTOR;
    while (!(await pred())) {
      if (Date.now() > end) {
        // Poll failures repeat while a link is down: keep the lines that tell the story.
        const story = this.stderr.split('\n').filter((l) => !/(update check|inventory update|authorization) failed/.test(l));
        throw new Error(`timed out waiting for ${what}\n--- daemon stderr (poll failures left out) ---\n${story.join('\n').slice(-6000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
