import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { tryLock, unlock, withLock } from './build-lock.js';

/** A lock path in a fresh folder (the folder made, as a builder's cache folder is). */
const lockIn = () => join(mkdtempSync(join(tmpdir(), 'flipside-lock-')), 'images.lock');

/** A live process holding `lock` (the file names its pid) until its stdin closes. */
async function holder(lock: string) {
  const child = spawn(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(lock)}, process.pid + '\\n'); console.log('held'); process.stdin.resume(); process.stdin.on('end', () => { require('fs').rmSync(${JSON.stringify(lock)}); process.exit(0) })`], { stdio: ['pipe', 'pipe', 'inherit'] });
  await once(child.stdout!, 'data');
  return { pid: child.pid!, release: async () => { child.stdin!.end(); await once(child, 'exit'); } };
}

test('a second process waits for the holder, then takes the lock', async (t) => {
  const lock = lockIn();
  const h = await holder(lock);
  t.false(tryLock(lock));
  let ran = false;
  let waitedFor = 0;
  let told!: () => void;
  const waiting = new Promise<void>((r) => (told = r));
  const done = withLock(lock, async () => {
    ran = true;
    return readFileSync(lock, 'utf8').trim();
  }, { pollMs: 20, onWait: (pid) => { waitedFor = pid; told(); } });
  await waiting;
  t.is(waitedFor, h.pid);
  t.false(ran, 'ran while another live process held the lock');
  await h.release();
  t.is(await done, String(process.pid));
  t.true(ran);
  t.false(existsSync(lock), 'released after the work');
});

test('a lock whose owner died is taken over', async (t) => {
  const lock = lockIn();
  const child = spawn(process.execPath, ['-e', '0']);
  await once(child, 'exit');
  writeFileSync(lock, `${child.pid}\n`);
  t.true(tryLock(lock));
  t.is(readFileSync(lock, 'utf8').trim(), String(process.pid));
  unlock(lock);
  t.false(existsSync(lock));
});

test('unlock leaves a lock another process holds', async (t) => {
  const lock = lockIn();
  const h = await holder(lock);
  unlock(lock);
  t.true(existsSync(lock));
  await h.release();
});

test('callers in one process run one at a time, in order', async (t) => {
  const lock = lockIn();
  const events: string[] = [];
  let finishFirst!: () => void;
  const firstMayEnd = new Promise<void>((r) => (finishFirst = r));
  let firstStarted!: () => void;
  const started = new Promise<void>((r) => (firstStarted = r));
  const first = withLock(lock, async () => {
    events.push('first start');
    firstStarted();
    await firstMayEnd;
    events.push('first end');
  });
  const second = withLock(lock, async () => {
    events.push('second start');
  });
  await started;
  finishFirst();
  await Promise.all([first, second]);
  t.deepEqual(events, ['first start', 'first end', 'second start']);
  t.false(existsSync(lock));
});

test('a failing caller releases the lock for the next', async (t) => {
  const lock = lockIn();
  await t.throwsAsync(withLock(lock, async () => { throw new Error('build failed'); }), { message: 'build failed' });
  t.false(existsSync(lock));
  t.is(await withLock(lock, async () => 'next'), 'next');
});
