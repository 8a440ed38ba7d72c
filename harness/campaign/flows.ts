// The update runs a campaign records and then cuts: each a list of client commands and power-ons,
// as a standalone device goes through them (install, reboot, commit). `mustFail` flows install an
// artifact that may never end up committed (corrupt payload, failing health check, a rootfs that
// does not boot): every cut must end on the old version, and the retry installs the good one.
export type ArtifactRole = 'next' | 'corrupt' | 'unhealthy' | 'broken';

export type Step = { kind: 'client'; cmd: 'install' | 'commit'; artifact?: ArtifactRole } | { kind: 'boot' };

export interface Flow {
  name: 'update' | 'corrupt' | 'unhealthy' | 'broken';
  what: string;
  mustFail: boolean;
  /** The artifact is refused before the switch: no crash state may show a changed env. */
  envUntouched?: boolean;
  steps: Step[];
}

const install = (artifact: ArtifactRole): Step => ({ kind: 'client', cmd: 'install', artifact });
const boot: Step = { kind: 'boot' };
const commit: Step = { kind: 'client', cmd: 'commit' };

export const FLOWS: Flow[] = [
  { name: 'update', what: 'install → reboot → commit → reboot: the new version stays', mustFail: false, steps: [install('next'), boot, commit, boot] },
  { name: 'corrupt', what: 'a payload whose checksum does not match: refused, nothing switched', mustFail: true, envUntouched: true, steps: [install('corrupt'), boot] },
  { name: 'unhealthy', what: 'the ArtifactCommit_Enter health check fails: rolled back', mustFail: true, steps: [install('unhealthy'), boot, commit, boot] },
  { name: 'broken', what: 'the new rootfs does not boot: the bootloader rolls back', mustFail: true, steps: [install('broken'), boot, commit, boot] },
];

export type Phase = 'download' | 'write' | 'flip' | 'reboot' | 'commit';
export const PHASES: Phase[] = ['download', 'write', 'flip', 'reboot', 'commit'];

export function stepMark(s: Step): string {
  return s.kind === 'boot' ? 'power-on' : `flipside ${s.cmd}`;
}
