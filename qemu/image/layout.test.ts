import test from 'ava';
import { loadBoardFile } from '../../boards/load.js';
import { computeLayout, fwEnvConfig, MiB, partition, sfdiskScript } from './layout.js';

test('partitions follow each other from firstPartitionMiB, env copies sit before them', async (t) => {
  const b = await loadBoardFile('qemu-aarch64');
  const l = computeLayout(b);
  t.deepEqual(
    l.partitions.map((p) => [p.role, p.number, p.offset / MiB, p.size / MiB, p.device]),
    [
      ['boot', 1, 8, 16, '/dev/vda1'],
      ['rootfsA', 2, 24, 192, '/dev/vda2'],
      ['rootfsB', 3, 216, 192, '/dev/vda3'],
      ['data', 4, 408, 128, '/dev/vda4'],
    ],
  );
  t.is(l.totalSize, 536 * MiB);
  t.true(Math.max(...l.env!.offsets) + l.env!.size <= partition(l, 'boot').offset);
});

test('sfdisk script uses sectors and marks the FAT boot partition', async (t) => {
  const l = computeLayout(await loadBoardFile('qemu-aarch64'));
  const s = sfdiskScript(l);
  t.true(s.startsWith('label: dos\nunit: sectors\n'));
  t.regex(s, /^start=16384, size=32768, type=c, bootable$/m);
  t.regex(s, /^start=49152, size=393216, type=83$/m);
  t.is(s.match(/^start=/gm)!.length, 4);
});

test('fw_env.config names both copies, for the guest device or a host file', async (t) => {
  const l = computeLayout(await loadBoardFile('qemu-aarch64'));
  t.is(fwEnvConfig(l), '/dev/vda 0x400000 0x4000\n/dev/vda 0x404000 0x4000\n');
  t.is(fwEnvConfig(l, '/tmp/d.img'), '/tmp/d.img 0x400000 0x4000\n/tmp/d.img 0x404000 0x4000\n');
});
