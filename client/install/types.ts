// The contract between the state machine and whatever installs a payload: the built-in A/B rootfs
// installer and the update-module runner implement it, so the state machine drives both alike.
// Every method may be called again after the client was killed and restarted (recovery), so an
// installer keeps whatever it needs on disk under the work directory it was given.
import type { Readable } from 'node:stream';
import type { ArtifactHeaders, PayloadEntry } from '../../artifact/types.js';

export type RebootNeed = 'no' | 'yes' | 'automatic';

export interface InstallContext {
  headers: ArtifactHeaders;
  /** Persistent per-update directory (on the data partition) owned by the installer. */
  workDir: string;
  /** Currently installed artifact and device, for update modules' file tree. */
  current: { artifactName: string; artifactGroup?: string; deviceType: string };
  /** Appends a line to the deployment log (stderr of scripts and modules goes here). */
  log: (line: string) => void;
}

export interface PayloadInstaller {
  /** Download state: receives each payload file; must consume the stream to its end. */
  storeFile(entry: PayloadEntry, stream: Readable): Promise<void>;
  /** Download state, after the last file (and for payloads with no files). */
  downloadDone(): Promise<void>;
  install(): Promise<void>;
  needsReboot(): Promise<RebootNeed>;
  supportsRollback(): Promise<boolean>;
  reboot(): Promise<void>;
  verifyReboot(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  /** After rollback(): must the device reboot to run the old system again (it still runs the update)? */
  rollbackNeedsReboot(): Promise<boolean>;
  rollbackReboot(): Promise<void>;
  verifyRollbackReboot(): Promise<void>;
  failure(): Promise<void>;
  cleanup(): Promise<void>;
}
