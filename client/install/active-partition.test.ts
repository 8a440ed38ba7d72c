import test from 'ava';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientError } from '../errors.js';
import { detectActiveSlot, rootFromCmdline, rootFromMountTable } from './active-partition.js';

test('root= and the / mount are parsed', (t) => {
  t.is(rootFromCmdline('console=ttyS0 root=/dev/mmcblk0p3 rootwait'), '/dev/mmcblk0p3');
  t.is(rootFromCmdline('quiet'), null);
  t.is(rootFromMountTable('proc /proc proc rw 0 0\n/dev/vda2 / ext4 rw 0 0\n/dev/vda4 /data ext4 rw 0 0\n'), '/dev/vda2');
  t.is(rootFromMountTable('overlay /x overlay rw 0 0\n'), null);
});

test('detectActiveSlot from cmdline or mounts, through symlinks; a mismatch names everything', async (t) => {
  const d = await mkdtemp(join(tmpdir(), 'flipside-active-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  const a = join(d, 'a.img');
  const b = join(d, 'b.img');
  await writeFile(a, '');
  await writeFile(b, '');
  await symlink(b, join(d, 'by-label-b'));
  const cmdline = join(d, 'cmdline');
  const mounts = join(d, 'mounts');
  const src = { from: 'cmdline' as const, procCmdline: cmdline, mountTable: mounts, partA: a, partB: b };
  await writeFile(cmdline, `root=${a} rw\n`);
  t.is(await detectActiveSlot(src), 'A');
  await writeFile(cmdline, `root=${join(d, 'by-label-b')}\n`);
  t.is(await detectActiveSlot(src), 'B');
  await writeFile(mounts, `${b} / ext4 rw 0 0\n`);
  t.is(await detectActiveSlot({ ...src, from: 'mount' }), 'B');
  await writeFile(cmdline, 'root=/dev/sda9\n');
  const e = await t.throwsAsync(detectActiveSlot(src), { instanceOf: ClientError });
  t.is(e?.code, 'PARTITION');
  t.regex(e!.message, /root \/dev\/sda9 .* matches neither RootfsPartA .*a\.img nor RootfsPartB .*b\.img/);
  await writeFile(cmdline, 'quiet\n');
  await t.throwsAsync(detectActiveSlot(src), { message: /no root= parameter/ });
});
