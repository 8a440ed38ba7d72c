import test from 'ava';
import { artifactScriptNameProblem, isRootfsState, scriptDirFor, selectScripts } from './state-script-names.js';

test('selects one state and action, sorted by NN then description', (t) => {
  const names = [
    'ArtifactInstall_Enter_10_b',
    'ArtifactInstall_Enter_02',
    'ArtifactInstall_Enter_10_a',
    'ArtifactInstall_Leave_01',
    'ArtifactInstallX_Enter_01',
    'ArtifactReboot_Enter_00',
    'version',
  ];
  const { scripts, misnamed } = selectScripts(names, 'ArtifactInstall', 'Enter');
  t.deepEqual(scripts, ['ArtifactInstall_Enter_02', 'ArtifactInstall_Enter_10_a', 'ArtifactInstall_Enter_10_b']);
  t.deepEqual(misnamed, []);
  t.deepEqual(selectScripts(names, 'ArtifactRollback', 'Enter').scripts, [], 'ArtifactRollbackReboot is another state');
});

test('misnamed scripts of the state are reported', (t) => {
  const names = ['Download_Enter_1', 'Download_Enter_001', 'Download_Enter_01 x', 'Download_Entr_01', 'Download_Leave_1', 'Download_Enter_05_ok'];
  const enter = selectScripts(names, 'Download', 'Enter');
  t.deepEqual(enter.scripts, ['Download_Enter_05_ok']);
  t.deepEqual(enter.misnamed.sort(), ['Download_Enter_001', 'Download_Enter_01 x', 'Download_Enter_1', 'Download_Entr_01']);
  t.deepEqual(selectScripts(names, 'Download', 'Leave').misnamed, ['Download_Leave_1']);
});

test('rootfs vs artifact states and dirs', (t) => {
  t.true(isRootfsState('Idle') && isRootfsState('Sync') && isRootfsState('Download'));
  t.false(isRootfsState('ArtifactInstall'));
  t.is(scriptDirFor('Sync'), '/etc/mender/scripts');
  t.is(scriptDirFor('ArtifactCommit'), '/var/lib/mender/scripts');
  t.is(scriptDirFor('Idle', { rootfs: '/r', artifact: '/a' }), '/r');
});

test('artifact script names: unsafe, unknown and rootfs-only names are refused', (t) => {
  t.is(artifactScriptNameProblem('ArtifactCommit_Leave_50_notify'), null);
  for (const bad of ['../ArtifactInstall_Enter_00', 'a/ArtifactInstall_Enter_00', 'ArtifactInstall_Enter_00_..', '', '..', 'version']) {
    t.truthy(artifactScriptNameProblem(bad), bad);
  }
  t.regex(artifactScriptNameProblem('Download_Enter_00')!, /rootfs/);
  t.regex(artifactScriptNameProblem('Bogus_Enter_00')!, /known state/);
});
