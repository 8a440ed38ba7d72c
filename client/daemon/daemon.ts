// `flipside daemon`: the managed loop as Mender's client runs it.
//   start: a stored deployment continues first (after the reboot into the update, or a power
//   loss), then bootstrap (device key), authorize (pending: retried with Mender's backoff capped at
//   RetryPollIntervalSeconds), inventory (start + InventoryPollIntervalSeconds, skipped when
//   unchanged), update check (start + UpdatePollIntervalSeconds, v2 → v1 fallback, 409/429 +
//   Retry-After honoured, failures backed off), queued final statuses flushed every cycle.
//   A deployment: the server link streams through downloadWithResume straight into the state
//   machine (no temp file); the machine reports downloading / installing / rebooting, reboots
//   (RebootCommand) and after the restart confirms `installing` before committing.
//   SIGUSR1 = check for an update now, SIGUSR2 = send the inventory now (Mender's signals);
//   SIGTERM / SIGINT stop between steps.
import { writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApiClient } from '../api/client.js';
import { checkUpdate, RetryLater } from '../api/deployments.js';
import { downloadWithResume } from '../api/download.js';
import { DownloadError, NotAuthorized } from '../api/errors.js';
import { openSpooled } from '../download-spool.js';
import type { Readable } from 'node:stream';
import { apiSettings, createApiClient, type ApiSettings } from '../api/from-config.js';
import { PollSchedule, backoffDelayMs, DEFAULT_RETRY_POLL_SECONDS, type PollTask } from '../api/poll.js';
import type { ClientConfig } from '../config.js';
import { readDeviceType } from '../config.js';
import { createMachine } from '../device.js';
import { errorMessage } from '../errors.js';
import { bootstrap } from '../identity/bootstrap.js';
import { identityJson, readIdentity } from '../identity/identity.js';
import { collectInventory } from '../inventory/collect.js';
import { InventorySender } from '../inventory/send.js';
import type { UpdateMachine } from '../state/machine.js';
import type { ArtifactSource, DeploymentOffer, RunResult } from '../state/types.js';
import { ServerReporter } from './reporter.js';
import { DeviceConnect } from '../connect/device-connect.js';
import { configureSafely } from '../configure/apply.js';

export const PID_FILE = 'flipside.pid';

export interface DaemonOptions {
  log: (line: string) => void;
  /** Replaces RebootCommand (in-process tests). */
  reboot?: () => Promise<void>;
  /** Backoff unit (Mender: one minute); tests make it small. */
  backoffUnitMs?: number;
  /** Interval of confirm() retries and of the `downloading` keep-alive during a download. */
  reportIntervalMs?: number;
}

export function pidFileOf(config: ClientConfig): string {
  return config.PidFile ?? join(config.DataDir, PID_FILE);
}

/** A wake-up that can be triggered before a timer expires; once closed, nothing sleeps. */
class Waker {
  private wake: (() => void) | null = null;
  private closed = false;
  sleep(ms: number): Promise<void> {
    // A stop that came while the loop awaited something else (a flush, a request) is not lost.
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(t);
        if (self.wake === done) self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }
  poke(): void {
    this.wake?.();
  }
  close(): void {
    this.closed = true;
    this.poke();
  }
}

export class Daemon {
  private stopping = false;
  private readonly waker = new Waker();
  private api!: ApiClient;
  private settings!: ApiSettings;
  private ca: string[] | undefined;
  private machine!: UpdateMachine;
  private reporter!: ServerReporter;
  private inventory!: InventorySender;
  private schedule!: PollSchedule;
  private authFailures = 0;
  private reauthenticated = false;
  /** Asked for (signal) while that task ran: it runs again right after, not an interval later. */
  private readonly requested = new Set<PollTask>();
  /** The deviceconnect link (Connect.Enabled). */
  private connect: DeviceConnect | null = null;
  /** Aborted by stop(): handed to the machine with each deployment, which stops its download. */
  private readonly stopping$ = new AbortController();
  /** Resolves when the loop has ended. */
  done: Promise<void> = Promise.resolve();

  constructor(
    private readonly config: ClientConfig,
    private readonly o: DaemonOptions,
  ) {}

  private log(line: string): void {
    this.o.log(line);
    const id = this.machine?.currentDeployment;
    if (id && this.reporter) void this.reporter.appendLog(id, line);
  }

