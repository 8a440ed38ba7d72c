// The update state machine shared by the standalone CLI and the daemon. Every persistent transition
// is written to the store BEFORE its effect runs, and after a kill the machine continues only from
// what was stored (recovery.ts). It owns the running deployment (as Mender's daemon context does):
// its id, its abort (a server abort or the daemon's stop) and its record; the daemon only polls
// and hands it an offer. The seams: ArtifactSource (file, URL, server link), StatusReporter
// (nobody, or the server), StateScriptHooks, InstallerFactory (rootfs or update module), and `mode`
// (the daemon reboots by itself; standalone stops and asks for a reboot and a commit).
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readArtifact } from '../../artifact/reader.js';
import type { ArtifactHeaders, PayloadEntry } from '../../artifact/types.js';
import { ClientError, errorMessage } from '../errors.js';
import type { InstallContext, PayloadInstaller } from '../install/types.js';
import { killPoint, traceOp } from '../test-hooks.js';
import { INJECTED_BUG } from '../injected-bug.js';
import { checkCompatible, providesAfter } from './compat.js';
import { decodeHeaders, encodeHeaders, storedHeadersSchema } from './headers-codec.js';
import { HARD_STATE_STORE_COUNT, MAX_ROLLBACK_REBOOTS, MAX_STATE_STORE_COUNT, recoveryAction, type Intent } from './recovery.js';
import { JsonStore } from './store.js';
import { dropSpool } from '../download-spool.js';
import {
  DeploymentAbortedByServer,
  deploymentRecordSchema,
  lastDeploymentSchema,
  providesSchema,
  type ArtifactSource,
  type DeploymentRecord,
  type DeploymentStatus,
  type DeviceProvides,
  type InstallerFactory,
  type LastDeployment,
  type PersistentState,
  type RunResult,
  type StateScriptHooks,
  type StatusReporter,
  type DeploymentOffer,
} from './types.js';

export const STATE_KEY = 'state';
export const PROVIDES_KEY = 'provides';
export const LAST_KEY = 'last-deployment';

export interface MachineOptions {
  dataDir: string;
  mode: 'standalone' | 'daemon';
  deviceType: () => Promise<string>;
  /** PEM public keys; when any is given, unsigned artifacts are refused. */
  verifyKeys: Array<string | Buffer>;
  installerFor: InstallerFactory;
  reporter?: StatusReporter;
  /** State scripts; given the deployment's artifact scripts dir once the headers are known. */
  scripts?: (artifactScriptsDir: string | null) => StateScriptHooks;
  /** Stores the artifact's state scripts durably in `dir` (client/scripts storeArtifactScripts). */
  storeArtifactScripts?: (scripts: ArtifactHeaders['scripts'], dir: string) => Promise<void>;
  /** What the device provides before any update was stored: the image's artifact_info (Mender's fallback). */
  initialProvides?: () => Promise<DeviceProvides | null>;
  /** Resume a stored Download after a restart (config DownloadResume*); absent = never (Mender). */
  downloadResume?: { enabled: boolean; maxCount: number; maxSeconds: number };
  /** Prints one FLIPSIDE-STATE line. */
  onState: (state: string, deployment: string | null) => void;
  log: (line: string) => void;
}

type Step = { next: PersistentState } | { stop: RunResult };

const STATUS_ON_ENTER: Partial<Record<PersistentState, DeploymentStatus>> = {
  Download: 'downloading',
  ArtifactInstall: 'installing',
  ArtifactReboot: 'rebooting',
  ArtifactCommit: 'installing',
};

/** States where a server abort (409 on a status report) still stops the deployment (before the reboot). */
const ABORTABLE: ReadonlySet<PersistentState> = new Set(['Download', 'ArtifactInstall', 'ArtifactReboot']);

export class UpdateMachine {
  readonly store: JsonStore;
  private installerCache: { id: string; installer: PayloadInstaller } | null = null;
  /** Deployments the server aborted (409 on a status report) during this run. */
  private readonly aborted = new Set<string>();
  /** The deployment being run now and its abort (server abort, or the offer's signal). */
  private running: { id: string; abort: AbortController } | null = null;

