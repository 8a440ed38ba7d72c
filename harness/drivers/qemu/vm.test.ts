import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { socketDir } from './vm.js';

test('sockets stay in the run folder unless their path would pass the unix socket limit', (t) => {
  t.is(socketDir('/tmp/run-1'), '/tmp/run-1');
  // A CI checkout under /check/work/main and a long scenario#variant label: QEMU refused this one.
  const deep = '/check/work/main/.cache/lab/runs/20261124-023544-2423/006-power-cut-during-commit_after-env-write/vm';
  const dir = socketDir(deep);
  t.not(dir, deep);
  t.true(existsSync(dir));
  t.true(Buffer.byteLength(join(dir, 'console.sock')) <= 107, dir);
});
