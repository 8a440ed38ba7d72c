import test from 'ava';
import { mkdtemp, rm, writeFile, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deviceSize, readAt, resolveOffset, writeAtDurably } from './device-io.js';
import { EnvError } from './types.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'devio-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('positional read returns short data at the end of a file', (t) =>
  withDir(async (dir) => {
    const f = join(dir, 'img');
    await writeFile(f, Buffer.from('0123456789'));
    t.is((await readAt(f, 2, 3)).toString(), '234');
    t.is((await readAt(f, 8, 10)).toString(), '89');
    t.is((await readAt(f, 20, 4)).length, 0);
  }));

test('write in the middle never truncates or changes other bytes', (t) =>
  withDir(async (dir) => {
    const f = join(dir, 'img');
    await writeFile(f, Buffer.alloc(64, 0xaa));
    await writeAtDurably(f, 10, Buffer.from('xyz'));
    const after = await readFile(f);
    t.is(after.length, 64);
    t.is(after.subarray(10, 13).toString(), 'xyz');
    t.true(after.subarray(0, 10).every((b) => b === 0xaa));
    t.true(after.subarray(13).every((b) => b === 0xaa));
  }));

test('negative offsets count from the end; sizes of files', (t) =>
  withDir(async (dir) => {
    const f = join(dir, 'img');
    await writeFile(f, Buffer.alloc(0x10000));
    t.is(await deviceSize(f), 0x10000);
    t.is(await resolveOffset(f, -0x4000), 0xc000);
    t.is(await resolveOffset(f, 0x100), 0x100);
    t.is((await stat(f)).size, 0x10000);
  }));

test('missing files give IO errors naming the path', async (t) => {
  const err = await t.throwsAsync(readAt('/nonexistent/flipside-env', 0, 4), { instanceOf: EnvError });
  t.is(err!.code, 'IO');
  t.regex(err!.message, /\/nonexistent\/flipside-env/);
  const err2 = await t.throwsAsync(writeAtDurably('/nonexistent/flipside-env', 0, Buffer.from('a')), { instanceOf: EnvError });
  t.is(err2!.code, 'IO');
});