  /** SIGUSR1: poll for a deployment now. */
  checkUpdateNow(): void {
    this.log('update check requested');
    this.requested.add('update');
    this.schedule?.trigger('update');
    this.waker.poke();
  }

  /** SIGUSR2: send the inventory now (even if unchanged). */
  sendInventoryNow(): void {
    this.log('inventory update requested');
    this.reauthenticated = true;
    this.requested.add('inventory');
    this.schedule?.trigger('inventory');
    this.waker.poke();
  }

  stop(): void {
    this.stopping = true;
    this.connect?.stop();
    this.stopping$.abort();
    this.waker.close();
  }

  private get unitMs(): number {
    return this.o.backoffUnitMs ?? 60_000;
  }

  async init(): Promise<void> {
    const c = this.config;
    const keyType = apiSettings(c).keyType;
    const { key, created } = await bootstrap(c.DataDir, keyType);
    if (created) this.log(`generated a new ${key.type} device key in ${c.DataDir}`);
    const made = await createApiClient(c, {
      key,
      identity: async () => identityJson(await readIdentity(c.IdentityScript)),
      onAuthenticated: (server) => {
        this.log(`authenticated with ${server}`);
        // Mender sends the inventory after each authorization: the server may have reset the device.
        this.reauthenticated = true;
        this.schedule?.trigger('inventory');
      },
    });
    this.api = made.api;
    this.settings = made.settings;
    this.ca = made.ca;
    const interval = this.o.reportIntervalMs ?? 5000;
    this.reporter = new ServerReporter({
      api: this.api,
      dataDir: c.DataDir,
      log: (l) => this.log(l),
      retry: { attempts: 3, baseDelayMs: Math.min(1000, interval), maxDelayMs: interval * 4 },
      confirmTimeoutMs: c.CommitStatusTimeoutSeconds * 1000,
      confirmIntervalMs: interval,
      onAborted: (id) => {
        this.log(`deployment ${id} was aborted by the server`);
        this.machine?.abort(id);
      },
    });
    this.machine = await createMachine(c, { mode: 'daemon', reporter: this.reporter, log: (l) => this.log(l), reboot: this.o.reboot });
    this.inventory = new InventorySender(this.api, c.DataDir);
    this.schedule = new PollSchedule({ ...this.settings.poll, backoffUnitMs: this.unitMs });
    if (c.Connect.Enabled) {
      this.connect = new DeviceConnect({
        server: () => this.api.server,
        token: () => this.api.token,
        tokenRefused: () => this.api.invalidate(),
        ca: this.ca,
        log: (l) => this.o.log(l),
        shell: { command: c.Connect.ShellCommand, pty: c.Connect.Terminal },
        maxShells: c.Connect.MaxShells,
        fileTransfer: c.Connect.FileTransfer,
        portForward: c.Connect.PortForward,
        // The server's check-update and send-inventory (deviceconnect) act like SIGUSR1 and SIGUSR2.
        menderClient: { checkUpdate: () => this.checkUpdateNow(), sendInventory: () => this.sendInventoryNow() },
        reconnectMs: { min: Math.min(1000, this.unitMs), max: Math.min(60_000, this.unitMs * 8) },
      });
    }
  }

  /** Runs until stop(). Resolves when stopped, or when a reboot was started (the system takes over). */
  async run(): Promise<'stopped' | 'rebooting'> {
    await this.init();
    await writeFile(pidFileOf(this.config), `${process.pid}\n`).catch((e) => this.log(`cannot write pid file: ${errorMessage(e)}`));
    // Connects as soon as the loop below has a token (and again whenever it drops).
    this.connect?.start();
    try {
      // After the reboot into an update, or a power loss: continue what was stored, first.
      const stored = await this.machine.record();
      if (stored) {
        const r = await this.finishRun(await this.machine.resume('resume', this.stopping$.signal, this.source(stored.id, null)));
        if (r === 'rebooting') return r;
      } else this.machine.announceIdle();
      while (!this.stopping) {
        await this.reporter.flush().catch((e) => this.log(`flushing statuses: ${errorMessage(e)}`));
        if (!this.api.token) {
          if (!(await this.authorize())) continue;
          // Mender sends the inventory right after it was authorized, then checks for updates.
          const r = await this.runTask('inventory');
          if (r === 'rebooting') return r;
          continue;
        }
        const next = this.schedule.next();
        if (next.waitMs > 0) {
          await this.waker.sleep(next.waitMs);
          continue;
        }
        const r = await this.runTask(next.task);
        if (r === 'rebooting') return r;
      }
      return 'stopped';
    } finally {
      this.connect?.stop();
      if (this.stopping) await rm(pidFileOf(this.config), { force: true });
    }
  }

