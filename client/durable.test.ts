import test from 'ava';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { open } from 'node:fs/promises';
import { removeDurably, replaceFile, syncHandle, writeAllAt, writeFileSynced, writeStreamSynced, type WriteJournal } from './durable.js';

async function tmp(t: { teardown(f: () => Promise<void>): void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'flipside-durable-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

function recording(): WriteJournal & { lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (p, o, l) => lines.push(`w ${o} ${l} ${p}`), sync: (p) => lines.push(`s ${p}`) };
}

test('replaceFile creates the directory, writes the exact mode and leaves no temp file', async (t) => {
  const d = await tmp(t);
  const f = join(d, 'sub', 'state.json');
  await replaceFile(f, 'one', { mode: 0o640 });
  await replaceFile(f, 'two', { mode: 0o640 });
  t.is(await readFile(f, 'utf8'), 'two');
  t.is((await stat(f)).mode & 0o777, 0o640);
  t.deepEqual(await readdir(join(d, 'sub')), ['state.json']);
});

test('replaceFile that cannot rename keeps the old file and removes its temp file', async (t) => {
  const d = await tmp(t);
  // A directory where the file should be: rename fails (EISDIR), the temp file was already written.
  const f = join(d, 'taken');
  await replaceFile(join(f, 'inner'), 'x');
  const e = await t.throwsAsync(replaceFile(f, 'new'));
  t.truthy((e as NodeJS.ErrnoException).code);
  t.deepEqual((await readdir(d)).sort(), ['taken']);
  t.is(await readFile(join(f, 'inner'), 'utf8'), 'x');
});

test('writeFileSynced exclusive refuses to overwrite', async (t) => {
  const d = await tmp(t);
  await writeFileSynced(join(d, 'a'), 'first', { exclusive: true, mode: 0o600 });
  const e = await t.throwsAsync(writeFileSynced(join(d, 'a'), 'second', { exclusive: true }));
  t.is((e as NodeJS.ErrnoException).code, 'EEXIST');
  t.is(await readFile(join(d, 'a'), 'utf8'), 'first');
  t.is((await stat(join(d, 'a'))).mode & 0o777, 0o600);
});

test('writeStreamSynced stores every chunk in order', async (t) => {
  const d = await tmp(t);
  const parts = Array.from({ length: 50 }, (_, i) => Buffer.alloc(1000, i));
  await writeStreamSynced(join(d, 'x', 'f'), Readable.from(parts));
  t.deepEqual(await readFile(join(d, 'x', 'f')), Buffer.concat(parts));
});

test('writeAllAt + syncHandle write only the bytes asked for, journal the write before its sync', async (t) => {
  const d = await tmp(t);
  const f = join(d, 'dev');
  await writeFile(f, Buffer.alloc(64, 0xaa));
  const j = recording();
  const fh = await open(f, 'r+');
  await writeAllAt(fh, f, Buffer.from('xyz'), 10, j);
  await syncHandle(fh, f, j);
  await fh.close();
  const got = await readFile(f);
  t.is(got.length, 64);
  t.is(got.subarray(10, 13).toString(), 'xyz');
  t.is(got[9], 0xaa);
  t.is(got[13], 0xaa);
  t.deepEqual(j.lines, [`w 10 3 ${f}`, `s ${f}`]);
});

test('removeDurably removes, and a missing file is fine', async (t) => {
  const d = await tmp(t);
  await writeFile(join(d, 'f'), 'x');
  await removeDurably(join(d, 'f'));
  await removeDurably(join(d, 'f'));
  t.deepEqual(await readdir(d), []);
});

test('concurrent replacements of one file land one after the other, the last one wins', async (t) => {
  const d = await tmp(t);
  const f = join(d, 'f');
  await Promise.all(Array.from({ length: 20 }, (_, i) => replaceFile(f, `value ${i}`.repeat(1000))));
  t.is(await readFile(f, 'utf8'), 'value 19'.repeat(1000));
  t.deepEqual(await readdir(d), ['f']);
});
