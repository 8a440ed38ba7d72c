// Deliberate bugs for proving the harness catches them (`buildDeviceBundle({ injectBug })`): a
// test build defines __FLIPSIDE_INJECTED_BUG__, a release build defines it as null so the guarded
// branches are dead code; run from source (tsx) the identifier does not exist and nothing is injected.
export const INJECTED_BUGS = {
  'skip-fsync': 'the partition is not fsynced before the env flip',
  'flip-before-checksum': 'the env is flipped when the payload stream ends, before (and whatever) the checksum verdict',
  'commit-before-health-check': 'the commit marks the new slot good before the ArtifactCommit_Enter health check runs',
  'state-after-effect': 'ArtifactInstall is stored after its effect (the env flip) instead of before it',
  'env-in-place': 'the U-Boot env is rewritten in place in the current copy instead of the redundant one',
  'resume-unvalidated': 'a download interrupted by a power cut is resumed into the install without validating what was written',
  'rollback-keeps-boot-part': 'rollback clears upgrade_available but forgets to point the boot partition back at the old slot',
  'commit-unchecked': 'commit clears upgrade_available without checking that the new slot is the one running (marked good after a bootloader rollback)',
  'store-in-place': 'the state store overwrites its file in place, without a temp file, fsync and rename',
  'no-dir-fsync': 'the state store renames its file into place without fsyncing the directory',
  // Managed mode (the daemon and the server): caught by the managed campaign only.
  'success-before-commit': 'the daemon reports success to the server before the commit (and its health check) ran',
  'spool-unvalidated': 'a download resumes from the spool file\'s length, trusting bytes never fsynced, instead of the checkpoint',
  'drop-failed-report': 'a final status the server did not take is dropped instead of queued and retried',
  'forget-before-report': 'the deployment is cleared from the state store before its final status was reported',
} as const;

/** Mutants only a managed device (daemon and server) can show. */
export const MANAGED_BUGS: ReadonlySet<string> = new Set(['success-before-commit', 'spool-unvalidated', 'drop-failed-report', 'forget-before-report']);
export type InjectedBug = keyof typeof INJECTED_BUGS;

declare const __FLIPSIDE_INJECTED_BUG__: string | null | undefined;

export const INJECTED_BUG: InjectedBug | null =
  typeof __FLIPSIDE_INJECTED_BUG__ === 'string' && __FLIPSIDE_INJECTED_BUG__ in INJECTED_BUGS ? (__FLIPSIDE_INJECTED_BUG__ as InjectedBug) : null;
