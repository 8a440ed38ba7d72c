import test from 'ava';
import type { ScenarioResult } from '../run/result.js';
import type { TimelineEvent } from '../run/timeline.js';
import { isRollback, leadUp, scenarioStory } from './story.js';

let t0 = 0;
const ev = (source: TimelineEvent['source'], kind: string, text: string): TimelineEvent => ({ t: (t0 += 10), source, kind, text });
const result = (timeline: TimelineEvent[]): ScenarioResult => ({ scenario: 's', board: 'host-sim', seed: 1, status: 'failed', durationMs: t0, timeline, artifacts: [] });

test('a rollback is a rollback state or a line saying it is rolling back, not the word in a hint', (t) => {
  t.true(isRollback(ev('client-state', 'ArtifactRollback', 'ArtifactRollback')));
  t.true(isRollback(ev('console', 'line', 'boot: altbootcmd: bootcount 2 > bootlimit 1: rolling back, boot_part 3 -> 2')));
  t.true(isRollback(ev('console', 'line', 'rolled back to lab-1')));
  t.false(isRollback(ev('console', 'line', 'Installed lab-2. Reboot the device, then run `flipside commit` to keep it or `flipside rollback` to drop it.')));
  t.false(isRollback(ev('check', 'pass', 'the bootloader rolled back the unconfirmed update')));
  t.false(isRollback(ev('client-state', 'ArtifactCommit', 'ArtifactCommit')));
});

// One failed run: a cut after the flip loses the unsynced rootfs, the bootloader rolls back.
const failedRun = () =>
  result([
    ev('console', 'line', 'flipside: init root=/dev/simblk2 artifact_name=lab-1'),
    ev('client-state', 'Download', 'Download'),
    ev('console', 'line', 'FLIPSIDE-STATE {"state":"ArtifactInstall","deployment":"d","t":1}'),
    ev('client-state', 'ArtifactInstall', 'ArtifactInstall'),
    ev('client-state', 'ArtifactInstall', 'ArtifactInstall'),
    ev('fault', 'power-cut', 'power-cut at client state ArtifactReboot'),
    ev('fault', 'injected', 'injected: power-cut at client state ArtifactReboot (exact, by the board)'),
    ev('console', 'line', '[host-sim] power cut: 8388608 bytes written to disk/rootfs-b.img were never fsynced and are lost'),
    ev('console', 'line', 'VFS: Unable to mount root fs on /dev/simblk3'),
    ev('console', 'line', 'boot: altbootcmd: rolling back, boot_part 3 -> 2'),
    ev('console', 'line', 'flipside: init root=/dev/simblk2 artifact_name=lab-1'),
    ev('check', 'fail', 'boots the new rootfs: expected artifact_name=lab-2, got artifact_name=lab-1'),
    ev('console', 'line', 'error after the failure'),
  ]);

test('the story: each fault once, rollback, the version the device last booted, states folded', (t) => {
  t.deepEqual(scenarioStory(failedRun()), { faults: ['power-cut at client state ArtifactReboot'], rollback: true, finalVersion: 'lab-1', states: ['Download', 'ArtifactInstall'] });
  t.deepEqual(scenarioStory(result([])), { faults: [], rollback: false, finalVersion: null, states: [] });
});

test('the lead-up to a failure: faults, trouble lines and rollbacks before it, nothing after', (t) => {
  t.deepEqual(leadUp(failedRun()).map((e) => e.text), [
    'power-cut at client state ArtifactReboot',
    '[host-sim] power cut: 8388608 bytes written to disk/rootfs-b.img were never fsynced and are lost',
    'VFS: Unable to mount root fs on /dev/simblk3',
    'boot: altbootcmd: rolling back, boot_part 3 -> 2',
  ]);
});
