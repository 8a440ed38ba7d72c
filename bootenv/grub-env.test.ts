// Cross-checks against grub-editenv in both directions, byte for byte.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GrubEnv, createGrubEnvFile } from './grub-env.js';
import { EnvError } from './types.js';

const hasTool = spawnSync('which', ['grub-editenv']).status === 0;
const tool = hasTool ? test : test.skip;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'grubenv-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const editenv = (file: string, ...args: string[]) => execFileSync('grub-editenv', [file, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

tool('createGrubEnvFile makes the same bytes as grub-editenv create', (t) =>
  withDir(async (dir) => {
    editenv(join(dir, 'theirs'), 'create');
    await createGrubEnvFile(join(dir, 'ours'));
    t.deepEqual(await readFile(join(dir, 'ours')), await readFile(join(dir, 'theirs')));
    await t.throwsAsync(createGrubEnvFile(join(dir, 'ours')), { instanceOf: EnvError });
  }));

tool('the same edits give byte-identical blocks', (t) =>
  withDir(async (dir) => {
    const theirs = join(dir, 'theirs');
    const ours = join(dir, 'ours');
    editenv(theirs, 'create');
    editenv(ours, 'create');
    const env = new GrubEnv(ours);
    const steps: Array<Record<string, string | null>> = [
      { boot_part: 'A', bootcount: '0', upgrade_available: '0' },
      { bootcount: '1' },
      { boot_part: 'B_longer_value', path: 'C:\\dir\\file', multi: 'line1\nline2' },
      { boot_part: 'B', bootcount: null },
      { eq: 'a=b=c', empty: '' },
      { path: null, upgrade_available: '1' },
    ];
    for (const step of steps) {
      await env.write(step);
      for (const [k, v] of Object.entries(step)) {
        if (v === null) editenv(theirs, 'unset', k);
        else editenv(theirs, 'set', `${k}=${v}`);
      }
      t.deepEqual(await readFile(ours), await readFile(theirs), JSON.stringify(step));
    }
  }));

tool('grub-editenv reads what we wrote and we read what it wrote', (t) =>
  withDir(async (dir) => {
    const f = join(dir, 'grubenv');
    editenv(f, 'create');
    editenv(f, 'set', 'a=1', 'b=x\\y', 'c=l1\nl2', 'd=');
    const env = new GrubEnv(f);
    t.deepEqual(await env.read(), { a: '1', b: 'x\\y', c: 'l1\nl2', d: '' });
    await env.write({ a: '2', e: 'k=v', b: null });
    t.is(editenv(f, 'list'), 'a=2\nc=l1\nl2\nd=\ne=k=v\n');
    t.is((await readFile(f)).length, 1024);
    await chmod(f, 0o600);
    await env.write({ a: '3' });
    t.is((await stat(f)).mode & 0o777, 0o600, 'the mode survives the rename');
    t.deepEqual(await readdir(dir), ['grubenv'], 'no temp file left behind');
  }));

tool('too large: TOO_LARGE and the file is unchanged', (t) =>
  withDir(async (dir) => {
    const f = join(dir, 'grubenv');
    editenv(f, 'create');
    editenv(f, 'set', 'a=1');
    const before = await readFile(f);
    const err = await t.throwsAsync(new GrubEnv(f).write({ b: '2', big: 'x'.repeat(1024) }), { instanceOf: EnvError });
    t.is(err!.code, 'TOO_LARGE');
    t.deepEqual(await readFile(f), before);
    const r = spawnSync('grub-editenv', [f, 'set', `big=${'x'.repeat(1024)}`]);
    t.not(r.status, 0, 'grub-editenv refuses it too');
  }));

test('missing file and a file that is not a block are LOCATION_MISMATCH; bad names BAD_VARIABLE', (t) =>
  withDir(async (dir) => {
    const missing = await t.throwsAsync(new GrubEnv(join(dir, 'nope')).read(), { instanceOf: EnvError });
    t.is(missing!.code, 'LOCATION_MISMATCH');
    t.true(missing!.message.includes(join(dir, 'nope')));
    const other = join(dir, 'other');
    await writeFile(other, 'not an env\n');
    const notBlock = await t.throwsAsync(new GrubEnv(other).write({ a: '1' }), { instanceOf: EnvError });
    t.is(notBlock!.code, 'LOCATION_MISMATCH');
    t.is(await readFile(other, 'utf8'), 'not an env\n');
    await createGrubEnvFile(join(dir, 'g'));
    const bad = await t.throwsAsync(new GrubEnv(join(dir, 'g')).write({ ok: '1', 'a=b': '2' }), { instanceOf: EnvError });
    t.is(bad!.code, 'BAD_VARIABLE');
    t.deepEqual(await new GrubEnv(join(dir, 'g')).read(), {});
  }));

tool('edits of a nearly full block stay byte-identical (in-place shrink and grow at the edge)', (t) =>
  withDir(async (dir) => {
    const theirs = join(dir, 'theirs');
    const ours = join(dir, 'ours');
    editenv(theirs, 'create');
    editenv(ours, 'create');
    const env = new GrubEnv(ours);
    // Header is 95 bytes; fill to leave only a few '#' at the end.
    const fill = 'f'.repeat(1024 - 95 - 'a=1\n'.length - 'big=\n'.length - 3);
    const steps: Array<[string, string | null]> = [
      ['a', '1'],
      ['big', fill],
      ['a', '12'],
      ['a', ''],
      ['big', 'short'],
      ['a', 'x'.repeat(20)],
      ['big', null],
    ];
    for (const [k, v] of steps) {
      await env.write({ [k]: v });
      if (v === null) editenv(theirs, 'unset', k);
      else editenv(theirs, 'set', `${k}=${v}`);
      t.deepEqual(await readFile(ours), await readFile(theirs), `${k}=${v?.slice(0, 10)}`);
    }
  }));
