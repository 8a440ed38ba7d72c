import test from 'ava';
import { serverTookBefore } from './managed.js';
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
