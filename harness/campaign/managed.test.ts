import test from 'ava';
import { managedExpectedOutcome, serverTookBefore } from './managed.js';
import type { Image } from './crash-states.js';
import { FLOWS } from './flows.js';
import type { Trace } from './trace.js';

test('the server state at a cut: the statuses it acknowledged before it, in order', (t) => {
  const tr: Trace = {
    ops: [
      { op: 'mark', point: 'flipside daemon' },
      { op: 'mark', point: 'server took downloading' },
      { op: 'mark', point: 'Download' },
      { op: 'mark', point: 'server took installing' },
      { op: 'mark', point: 'server took success' },
    ],
    data: Buffer.alloc(0),
  };
  t.deepEqual(serverTookBefore(tr, 0), []);
  t.deepEqual(serverTookBefore(tr, 2), ['downloading']);
  t.deepEqual(serverTookBefore(tr, 4), ['downloading', 'installing']);
  t.deepEqual(serverTookBefore(tr, 5), ['downloading', 'installing', 'success']);
});

const image = (state: string | null): Image => ({
  blocks: new Map(),
  files: new Map(state ? [['data/flipside/state.json', Buffer.from(JSON.stringify({ id: 'd1', state, error: null }))]] : []),
  modes: new Map(),
  links: new Map(),
});
const managedUpdate = FLOWS.find((f) => f.name === 'managed-update')!;
const managedUnhealthy = FLOWS.find((f) => f.name === 'managed-unhealthy')!;
const envA = { boot_part: '2', upgrade_available: '0', bootcount: '0' };

// Found by the campaign (seed 1, managed-update:173:0, 150 cuts): a cut after the payload's fsync
// (the flip phase) with Download still stored was expected to end on the old version, but the
// daemon rightly resumes the stored Download from its spool and installs the new one.
test('managed outcome: a stored Download is resumed to the new version in any phase', (t) => {
  for (const phase of ['download', 'write', 'flip'] as const) t.is(managedExpectedOutcome(managedUpdate, image('Download'), envA, 3, phase).want, 'new', phase);
  t.is(managedExpectedOutcome(managedUpdate, image(null), envA, 3, 'download').want, 'new');
});

test('managed outcome: past Download, and for an artifact that must fail, the standalone rule', (t) => {
  t.is(managedExpectedOutcome(managedUpdate, image('ArtifactInstall'), envA, 3, 'flip').want, 'old');
  t.is(managedExpectedOutcome(managedUpdate, image('AfterCommit'), envA, 3, 'commit').want, 'new');
  t.is(managedExpectedOutcome(managedUnhealthy, image('Download'), envA, 3, 'flip').want, 'old');
  t.is(managedExpectedOutcome(managedUpdate, { ...image(null), files: new Map([['data/flipside/state.json', Buffer.from('{"id":')]]) }, envA, 3, 'write').want, null);
});
