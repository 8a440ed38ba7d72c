// The update-module runner: a PayloadInstaller that drives a Mender v3 Update Module, so any
// existing module runs unchanged. Each method is one protocol state; the state machine decides
// the order (see the call sequences in the module README of the report). Everything a restarted
// client needs is the File Tree on disk, so a new instance over the same work dir continues.
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { PayloadEntry } from '../../../artifact/types.js';
import type { InstallContext, PayloadInstaller, RebootNeed } from '../types.js';
import { DownloadSession } from './download.js';
import { ModuleError, type ModuleState } from './errors.js';
import { fileTreeExists, fileTreePath, prepareFileTree, removeFileTree } from './file-tree.js';
import { DEFAULT_STATE_TIMEOUT_MS, runModuleState } from './module-process.js';

export interface UpdateModuleInstallerOptions {
  modulePath: string;
  ctx: InstallContext;
  /** Per state (and for the whole Download state); Mender's default is 4 h. */
  stateTimeoutMs?: number;
  /** Which payload of the artifact this module handles (Mender supports one: 0). */
  payloadIndex?: number;
  /** Extra environment for the module, on top of the client's own. */
  env?: Record<string, string>;
}

function parseAnswer<T extends string>(state: ModuleState, modulePath: string, output: string, answers: Record<string, T>): T {
  const answer = answers[output];
  if (answer === undefined) {
    throw new ModuleError('PROTOCOL', state, `${modulePath} answered ${JSON.stringify(output)} to ${state}; expected one of ${Object.keys(answers).filter(Boolean).join(', ')}`);
  }
  return answer;
}

export class UpdateModuleInstaller implements PayloadInstaller {
  readonly modulePath: string;
  readonly treeDir: string;
  private readonly ctx: InstallContext;
  private readonly timeoutMs: number;
  private readonly env: Record<string, string> | undefined;
  private readonly payloadIndex: number;
  private download: DownloadSession | undefined;
  private downloadStarting: Promise<DownloadSession> | undefined;

  constructor(opts: UpdateModuleInstallerOptions) {
    this.modulePath = opts.modulePath;
    this.ctx = opts.ctx;
    this.timeoutMs = opts.stateTimeoutMs ?? DEFAULT_STATE_TIMEOUT_MS;
    this.env = opts.env;
    this.payloadIndex = opts.payloadIndex ?? 0;
    this.treeDir = fileTreePath(opts.ctx.workDir, this.payloadIndex);
  }

  /**
   * `<modulesDir>/<payloadType>`, checked the way Mender discovers modules: a regular file with
   * an execute bit. Throws ModuleError NOT_FOUND / NOT_EXECUTABLE naming the path.
   */
  static findModule(modulesDir: string, payloadType: string): string {
    if (!payloadType || payloadType === '.' || payloadType === '..' || /[/\0]/.test(payloadType)) {
      throw new ModuleError('NOT_FOUND', 'lookup', `payload type ${JSON.stringify(payloadType)} cannot name an update module in ${modulesDir}`);
    }
    const path = join(modulesDir, payloadType);
    let isFile: boolean;
    try {
      isFile = statSync(path).isFile();
    } catch (e) {
      throw new ModuleError('NOT_FOUND', 'lookup', `no update module for payload type ${payloadType}: ${path} does not exist`, { cause: e });
    }
    if (!isFile) throw new ModuleError('NOT_FOUND', 'lookup', `update module ${path} is not a regular file`);
    try {
      accessSync(path, constants.X_OK);
    } catch (e) {
      throw new ModuleError('NOT_EXECUTABLE', 'lookup', `update module ${path} is not executable`, { cause: e });
    }
    return path;
  }

  // ---- Download ----------------------------------------------------------------------------

  async storeFile(entry: PayloadEntry, stream: Readable): Promise<void> {
    const session = await this.startDownload();
    await session.storeFile(entry, stream);
  }

  async downloadDone(): Promise<void> {
    const session = await this.startDownload();
    try {
      await session.finish();
    } finally {
      this.download = undefined;
      this.downloadStarting = undefined;
    }
  }