  /** One authorization attempt; false (after waiting the backoff) when it failed. */
  private async authorize(): Promise<boolean> {
    try {
      await this.api.authenticate();
      this.authFailures = 0;
      return true;
    } catch (e) {
      const cap = (this.settings.poll.retryPollSeconds ?? DEFAULT_RETRY_POLL_SECONDS) * 1000;
      const wait = backoffDelayMs(this.authFailures, cap, 0, this.unitMs) ?? cap;
      this.authFailures = this.authFailures >= 1000 ? 0 : this.authFailures + 1;
      this.log(`${e instanceof NotAuthorized ? 'not authorized yet (pending?)' : 'authorization failed'}: ${errorMessage(e)}; retrying in ${wait} ms`);
      await this.waker.sleep(wait);
      return false;
    }
  }

  private async runTask(task: PollTask): Promise<'rebooting' | null> {
    this.requested.delete(task);
    try {
      return await this.runTaskOnce(task);
    } finally {
      if (this.requested.has(task)) this.schedule.trigger(task);
    }
  }

  private async runTaskOnce(task: PollTask): Promise<'rebooting' | null> {
    try {
      if (task === 'inventory') {
        await this.sendInventory();
        this.schedule.succeeded('inventory');
        return null;
      }
      const r = await this.updateCycle();
      this.schedule.succeeded('update');
      const end = await this.finishRun(r);
      // After a deployment finished, look again soon (Mender goes back to Sync through Idle).
      if (r.kind === 'done') this.schedule.trigger('update');
      return end;
    } catch (e) {
      const wait = this.schedule.failed(task, e);
      const what = e instanceof RetryLater ? 'server asked to retry later' : errorMessage(e);
      this.log(`${task === 'update' ? 'update check' : 'inventory update'} failed: ${what}; next try in ${wait} ms`);
      return null;
    }
  }

  /** A stored deployment continues first (a kill between cycles); else Sync: poll and hand the offer over. */
  private async updateCycle(): Promise<RunResult> {
    const stored = await this.machine.record();
    if (stored) return this.machine.resume('resume', this.stopping$.signal, this.source(stored.id, null));
    this.machine.announceSync();
    let offer = await this.check();
    // The server offers a deployment again while this device's final status for it waits in the
    // queue (the server was busy when it was sent; the deployment is cleared from the store): run
    // again it would end already-installed, and the server would take that before the queued
    // status. The queued status goes first; the offer is looked at again once it is delivered.
    // (Found by the managed power-cut campaign: a cut after Cleanup with the status queued.)
    if (offer && (await this.reporter.pending()).some((p) => p.id === offer!.id)) {
      await this.reporter.flush();
      if ((await this.reporter.pending()).some((p) => p.id === offer!.id)) throw new Error(`deployment ${offer.id} is offered again, but its final status is still queued: sent first, not run twice`);
      offer = await this.check();
    }
    return offer ? this.machine.runOffer(offer) : { kind: 'idle' };
  }

  private async finishRun(r: RunResult): Promise<'rebooting' | null> {
    if (r.kind === 'rebooting') {
      this.log(`deployment ${r.id}: reboot started, waiting for the system to go down`);
      return 'rebooting';
    }
    if (r.kind === 'done') this.log(`deployment ${r.id} finished: ${r.outcome}${r.error ? ` (${r.error})` : ''}`);
    return null;
  }

