// The persistent shape of a deployment and the seams the state machine is driven through. The
// standalone CLI and the managed daemon run the same machine; they differ only in where the
// artifact comes from (ArtifactSource), who hears about progress (StatusReporter) and whether the
// machine performs reboots itself (mode).
import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { InstallContext, PayloadInstaller } from '../install/types.js';

/** States a deployment can be stored in; a kill in one resumes per recoveryAction(). */
export const PERSISTENT_STATES = [
  'Download',
  'ArtifactInstall',
  'ArtifactReboot',
  'ArtifactVerifyReboot',
  'ArtifactCommit',
  'AfterCommit',
  'ArtifactRollback',
  'ArtifactRollbackReboot',
  'ArtifactVerifyRollbackReboot',
  'ArtifactFailure',
  'Cleanup',
] as const;
export type PersistentState = (typeof PERSISTENT_STATES)[number];

/** Every state the machine reports (FLIPSIDE-STATE lines), persistent or not. */
export type StateName = 'Idle' | 'Sync' | PersistentState;

export const providesSchema = z.record(z.string());
export type DeviceProvides = z.infer<typeof providesSchema>;

export const artifactInfoSchema = z.object({
  name: z.string(),
  group: z.string().optional(),
  deviceTypes: z.array(z.string()),
  payloadType: z.string(),
  /** What the device provides once this artifact is committed. */
  providesAfter: providesSchema,
});
export type ArtifactInfo = z.infer<typeof artifactInfoSchema>;

export const deploymentRecordSchema = z.object({
  version: z.literal(1),
  id: z.string().min(1),
  mode: z.enum(['standalone', 'daemon']),
  state: z.enum(PERSISTENT_STATES),
  /** Persistent transitions so far; the loop guard fails the deployment past a limit. */
  storeCount: z.number().int().nonnegative(),
  source: z.string(),
  /** Null until the headers were read and accepted. */
  artifact: artifactInfoSchema.nullable(),
  /** Provides before the update, restored on failure. */
  providesBefore: providesSchema,
  /** First error of the deployment; set means the outcome is failure. */
  error: z.string().nullable(),
  /** ArtifactInstall was entered: from here on failure needs a rollback. */
  installStarted: z.boolean(),
  rollback: z.enum(['none', 'done', 'failed', 'unsupported']),
  /** Reboots attempted to get back to the old rootfs (bounded). */
  rollbackReboots: z.number().int().nonnegative(),
  /** The rollback left the old system running but needing a reboot (standalone). */
  rebootAfterRollback: z.boolean(),
  /** Times Download was entered (1 + resumes after a restart); bounded by DownloadResumeMaxCount. */
  downloadAttempts: z.number().int().nonnegative().default(0),
  /** When the deployment started (ms since the epoch); bounds DownloadResumeMaxSeconds. */
  startedAt: z.number().optional(),
});
export type DeploymentRecord = z.infer<typeof deploymentRecordSchema>;

export const lastDeploymentSchema = z.object({
  id: z.string(),
  artifactName: z.string().nullable(),
  outcome: z.enum(['success', 'failure']),
  error: z.string().nullable(),
  t: z.number(),
});
export type LastDeployment = z.infer<typeof lastDeploymentSchema>;

/** Where the artifact comes from: a file, a URL, the server's deployment link. */
export interface ArtifactSource {
  readonly describe: string;
  /**
   * The artifact's bytes for deployment `deployment`; `signal` aborts the download (the deployment
   * was aborted or the client stops). Called again when a stored download resumes after a restart.
   */
  open(signal: AbortSignal, deployment: string): Promise<Readable>;
}

/** Mender's deployment statuses (the device API's PUT .../status). */
export type DeploymentStatus =
  | 'downloading'
  | 'installing'
  | 'rebooting'
  | 'success'
  | 'failure'
  | 'already-installed';

/** Who hears about progress: nobody (standalone) or the server (daemon). Errors are logged, not fatal. */
export interface StatusReporter {
  status(id: string, status: DeploymentStatus, substate?: string): Promise<void>;
  /** Deployment log lines, uploaded on failure by the daemon. */
  log?(id: string, lines: string[]): Promise<void>;
  /**
   * A report that MUST reach the server (daemon mode: `installing` after the reboot, before the
   * commit, as Mender does). Retries up to the reporter's own deadline, then throws; the machine
   * then rolls back instead of committing. Without it, status() is used and its error is fatal.
   */
  confirm?(id: string, status: DeploymentStatus): Promise<void>;
}

/** Thrown by a StatusReporter when the server says the deployment was aborted (HTTP 409). */
export class DeploymentAbortedByServer extends Error {
  constructor(readonly deploymentId: string) {
    super(`deployment ${deploymentId} was aborted by the server`);
    this.name = 'DeploymentAbortedByServer';
  }
}

/**
 * What the daemon's Sync state found (the server's next-deployment answer), handed to the machine,
 * which owns the deployment from then on. `signal` is the daemon's: aborting it (SIGTERM) stops
 * the deployment's download; the machine adds its own abort for a server abort.
 */
export interface DeploymentOffer {
  id: string;
  /** Known before download from the server; equal to the installed name means already installed. */
  artifactName?: string;
  source: ArtifactSource;
  signal?: AbortSignal;
}

/** State scripts, Enter/Leave/Error of each state (client/scripts provides the runner). */
export interface StateScriptHooks {
  run(state: string, action: 'Enter' | 'Leave' | 'Error'): Promise<void>;
}

/** Builds the installer for a payload type (rootfs-image → RootfsInstaller, else an update module). */
export type InstallerFactory = (payloadType: string, ctx: InstallContext) => Promise<PayloadInstaller>;

/** What a run of the machine ended with. */
export type RunResult =
  | { kind: 'idle' }
  | { kind: 'reboot-required'; id: string; artifactName: string }
  | { kind: 'rebooting'; id: string }
  | {
      kind: 'done';
      id: string;
      outcome: 'success' | 'failure';
      error: string | null;
      rollback: DeploymentRecord['rollback'];
      /** The old system is restored in the env but the update's rootfs still runs: reboot. */
      rebootRequired: boolean;
    };