  /** Kills a Download still running (the artifact failed to read); later states call it too. */
  async abortDownload(): Promise<void> {
    const starting = this.downloadStarting;
    this.download = undefined;
    this.downloadStarting = undefined;
    if (!starting) return;
    const session = await starting.catch(() => undefined);
    await session?.abort();
  }

  /** First file (or downloadDone for a payload without files): fresh tree, size query, module started. */
  private startDownload(): Promise<DownloadSession> {
    this.downloadStarting ??= (async () => {
      await prepareFileTree(this.treeDir, this.ctx, this.payloadIndex);
      const sizes = await this.query('ProvidePayloadFileSizes', { Yes: 'yes', No: 'no', '': 'no' });
      const session = await DownloadSession.start({
        modulePath: this.modulePath,
        treeDir: this.treeDir,
        withSizes: sizes === 'yes',
        timeoutMs: this.timeoutMs,
        log: this.ctx.log,
        env: this.env,
      });
      this.download = session;
      return session;
    })();
    // A failed start must not be cached: the next attempt starts over with a fresh tree.
    this.downloadStarting.catch(() => {
      this.downloadStarting = undefined;
    });
    return this.downloadStarting;
  }

  // ---- States after Download -----------------------------------------------------------------

  install(): Promise<void> {
    return this.run('ArtifactInstall');
  }

  async needsReboot(): Promise<RebootNeed> {
    return this.query('NeedsArtifactReboot', { Yes: 'yes', No: 'no', '': 'no', Automatic: 'automatic' });
  }

  async supportsRollback(): Promise<boolean> {
    return (await this.query('SupportsRollback', { Yes: 'yes', No: 'no', '': 'no' })) === 'yes';
  }

  /** Mender's rule for modules: a module that needed a reboot to install needs one to roll back. */
  async rollbackNeedsReboot(): Promise<boolean> {
    return (await this.needsReboot()) !== 'no';
  }

  reboot(): Promise<void> {
    return this.run('ArtifactReboot');
  }

  verifyReboot(): Promise<void> {
    return this.run('ArtifactVerifyReboot');
  }

  commit(): Promise<void> {
    return this.run('ArtifactCommit');
  }

  rollback(): Promise<void> {
    return this.run('ArtifactRollback');
  }

  rollbackReboot(): Promise<void> {
    return this.run('ArtifactRollbackReboot');
  }

  verifyRollbackReboot(): Promise<void> {
    return this.run('ArtifactVerifyRollbackReboot');
  }

  failure(): Promise<void> {
    return this.run('ArtifactFailure');
  }

  /** Runs Cleanup (a no-op without a tree) and then removes the tree whatever Cleanup returned. */
  async cleanup(): Promise<void> {
    await this.abortDownload();
    if (!(await fileTreeExists(this.treeDir))) return;
    try {
      await runModuleState(this.invocation('Cleanup', false));
    } finally {
      await removeFileTree(this.treeDir);
    }
  }

  private async run(state: ModuleState): Promise<void> {
    await this.requireTree(state);
    await runModuleState(this.invocation(state, false));
  }

  private async query<T extends string>(state: ModuleState, answers: Record<string, T>): Promise<T> {
    await this.requireTree(state);
    const output = await runModuleState(this.invocation(state, true));
    return parseAnswer(state, this.modulePath, output, answers);
  }

  private async requireTree(state: ModuleState): Promise<void> {
    if (state !== 'ProvidePayloadFileSizes') await this.abortDownload();
    if (!(await fileTreeExists(this.treeDir))) {
      throw new ModuleError('NO_TREE', state, `${state}: the update module file tree ${this.treeDir} does not exist`);
    }
  }

  private invocation(state: ModuleState, capture: boolean) {
    return { modulePath: this.modulePath, state, treeDir: this.treeDir, timeoutMs: this.timeoutMs, log: this.ctx.log, capture, env: this.env };
  }
}
