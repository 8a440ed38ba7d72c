// The update runs a campaign records and then cuts: each a list of client commands and power-ons,
// as a standalone device goes through them (install, reboot, commit). `mustFail` flows install an
// artifact that may never end up committed (corrupt payload, failing health check, a rootfs that
// does not boot): every cut must end on the old version, and the retry installs the good one.
// Managed flows run `flipside daemon` against the reference server instead (managed-server.ts):
// the daemon polls, downloads through its resumable spool, installs, asks for the reboot, and
// after the power-on commits and reports; its one step repeats power-on + daemon until it is idle.
export type ArtifactRole = 'next' | 'corrupt' | 'unhealthy' | 'broken';

export type Step = { kind: 'client'; cmd: 'install' | 'commit'; artifact?: ArtifactRole } | { kind: 'boot' } | { kind: 'daemon' };

export type Mode = 'standalone' | 'managed';
export const MODES: Mode[] = ['standalone', 'managed'];

export interface Flow {
  name: 'update' | 'corrupt' | 'unhealthy' | 'broken' | 'managed-update' | 'managed-unhealthy';
  what: string;
  mode: Mode;
  /** Managed flows: the artifact the server deploys. */
  deploys?: ArtifactRole;
  mustFail: boolean;
  /** The artifact is refused before the switch: no crash state may show a changed env. */
  envUntouched?: boolean;
  steps: Step[];
}

const install = (artifact: ArtifactRole): Step => ({ kind: 'client', cmd: 'install', artifact });
const boot: Step = { kind: 'boot' };
const commit: Step = { kind: 'client', cmd: 'commit' };

const daemon: Step = { kind: 'daemon' };

export const FLOWS: Flow[] = [
  { name: 'update', mode: 'standalone', what: 'install → reboot → commit → reboot: the new version stays', mustFail: false, steps: [install('next'), boot, commit, boot] },
  { name: 'corrupt', mode: 'standalone', what: 'a payload whose checksum does not match: refused, nothing switched', mustFail: true, envUntouched: true, steps: [install('corrupt'), boot] },
  { name: 'unhealthy', mode: 'standalone', what: 'the ArtifactCommit_Enter health check fails: rolled back', mustFail: true, steps: [install('unhealthy'), boot, commit, boot] },
  { name: 'broken', mode: 'standalone', what: 'the new rootfs does not boot: the bootloader rolls back', mustFail: true, steps: [install('broken'), boot, commit, boot] },
  { name: 'managed-update', mode: 'managed', deploys: 'next', what: 'daemon: poll → spooled download → install → reboot → commit → success reported', mustFail: false, steps: [daemon] },
  { name: 'managed-unhealthy', mode: 'managed', deploys: 'unhealthy', what: 'daemon: the health check fails at the commit → rollback → failure reported', mustFail: true, steps: [daemon] },
];

export type Phase = 'download' | 'write' | 'flip' | 'reboot' | 'commit';
export const PHASES: Phase[] = ['download', 'write', 'flip', 'reboot', 'commit'];

export function stepMark(s: Step): string {
  return s.kind === 'boot' ? 'power-on' : s.kind === 'daemon' ? 'flipside daemon' : `flipside ${s.cmd}`;
}