  private async sendInventory(): Promise<void> {
    const attrs = await collectInventory({
      dir: this.config.InventoryScriptsDir,
      deviceType: await readDeviceType(this.config),
      provides: await this.machine.provides(),
      warn: (m) => this.log(m),
    });
    const force = this.reauthenticated;
    this.reauthenticated = false;
    const r = await this.inventory.send(attrs, { force });
    this.log(r === 'sent' ? 'inventory sent' : 'inventory unchanged; not sent');
    // The configuration is fetched on the inventory cycle (and so after each authorization).
    const cf = this.config.Configure;
    if (cf.Enabled) await configureSafely({ api: this.api, dataDir: this.config.DataDir, scriptsDir: cf.ScriptsDir, timeoutMs: cf.TimeoutSeconds * 1000, log: (l) => this.log(l) });
  }

  private async check(): Promise<DeploymentOffer | null> {
    const provides = { ...(await this.machine.provides()), device_type: await readDeviceType(this.config) };
    const info = await checkUpdate(this.api, provides);
    if (!info) return null;
    this.log(`deployment ${info.id}: ${info.artifactName} from ${new URL(info.uri).host}`);
    return { id: info.id, artifactName: info.artifactName, source: this.source(info.id, info.uri), signal: this.stopping$.signal };
  }

  /**
   * The server's link as the machine's source: the bytes stream straight from the network into the
   * machine, through the download spool (download-spool.ts) when downloads resume across restarts.
   * `uri` null: a stored deployment resumed after a restart (the link is the checkpoint's, or a
   * fresh one from deployments/next).
   */
  private source(id: string, uri: string | null): ArtifactSource {
    const c = this.config;
    const interval = this.o.reportIntervalMs ?? 5000;
    const download = {
      ca: this.ca,
      maxResumes: c.RetryDownloadCount,
      stallTimeoutMs: c.DownloadStallTimeoutSeconds * 1000,
      backoffBaseMs: Math.min(1000, this.unitMs),
      backoffMaxMs: Math.min(60_000, this.unitMs * 8),
      onResume: (i: { offset: number; attempt: number; reason: string; waitMs: number }) =>
        this.log(`download interrupted at byte ${i.offset} (${i.reason}); resuming in ${i.waitMs} ms (attempt ${i.attempt})`),
    };
    return {
      describe: uri ? uri.replace(/\?.*$/, '') : `deployment ${id}`,
      open: async (signal) => {
        let dl: Readable;
        if (c.DownloadResumeAcrossRestarts) {
          dl = await openSpooled({ dataDir: c.DataDir, deployment: id, url: uri, freshLink: () => this.freshLink(id), download, log: (l) => this.log(l) }, signal);
        } else {
          if (!uri) throw new DownloadError('BAD_URL', '(none)', 0, `deployment ${id}: no download link to resume with`);
          dl = downloadWithResume(uri, { ...download, signal });
        }
        // Keep-alive during a long download, as Mender re-sends `downloading`: a 409 answer is how
        // an abort on the server reaches the device before it installs anything.
        const keepAlive = setInterval(() => {
          void this.reporter.keepAlive(id).catch(() => undefined);
        }, Math.max(interval, 1000));
        const stop = (): void => clearInterval(keepAlive);
        dl.once('close', stop);
        dl.once('downloaded', stop);
        dl.once('end', stop);
        dl.once('error', stop);
        return dl;
      },
    };
  }

  /** A fresh download link for deployment `id` (its link expired), or null when the server no longer offers it. */
  private async freshLink(id: string): Promise<string | null> {
    const provides = { ...(await this.machine.provides()), device_type: await readDeviceType(this.config) };
    const info = await checkUpdate(this.api, provides);
    if (info?.id === id) return info.uri;
    this.log(`deployment ${id} is no longer offered by the server (it offers ${info ? `deployment ${info.id}` : 'nothing'})`);
    return null;
  }
}

/**
 * Test knobs from the environment (unset on devices): FLIPSIDE_TEST_BACKOFF_UNIT_MS replaces
 * Mender's one-minute backoff unit, FLIPSIDE_TEST_REPORT_INTERVAL_MS the report retry interval.
 */
export function testKnobs(env: NodeJS.ProcessEnv = process.env): Pick<DaemonOptions, 'backoffUnitMs' | 'reportIntervalMs'> {
  const num = (v: string | undefined): number | undefined => {
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  };
  return { backoffUnitMs: num(env.FLIPSIDE_TEST_BACKOFF_UNIT_MS), reportIntervalMs: num(env.FLIPSIDE_TEST_REPORT_INTERVAL_MS) };
}
