// Where a deployment continues after the client was killed (or the device lost power), decided
// only from the stored state. Mender's table (LoadStateFromDb in 4.x, getNextState in 3.x):
//
//   stored state                  resume with                      why
//   Download                      Cleanup (failure)                 nothing was switched; the partial
//                                                                   write to the inactive slot is harmless
//                                 Download, when the download can   Flipside: resume from the spool
//                                 resume (download-spool.ts)        (issue #17), within its bounds
//   ArtifactInstall               ArtifactRollback → Failure        the env may or may not be flipped
//   ArtifactReboot                ArtifactVerifyReboot (daemon)     the reboot was expected
//                                 standalone: wait for commit/rollback
//   ArtifactVerifyReboot          ArtifactRollback                  verification did not finish
//   ArtifactCommit                ArtifactCommit (re-run)           commit is idempotent
//   AfterCommit                   AfterCommit (re-run)              past the point of no return
//   ArtifactRollback              ArtifactRollback (re-run)
//   ArtifactRollbackReboot        ArtifactVerifyRollbackReboot
//   ArtifactVerifyRollbackReboot  ArtifactVerifyRollbackReboot
//   ArtifactFailure               ArtifactFailure (re-run)          error states repeat until done
//   Cleanup                       Cleanup (re-run)
//
// Each resume is itself a stored transition, so a state that keeps getting killed trips the loop guard.
import type { PersistentState } from './types.js';

/** What the user asked for when resuming in standalone mode; the daemon always 'resume's. */
export type Intent = 'resume' | 'commit' | 'rollback';

export type Recovery =
  | { next: PersistentState; error?: string }
  | { wait: 'reboot-required' };

export function recoveryAction(stored: PersistentState, mode: 'standalone' | 'daemon', intent: Intent, o: { resumeDownload?: boolean } = {}): Recovery {
  const interrupted = (s: string): string => `interrupted in ${s} (killed or power lost)`;
  switch (stored) {
    case 'Download':
      if (o.resumeDownload && intent === 'resume') return { next: 'Download' };
      return { next: 'Cleanup', error: interrupted('Download') };
    case 'ArtifactInstall':
      return { next: 'ArtifactRollback', error: interrupted('ArtifactInstall') };
    case 'ArtifactReboot':
      if (mode === 'daemon' || intent === 'commit') return { next: 'ArtifactVerifyReboot' };
      if (intent === 'rollback') return { next: 'ArtifactRollback', error: 'rolled back on request' };
      return { wait: 'reboot-required' };
    case 'ArtifactVerifyReboot':
      return { next: 'ArtifactRollback', error: interrupted('ArtifactVerifyReboot') };
    case 'ArtifactCommit':
      return { next: 'ArtifactCommit' };
    case 'AfterCommit':
      return { next: 'AfterCommit' };
    case 'ArtifactRollback':
      return { next: 'ArtifactRollback' };
    case 'ArtifactRollbackReboot':
    case 'ArtifactVerifyRollbackReboot':
      return { next: 'ArtifactVerifyRollbackReboot' };
    case 'ArtifactFailure':
      return { next: 'ArtifactFailure' };
    case 'Cleanup':
      return { next: 'Cleanup' };
  }
}

/** Mender 4's kMaxStateDataStoreCount: more stored transitions than this in one deployment is a loop. */
export const MAX_STATE_STORE_COUNT = 28;
/** Past this even the failure path is abandoned: the record is dropped as a failure without more effects. */
export const HARD_STATE_STORE_COUNT = MAX_STATE_STORE_COUNT + 8;
/** Reboots tried to get back to the old rootfs before giving up. */
export const MAX_ROLLBACK_REBOOTS = 3;
