import test from 'ava';
import { PERSISTENT_STATES } from './types.js';
import { recoveryAction } from './recovery.js';

test('the recovery table, per stored state, for the daemon and each standalone intent', (t) => {
  const table = Object.fromEntries(
    PERSISTENT_STATES.map((s) => [
      s,
      [recoveryAction(s, 'daemon', 'resume'), recoveryAction(s, 'standalone', 'resume'), recoveryAction(s, 'standalone', 'commit'), recoveryAction(s, 'standalone', 'rollback')].map((r) =>
        'wait' in r ? 'wait' : r.next,
      ),
    ]),
  );
  t.deepEqual(table, {
    Download: ['Cleanup', 'Cleanup', 'Cleanup', 'Cleanup'],
    ArtifactInstall: ['ArtifactRollback', 'ArtifactRollback', 'ArtifactRollback', 'ArtifactRollback'],
    ArtifactReboot: ['ArtifactVerifyReboot', 'wait', 'ArtifactVerifyReboot', 'ArtifactRollback'],
    ArtifactVerifyReboot: ['ArtifactRollback', 'ArtifactRollback', 'ArtifactRollback', 'ArtifactRollback'],
    ArtifactCommit: ['ArtifactCommit', 'ArtifactCommit', 'ArtifactCommit', 'ArtifactCommit'],
    AfterCommit: ['AfterCommit', 'AfterCommit', 'AfterCommit', 'AfterCommit'],
    ArtifactRollback: ['ArtifactRollback', 'ArtifactRollback', 'ArtifactRollback', 'ArtifactRollback'],
    ArtifactRollbackReboot: Array(4).fill('ArtifactVerifyRollbackReboot'),
    ArtifactVerifyRollbackReboot: Array(4).fill('ArtifactVerifyRollbackReboot'),
    ArtifactFailure: Array(4).fill('ArtifactFailure'),
    Cleanup: Array(4).fill('Cleanup'),
  });
});

test('interrupted states carry an error (the outcome is failure); re-run states do not', (t) => {
  const r = recoveryAction('Download', 'daemon', 'resume');
  t.true('next' in r && /interrupted in Download/.test(r.error ?? ''));
  const c = recoveryAction('ArtifactCommit', 'daemon', 'resume');
  t.true('next' in c && c.error === undefined);
});
