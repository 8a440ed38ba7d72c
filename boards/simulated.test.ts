// The simulated board shape: boards/host-sim.yaml through the one board schema.
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAnyBoardFile, loadBoardFile, loadSimulatedBoardFile } from './load.js';
import { isSimulated } from './schema.js';

test('boards/host-sim.yaml loads as the board the simulation builds', (t) => {
  const s = loadSimulatedBoardFile('host-sim');
  t.is(s.name, 'host-sim');
  t.is(s.bootloader.type, 'simulated');
  t.is(s.disk.type, 'simulated');
  t.deepEqual(s.env.offsets, [0, 0x4000]);
  t.is(s.env.size, 0x4000);
  t.is(s.bootloader.bootlimit, 1);
  t.deepEqual(s.bootloader.values, { A: '2', B: '3' });
});

test('the bootloader type tells a simulated board from a device board', async (t) => {
  t.true(isSimulated(await loadAnyBoardFile('host-sim')));
  t.false(isSimulated(await loadAnyBoardFile('qemu-aarch64')));
  const e = await t.throwsAsync(loadBoardFile('host-sim'));
  t.regex(e!.message, /host-sim is simulated .*no disk image/);
  t.throws(() => loadSimulatedBoardFile('qemu-aarch64'), { message: /qemu-aarch64 is a device board/ });
});

test('a malformed simulated board file is reported with the path and key', async (t) => {
  const d = await mkdtemp(join(tmpdir(), 'flipside-spec-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  const f = join(d, 'host-sim.yaml');
  await writeFile(f, 'name: host-sim\nbootloader: { type: simulated }\nenv: { offsets: ["0x0"], size: 12 }\n');
  const e = t.throws(() => loadSimulatedBoardFile(f));
  t.regex(e!.message, /host-sim\.yaml: .*env\.offsets/);
});
