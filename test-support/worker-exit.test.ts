// worker-exit.ts in a real ava run over two fixture files whose tests pass but whose processes
// misbehave afterwards: each is named with its cause, and the child left running is killed.
import test from 'ava';
import { execa } from 'execa';
import { readFileSync } from 'node:fs';

const CONFIG = 'test-support/fixtures/worker-exit/ava.config.mjs';

async function avaOn(fixture: string) {
  return execa('node', ['--import', './test-support/ava-main-watch.mjs', 'node_modules/ava/entrypoints/cli.mjs', '--config', CONFIG, '--tap', `test-support/fixtures/worker-exit/${fixture}`], {
    reject: false,
    all: true,
    env: { FLIPSIDE_TEST_EXIT_GRACE_MS: '1500' },
  });
}

/** Running, as opposed to gone or a zombie waiting for whoever adopted it to reap it. */
function running(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

test('a worker still running after its tests names the child it left, kills it and fails by name', async (t) => {
  const r = await avaOn('leaves-a-child.ts');
  t.not(r.exitCode, 0);
  t.regex(r.all, /^ok 1 - passes and leaves sleep running$/m);
  const named = /FLIPSIDE-TEST-WORKER \S+leaves-a-child\.ts: still running 1500 ms after its tests ended; open: child (\d+) \(sleep 600\)/.exec(r.all);
  t.truthy(named, r.all);
  t.regex(r.all, /^not ok \d+ - \S*leaves-a-child\.ts exited with a non-zero exit code: 1$/m);
  t.false(running(Number(named![1])), 'the child it left is killed');
});

test('a process.exit after the tests passed is named with its caller', async (t) => {
  const r = await avaOn('exits-after-its-test.ts');
  t.not(r.exitCode, 0);
  t.regex(r.all, /# fail 0/);
  t.regex(r.all, /FLIPSIDE-TEST-WORKER \S+exits-after-its-test\.ts: process\.exit\(0\) called before its tests ended, at .*exits-after-its-test\.ts:\d+/);
  t.regex(r.all, /FLIPSIDE-TEST-WORKER ava: exiting with code 1/);
});
