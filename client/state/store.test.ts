import test from 'ava';
import { mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { ClientError } from '../errors.js';
import { JsonStore } from './store.js';

const schema = z.object({ n: z.number() });

async function dir(t: { teardown: (f: () => Promise<void>) => void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'flipside-store-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

test('write then read round-trips; a missing key reads as null; no temp file stays', async (t) => {
  const s = new JsonStore(await dir(t));
  t.is(await s.read('state', schema), null);
  await s.write('state', { n: 1 });
  await s.write('state', { n: 2 });
  t.deepEqual(await s.read('state', schema), { n: 2 });
  t.deepEqual(await readdir(s.dir), ['state.json']);
  await s.remove('state');
  await s.remove('state');
  t.is(await s.read('state', schema), null);
});

test('content that does not match the schema is a STORE error naming the field', async (t) => {
  const s = new JsonStore(await dir(t));
  await writeFile(join(s.dir, 'state.json'), '{"n":"x"}');
  const e = await t.throwsAsync(s.read('state', schema), { instanceOf: ClientError });
  t.is(e?.code, 'STORE');
  t.regex(e!.message, /n: Expected number/);
  await writeFile(join(s.dir, 'state.json'), '{"n":');
  t.is((await t.throwsAsync(s.read('state', schema), { instanceOf: ClientError }))?.code, 'STORE');
});

test('ENOSPC while writing is NO_SPACE and keeps the old value', async (t) => {
  const s = new JsonStore(await dir(t));
  await s.write('state', { n: 1 });
  await symlink('/dev/full', join(s.dir, 'state.json.tmp'));
  const e = await t.throwsAsync(s.write('state', { n: 2 }), { instanceOf: ClientError });
  t.is(e?.code, 'NO_SPACE');
  t.deepEqual(await s.read('state', schema), { n: 1 });
  t.deepEqual(await readdir(s.dir), ['state.json']);
});

test('keys that could escape the directory are refused', async (t) => {
  const s = new JsonStore(await dir(t));
  for (const k of ['../x', 'a/b', '', '.hidden']) {
    t.is((await t.throwsAsync(s.write(k, {}), { instanceOf: ClientError }))?.code, 'STORE', k);
  }
});