  constructor(private readonly o: MachineOptions) {
    this.store = new JsonStore(o.dataDir);
  }

  workDir(id: string): string {
    return join(this.o.dataDir, 'work', id);
  }

  private headersFile(id: string): string {
    return join(this.workDir(id), 'headers.json');
  }

  private scriptsDir(id: string): string {
    return join(this.workDir(id), 'scripts');
  }

  async record(): Promise<DeploymentRecord | null> {
    return this.store.read(STATE_KEY, deploymentRecordSchema);
  }

  async provides(): Promise<DeviceProvides> {
    return (
      (await this.store.read(PROVIDES_KEY, providesSchema)) ??
      (await this.o.initialProvides?.()) ?? { artifact_name: 'unknown' }
    );
  }

  async lastDeployment(): Promise<LastDeployment | null> {
    return this.store.read(LAST_KEY, lastDeploymentSchema);
  }

  /** The id of the deployment being run now, if any (the daemon tags its log lines with it). */
  get currentDeployment(): string | null {
    return this.running?.id ?? null;
  }

  /** Runs `f` as deployment `id`: its abort is linked to `signal` and to abort(id). */
  private async owning<T>(id: string, signal: AbortSignal | undefined, f: () => Promise<T>): Promise<T> {
    const abort = new AbortController();
    const follow = (): void => abort.abort();
    if (signal?.aborted) abort.abort();
    signal?.addEventListener('abort', follow, { once: true });
    if (this.aborted.has(id)) abort.abort();
    this.running = { id, abort };
    try {
      return await f();
    } finally {
      signal?.removeEventListener('abort', follow);
      if (this.running?.id === id) this.running = null;
    }
  }

