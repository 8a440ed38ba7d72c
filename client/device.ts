// Wires a loaded configuration into a ready state machine: the boot env it names, the rootfs
// installer for rootfs-image payloads, update modules for every other payload type, the state
// line printer. The CLI and (later) the daemon both start here.
import { INJECTED_BUG } from './injected-bug.js';
import { readFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { openBootEnv } from '../bootenv/index.js';
import type { BootEnv } from '../bootenv/types.js';
import type { ClientConfig } from './config.js';
import { readArtifactInfo, readDeviceType } from './config.js';
import { ClientError, errorMessage } from './errors.js';
import { detectActiveSlot, type Slot } from './install/active-partition.js';
import { UpdateModuleInstaller } from './install/modules/runner.js';
import { RootfsInstaller } from './install/rootfs.js';
import { bootVarsFor } from './install/boot-vars.js';
import { ROOTFS_TYPE } from './state/compat.js';
import { UpdateMachine } from './state/machine.js';
import { createStateScriptHooks, storeArtifactScripts } from './scripts/index.js';
import { makeStateLogger } from './state/state-log.js';
import { envWriteJournal } from './test-hooks.js';
import type { StatusReporter } from './state/types.js';


export function activeSlotOf(config: ClientConfig): () => Promise<Slot> {
  return () =>
    detectActiveSlot({
      from: config.ActivePartitionFrom,
      procCmdline: config.ProcCmdline,
      mountTable: config.MountTable,
      partA: config.RootfsPartA,
      partB: config.RootfsPartB,
    });
}

function runReboot(cmd: string[]): () => Promise<void> {
  return () =>
    new Promise((resolve, reject) => {
      const p = spawn(cmd[0]!, cmd.slice(1), { stdio: 'inherit' });
      p.on('error', (e) => reject(new ClientError('REBOOT', `${cmd.join(' ')}: ${errorMessage(e)}`, { cause: e })));
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new ClientError('REBOOT', `${cmd.join(' ')} exited with ${code}`))));
    });
}

async function readKeys(paths: string[]): Promise<Buffer[]> {
  return Promise.all(
    paths.map(async (p) => {
      try {
        return await readFile(p);
      } catch (e) {
        throw new ClientError('CONFIG', `cannot read ArtifactVerifyKey ${p}: ${errorMessage(e)}`, { cause: e });
      }
    }),
  );
}

export interface DeviceOptions {
  mode: 'standalone' | 'daemon';
  reporter?: StatusReporter;
  log: (line: string) => void;
  onProgress?: (written: number, total: number) => void;
  /** Replaces RebootCommand (tests, or a daemon embedding its own reboot). */
  reboot?: () => Promise<void>;
}

export async function createMachine(config: ClientConfig, o: DeviceOptions): Promise<UpdateMachine> {
  const verifyKeys = await readKeys(config.verifyKeyPaths);
  let env: BootEnv | null = null;
  const bootEnv = async (): Promise<BootEnv> => (env ??= await openBootEnv(config.BootEnv, envWriteJournal, INJECTED_BUG === 'env-in-place' ? { writeInPlace: true } : {}));
  return new UpdateMachine({
    dataDir: config.DataDir,
    mode: o.mode,
    deviceType: () => readDeviceType(config),
    initialProvides: () => readArtifactInfo(config.ArtifactInfoFile),
    verifyKeys,
    reporter: o.reporter,
    downloadResume: {
      enabled: config.DownloadResumeAcrossRestarts,
      maxCount: config.DownloadResumeMaxCount,
      maxSeconds: config.DownloadResumeMaxSeconds,
    },
    onState: makeStateLogger(config.ConsoleStateLog),
    log: o.log,
    scripts: (artifactDir) =>
      createStateScriptHooks({
        rootfsDir: config.ScriptsDir,
        artifactDir,
        timeoutMs: config.StateScriptTimeoutSeconds * 1000,
        retryLaterTimeoutMs: config.StateScriptRetryTimeoutSeconds * 1000,
        retryIntervalMs: config.StateScriptRetryIntervalSeconds * 1000,
        log: o.log,
      }),
    storeArtifactScripts,
    installerFor: async (payloadType, ctx) => {
      if (payloadType === ROOTFS_TYPE) {
        const env = await bootEnv();
        return new RootfsInstaller({
          partA: config.RootfsPartA,
          partB: config.RootfsPartB,
          env,
          vars: await bootVarsFor(config.BootVars, env, ctx.log),
          activeSlot: activeSlotOf(config),
          reboot: o.reboot ?? runReboot(config.RebootCommand),
          ctx,
          skipUnchangedBlocks: config.SkipUnchangedBlocks,
          onProgress: o.onProgress,
        });
      }
      return new UpdateModuleInstaller({
        modulePath: UpdateModuleInstaller.findModule(config.ModulesDir, payloadType),
        ctx,
        stateTimeoutMs: config.ModuleTimeoutSeconds * 1000,
      });
    },
  });
}
