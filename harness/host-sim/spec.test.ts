import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadHostSimSpec } from './spec.js';

test('boards/host-sim.yaml loads as the board the simulation builds', (t) => {
  const s = loadHostSimSpec();
  t.is(s.name, 'host-sim');
  t.deepEqual(s.env.offsets, [0, 0x4000]);
  t.is(s.env.size, 0x4000);
  t.is(s.bootloader.bootlimit, 1);
  t.deepEqual(s.bootloader.values, { A: '2', B: '3' });
});

test('a malformed board file is reported with the path and key', async (t) => {
  const d = await mkdtemp(join(tmpdir(), 'flipside-spec-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  const f = join(d, 'host-sim.yaml');
  await writeFile(f, 'name: host-sim\nenv: { offsets: ["0x0"], size: 12 }\n');
  const e = t.throws(() => loadHostSimSpec(f));
  t.regex(e!.message, /host-sim\.yaml: .*env\.offsets/);
});