  /** Starts a new deployment from `source` and runs it as far as the mode allows. */
  async install(source: ArtifactSource, id: string = randomUUID(), signal?: AbortSignal): Promise<RunResult> {
    // The id names the work directory: a server-supplied id must not be able to escape it.
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id)) {
      throw new ClientError('SOURCE', `invalid deployment id ${JSON.stringify(id)}`);
    }
    const existing = await this.record();
    if (existing) {
      throw new ClientError(
        'UPDATE_IN_PROGRESS',
        `an update (${existing.artifact?.name ?? existing.source}) is already in progress in state ${existing.state}; run \`flipside commit\`, \`flipside rollback\` or \`flipside resume\` first`,
      );
    }
    const rec: DeploymentRecord = {
      version: 1,
      id,
      mode: this.o.mode,
      state: 'Download',
      storeCount: 0,
      source: source.describe,
      artifact: null,
      providesBefore: await this.provides(),
      error: null,
      installStarted: false,
      rollback: 'none',
      rollbackReboots: 0,
      rebootAfterRollback: false,
      downloadAttempts: 0,
      startedAt: Date.now(),
    };
    return this.owning(id, signal, async () => {
      const first = await this.enter(rec, 'Download');
      if ('stop' in first) return first.stop;
      return this.run(rec, 'resume', source);
    });
  }

  /** The daemon is up with nothing stored: said on the console at once, so "client ready" does not wait for the server. */
  announceIdle(): void {
    this.o.onState('Idle', null);
  }

  /** The daemon is about to ask the server (Idle → Sync; neither is stored: a kill there starts over, as in Mender). */
  announceSync(): void {
    this.o.onState('Idle', null);
    this.o.onState('Sync', null);
  }

  /** Runs the deployment the daemon's poll found (already-installed is answered without a download). */
  async runOffer(offer: DeploymentOffer): Promise<RunResult> {
    const installed = (await this.provides()).artifact_name;
    if (offer.artifactName !== undefined && offer.artifactName === installed) {
      this.o.log(`deployment ${offer.id}: ${installed} is already installed`);
      await this.report(offer.id, 'already-installed');
      return { kind: 'idle' };
    }
    return this.install(offer.source, offer.id, offer.signal);
  }

  /**
   * Continues a stored deployment (after a kill, a reboot, or on `commit`/`rollback`). A stored
   * Download continues from its spool when `source` is given and the resume bounds allow it.
   */
  async resume(intent: Intent, signal?: AbortSignal, source?: ArtifactSource): Promise<RunResult> {
    const rec = await this.record();
    if (!rec) return { kind: 'idle' };
    const resumeDownload = rec.state === 'Download' && source !== undefined && this.mayResumeDownload(rec);
    const r = recoveryAction(rec.state, this.o.mode, intent, { resumeDownload });
    if ('wait' in r) return { kind: 'reboot-required', id: rec.id, artifactName: rec.artifact?.name ?? rec.source };
    this.o.log(`resuming deployment ${rec.id} stored in ${rec.state}: continuing with ${r.next}`);
    if (r.error && !rec.error) rec.error = r.error;
    return this.owning(rec.id, signal, async () => {
      const first = await this.enter(rec, r.next);
      if ('stop' in first) return first.stop;
      return this.run(rec, intent, resumeDownload ? source : undefined);
    });
  }

  /** Within DownloadResumeMaxCount / DownloadResumeMaxSeconds; says why not when it is not. */
  private mayResumeDownload(rec: DeploymentRecord): boolean {
    const b = this.o.downloadResume;
    if (!b?.enabled) return false;
    if (rec.downloadAttempts > b.maxCount) {
      this.o.log(`deployment ${rec.id}: the download was interrupted ${rec.downloadAttempts} times; giving up (DownloadResumeMaxCount=${b.maxCount}), reporting failure`);
      return false;
    }
    const age = Date.now() - (rec.startedAt ?? Date.now());
    if (age > b.maxSeconds * 1000) {
      this.o.log(`deployment ${rec.id}: the download started ${Math.round(age / 1000)} s ago; giving up (DownloadResumeMaxSeconds=${b.maxSeconds}), reporting failure`);
      return false;
    }
    return true;
  }

  private async run(rec: DeploymentRecord, intent: Intent, source?: ArtifactSource): Promise<RunResult> {
    for (;;) {
      const step = await this.effect(rec, intent, source);
      if (INJECTED_BUG === 'state-after-effect' && rec.state === 'ArtifactInstall') await this.store.write(STATE_KEY, rec);
      killPoint(`${rec.state}:done`);
      if ('stop' in step) return step.stop;
      const entered = await this.enter(rec, step.next);
      if ('stop' in entered) return entered.stop;
    }
  }

  /** The durable transition: stored first, announced, then (test hook) possibly killed. */
  private async enter(rec: DeploymentRecord, state: PersistentState): Promise<Step> {
    rec.storeCount++;
    if (rec.storeCount > HARD_STATE_STORE_COUNT) {
      rec.error ??= 'state loop detected';
      this.o.log(`deployment ${rec.id}: ${rec.storeCount} stored transitions, abandoning it as failed`);
      return { stop: await this.finish(rec) };
    }
    if (rec.storeCount > MAX_STATE_STORE_COUNT && state !== 'ArtifactFailure' && state !== 'Cleanup') {
      this.o.log(`deployment ${rec.id}: state loop detected after ${rec.storeCount - 1} stored transitions (entering ${state})`);
      rec.error ??= `state loop detected (entering ${state})`;
      if (rec.installStarted && rec.rollback !== 'done') rec.rollback = 'failed';
      state = rec.installStarted ? 'ArtifactFailure' : 'Cleanup';
    }
    if (state === 'ArtifactInstall') rec.installStarted = true;
    if (state === 'Download') rec.downloadAttempts++;
    rec.state = state;
    if (INJECTED_BUG !== 'state-after-effect' || state !== 'ArtifactInstall') await this.store.write(STATE_KEY, rec);
    this.o.onState(state, rec.id);
    const status = STATUS_ON_ENTER[state];
    // In daemon mode the commit's `installing` must reach the server: ArtifactCommit's effect confirms it.
    const confirmedLater = state === 'ArtifactCommit' && this.o.mode === 'daemon' && this.o.reporter;
    if (status && !confirmedLater) await this.report(rec.id, status);
    killPoint(state);
    return { next: state };
  }

  private async report(id: string, status: DeploymentStatus): Promise<void> {
    if (!this.o.reporter) return;
    try {
      await this.o.reporter.status(id, status);
    } catch (e) {
      if (e instanceof DeploymentAbortedByServer) this.aborted.add(id);
      this.o.log(`reporting ${status} for ${id} failed: ${errorMessage(e)}`);
    }
  }

  /** The server aborted deployment `id`: a running download stops, and no further step installs it. */
  abort(id: string): void {
    this.aborted.add(id);
    if (this.running?.id === id) this.running.abort.abort();
  }

  private async installer(rec: DeploymentRecord): Promise<PayloadInstaller | null> {
    if (!rec.artifact) return null;
    if (this.installerCache?.id === rec.id) return this.installerCache.installer;
    this.deviceTypeCache ??= await this.o.deviceType().catch(() => 'unknown');
    const headers = await this.loadHeaders(rec.id);
    const installer = await this.o.installerFor(rec.artifact.payloadType, this.context(rec, headers));
    this.installerCache = { id: rec.id, installer };
    return installer;
  }

  private async loadHeaders(id: string): Promise<ArtifactHeaders> {
    const s = await new JsonStore(this.workDir(id)).read('headers', storedHeadersSchema);
    if (!s) throw new ClientError('STORE', `headers of deployment ${id} are missing from ${this.headersFile(id)}`);
    return decodeHeaders(s);
  }

  private context(rec: DeploymentRecord, headers: ArtifactHeaders): InstallContext {
    return {
      headers,
      workDir: join(this.workDir(rec.id), 'payload-0000'),
      current: {
        artifactName: rec.providesBefore.artifact_name ?? 'unknown',
        artifactGroup: rec.providesBefore.artifact_group,
        deviceType: this.deviceTypeCache ?? 'unknown',
      },
      log: (line) => this.o.log(line),
    };
  }

  private deviceTypeCache: string | null = null;

  private scripts(rec: DeploymentRecord): StateScriptHooks | null {
    if (!this.o.scripts) return null;
    return this.o.scripts(rec.artifact ? this.scriptsDir(rec.id) : null);
  }

  private async runScripts(rec: DeploymentRecord, state: string, action: 'Enter' | 'Leave' | 'Error'): Promise<void> {
    await this.scripts(rec)?.run(state, action);
  }

  // Error-state scripts and cleanup effects must not stop the failure path: log and go on.
  private async bestEffort(what: string, f: () => Promise<void>): Promise<boolean> {
    try {
      await f();
      return true;
    } catch (e) {
      this.o.log(`${what} failed: ${errorMessage(e)}`);
      return false;
    }
  }

  private fail(rec: DeploymentRecord, e: unknown): void {
    const msg = errorMessage(e);
    this.o.log(`${rec.state} failed: ${msg}`);
    rec.error ??= msg;
  }

  private async effect(rec: DeploymentRecord, intent: Intent, source?: ArtifactSource): Promise<Step> {
    if (this.aborted.has(rec.id) && ABORTABLE.has(rec.state)) {
      // Aborted before the reboot: nothing more is installed; what was done is undone.
      rec.error ??= `deployment ${rec.id} was aborted by the server`;
      this.o.log(`${rec.state}: ${rec.error}`);
      return { next: rec.installStarted ? 'ArtifactRollback' : 'Cleanup' };
    }
    switch (rec.state) {
      case 'Download': {
        if (!source) throw new ClientError('SOURCE', 'internal: Download without a source');
        try {
          // Download scripts come from the rootfs only: the artifact's own are not trusted yet.
          await this.runScripts(rec, 'Download', 'Enter');
          await this.download(rec, source);
          await this.runScripts(rec, 'Download', 'Leave');
          return { next: 'ArtifactInstall' };
        } catch (e) {
          this.fail(rec, e);
          await this.bestEffort('Download_Error scripts', () => this.runScripts(rec, 'Download', 'Error'));
          return { next: 'Cleanup' };
        }
      }
      case 'ArtifactInstall': {
        const inst = await this.installer(rec);
        try {
          if (!inst) throw new ClientError('STORE', 'no artifact recorded for ArtifactInstall');
          await this.runScripts(rec, 'ArtifactInstall', 'Enter');
          await inst.install();
          await this.runScripts(rec, 'ArtifactInstall', 'Leave');
          const need = await inst.needsReboot();
          return { next: need === 'no' ? 'ArtifactCommit' : 'ArtifactReboot' };
        } catch (e) {
          this.fail(rec, e);
          await this.bestEffort('ArtifactInstall_Error scripts', () => this.runScripts(rec, 'ArtifactInstall', 'Error'));
          return { next: 'ArtifactRollback' };
        }
      }
      case 'ArtifactReboot': {
        if (this.o.mode === 'standalone') {
          return { stop: { kind: 'reboot-required', id: rec.id, artifactName: rec.artifact?.name ?? rec.source } };
        }
        const inst = await this.installer(rec);
        try {
          await this.runScripts(rec, 'ArtifactReboot', 'Enter');
          await inst!.reboot();
          return { stop: { kind: 'rebooting', id: rec.id } };
        } catch (e) {
          this.fail(rec, e);
          await this.bestEffort('ArtifactReboot_Error scripts', () => this.runScripts(rec, 'ArtifactReboot', 'Error'));
          return { next: 'ArtifactRollback' };
        }
      }
      case 'ArtifactVerifyReboot': {
        const inst = await this.installer(rec);
        try {
          await inst!.verifyReboot();
          if (this.o.mode === 'daemon') await this.runScripts(rec, 'ArtifactReboot', 'Leave');
          return { next: 'ArtifactCommit' };
        } catch (e) {
          this.fail(rec, e);
          return { next: 'ArtifactRollback' };
        }
      }
      case 'ArtifactCommit': {
        const inst = await this.installer(rec);
        if (this.o.mode === 'daemon' && this.o.reporter) {
          // Mender: the commit waits until the server accepted `installing`; if it cannot, roll back.
          const r = this.o.reporter;
          try {
            await (r.confirm ? r.confirm(rec.id, 'installing') : r.status(rec.id, 'installing'));
          } catch (e) {
            this.fail(rec, new ClientError('SERVER', `the server did not confirm the update before the commit: ${errorMessage(e)}`, { cause: e }));
            return { next: 'ArtifactRollback' };
          }
        }
        try {
          if (INJECTED_BUG === 'success-before-commit' && this.o.reporter) await this.o.reporter.status(rec.id, 'success');
          if (INJECTED_BUG === 'commit-before-health-check') await inst!.commit();
          await this.runScripts(rec, 'ArtifactCommit', 'Enter');
          if (INJECTED_BUG !== 'commit-before-health-check') await inst!.commit();
          return { next: 'AfterCommit' };
        } catch (e) {
          this.fail(rec, e);
          await this.bestEffort('ArtifactCommit_Error scripts', () => this.runScripts(rec, 'ArtifactCommit', 'Error'));
          return { next: 'ArtifactRollback' };
        }
      }
      case 'AfterCommit': {
        // Past the point of no return: the new provides are saved and Leave scripts run (again after a kill).
        await this.store.write(PROVIDES_KEY, rec.artifact!.providesAfter);
        const leaveOk = await this.bestEffort('ArtifactCommit_Leave scripts', () => this.runScripts(rec, 'ArtifactCommit', 'Leave'));
        if (!leaveOk) {
          // Committed but a Leave script failed: Mender marks the installed name _INCONSISTENT.
          const p = rec.artifact!.providesAfter;
          await this.store.write(PROVIDES_KEY, { ...p, artifact_name: `${p.artifact_name}_INCONSISTENT` });
        }
        return { next: 'Cleanup' };
      }
      case 'ArtifactRollback': {
        const inst = await this.installer(rec);
        if (!inst) return { next: 'ArtifactFailure' };
        let supported = false;
        try {
          supported = await inst.supportsRollback();
        } catch (e) {
          this.o.log(`SupportsRollback failed: ${errorMessage(e)}`);
        }
        if (!supported) {
          rec.rollback = 'unsupported';
          return { next: 'ArtifactFailure' };
        }
        try {
          await this.bestEffort('ArtifactRollback_Enter scripts', () => this.runScripts(rec, 'ArtifactRollback', 'Enter'));
          await inst.rollback();
          await this.bestEffort('ArtifactRollback_Leave scripts', () => this.runScripts(rec, 'ArtifactRollback', 'Leave'));
          rec.rollback = 'done';
        } catch (e) {
          this.o.log(`ArtifactRollback failed: ${errorMessage(e)}`);
          rec.rollback = 'failed';
          return { next: 'ArtifactFailure' };
        }
        const needReboot = await inst.rollbackNeedsReboot();
        if (!needReboot) return { next: 'ArtifactFailure' };
        if (this.o.mode === 'standalone') {
          rec.rebootAfterRollback = true;
          return { next: 'ArtifactFailure' };
        }
        return { next: 'ArtifactRollbackReboot' };
      }
      case 'ArtifactRollbackReboot': {
        const inst = await this.installer(rec);
        await this.bestEffort('ArtifactRollbackReboot_Enter scripts', () => this.runScripts(rec, 'ArtifactRollbackReboot', 'Enter'));
        try {
          await inst!.rollbackReboot();
          return { stop: { kind: 'rebooting', id: rec.id } };
        } catch (e) {
          this.o.log(`ArtifactRollbackReboot failed: ${errorMessage(e)}`);
          return { next: 'ArtifactVerifyRollbackReboot' };
        }
      }
      case 'ArtifactVerifyRollbackReboot': {
        const inst = await this.installer(rec);
        try {
          await inst!.verifyRollbackReboot();
          return { next: 'ArtifactFailure' };
        } catch (e) {
          this.o.log(`ArtifactVerifyRollbackReboot failed: ${errorMessage(e)}`);
          rec.rollbackReboots++;
          if (rec.rollbackReboots < MAX_ROLLBACK_REBOOTS) return { next: 'ArtifactRollbackReboot' };
          rec.rollback = 'failed';
          return { next: 'ArtifactFailure' };
        }
      }
      case 'ArtifactFailure': {
        const inst = await this.installer(rec).catch(() => null);
        await this.bestEffort('ArtifactFailure_Enter scripts', () => this.runScripts(rec, 'ArtifactFailure', 'Enter'));
        if (inst) await this.bestEffort('ArtifactFailure', () => inst.failure());
        await this.bestEffort('ArtifactFailure_Leave scripts', () => this.runScripts(rec, 'ArtifactFailure', 'Leave'));
        if (rec.installStarted && (rec.rollback === 'failed' || rec.rollback === 'unsupported')) {
          // The old system could not be restored: say so in what the device provides (Mender's _INCONSISTENT).
          await this.store.write(PROVIDES_KEY, {
            ...rec.providesBefore,
            artifact_name: `${rec.artifact?.name ?? rec.providesBefore.artifact_name}_INCONSISTENT`,
          });
        }
        return { next: 'Cleanup' };
      }
      case 'Cleanup':
        return { stop: await this.finish(rec) };
    }
  }

  private async download(rec: DeploymentRecord, source: ArtifactSource): Promise<void> {
    const deviceType = await this.o.deviceType();
    this.deviceTypeCache = deviceType;
    // Errors thrown in the callbacks come back from readArtifact unchanged; keep ours typed.
    let installer: PayloadInstaller | null = null;
    if (rec.downloadAttempts > 1) {
      // A resumed download replays the artifact from its first byte: what the interrupted attempt
      // stored (headers, scripts, installer state) is dropped and made again from the same bytes.
      await rm(this.workDir(rec.id), { recursive: true, force: true });
      this.installerCache = null;
      rec.artifact = null;
    }
    const signal = this.running?.abort.signal ?? new AbortController().signal;
    // A local file is read by path (large positional reads, compressed payloads fed to the
    // decompressor straight from the file); anything else as a stream. A path read has no stream
    // to cancel, so the abort is checked between the artifact's parts.
    const input = source.localFile ? await source.localFile() : await source.open(signal, rec.id);
    await readArtifact(input, {
      // Standalone `flipside install <file>` waits on this read alone: blocking reads of the file
      // and of the decompressor's output (a FIFO) cost no thread hand-off per chunk, and the
      // partition writes still run on the thread pool meanwhile. Never in the daemon.
      syncReads: typeof input === 'string' && this.o.mode === 'standalone',
      verifyKeys: this.o.verifyKeys.length > 0 ? this.o.verifyKeys : undefined,
      requireSignature: this.o.verifyKeys.length > 0,
      onHeaders: async (headers) => {
        signal.throwIfAborted();
        checkCompatible(headers, deviceType, rec.providesBefore);
        const payload = headers.payloads[0]!;
        const wd = this.workDir(rec.id);
        await mkdir(wd, { recursive: true });
        await new JsonStore(wd).write('headers', encodeHeaders(headers));
        if (headers.scripts.length > 0) {
          if (!this.o.storeArtifactScripts) {
            this.o.log(`artifact carries ${headers.scripts.length} state script(s) but no script runner is available`);
          } else {
            await this.o.storeArtifactScripts(headers.scripts, this.scriptsDir(rec.id));
          }
        }
        rec.artifact = {
          name: headers.name,
          group: headers.provides.artifact_group,
          deviceTypes: headers.depends.device_type,
          payloadType: payload.type ?? '',
          providesAfter: providesAfter(rec.providesBefore, headers),
        };
        // Same state, more facts: not a transition, so the loop counter does not move.
        await this.store.write(STATE_KEY, rec);
        installer = await this.o.installerFor(rec.artifact.payloadType, this.context(rec, headers));
        this.installerCache = { id: rec.id, installer };
      },
      onPayloadFile: async (entry: PayloadEntry, s) => {
        if (!installer) throw new ClientError('STORE', 'internal: payload before headers');
        signal.throwIfAborted();
        await installer.storeFile(entry, s);
      },
    });
    if (!installer) throw new ClientError('SOURCE', `${source.describe}: the artifact has no headers`);
    await (installer as PayloadInstaller).downloadDone();
  }

  /** Cleanup's effect: installer cleanup, outcome recorded, deployment record removed. */
  private async finish(rec: DeploymentRecord): Promise<RunResult> {
    const inst = await this.installer(rec).catch(() => null);
    if (inst) await this.bestEffort('Cleanup', () => inst.cleanup());
    const outcome = rec.error ? 'failure' : 'success';
    if (INJECTED_BUG === 'forget-before-report') await this.store.remove(STATE_KEY);
    await this.report(rec.id, outcome);
    const last: LastDeployment = { id: rec.id, artifactName: rec.artifact?.name ?? null, outcome, error: rec.error, t: Date.now() };
    await this.store.write(LAST_KEY, last);
    await this.store.remove(STATE_KEY);
    traceOp({ op: 'rmtree', path: this.workDir(rec.id) });
    await rm(this.workDir(rec.id), { recursive: true, force: true });
    await dropSpool(this.o.dataDir, rec.id);
    this.installerCache = null;
    this.o.onState('Idle', null);
    return { kind: 'done', id: rec.id, outcome, error: rec.error, rollback: rec.rollback, rebootRequired: rec.rebootAfterRollback };
  }
}
