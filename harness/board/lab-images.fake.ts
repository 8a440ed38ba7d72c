// Stand-in card images for LabBoard tests (LabBoardOptions.buildImages): a 17 MiB "card" with a
// 4 MiB ext4 data partition at 4 MiB (the only one with bytes; the rootfs entries are there for
// the configs that name their devices), room for env copies at 8 and 16 MiB, and one small file
// standing in for every artifact.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../qemu/image/exec.js';
import type { BuiltImage } from '../../qemu/image/build.js';
import type { DiskLayout } from '../../qemu/image/layout.js';
import type { LabImages } from './lab-artifacts.js';
import { ARTIFACT_ROLES } from './board.js';

const MiB = 2 ** 20;

export async function fakeImages(dir: string): Promise<LabImages> {
  const disk = join(dir, 'current.img');
  const data = join(dir, 'data.ext4');
  await run('truncate', ['-s', `${17 * MiB}`, disk]);
  await run('mke2fs', ['-q', '-F', '-t', 'ext4', data, '4M']);
  await run('dd', [`if=${data}`, `of=${disk}`, 'bs=1M', 'seek=4', 'conv=notrunc', 'status=none']);
  const layout = {
    totalSize: 17 * MiB,
    partitions: [
      { role: 'rootfsA', number: 2, offset: 0, size: 0, device: '/dev/mmcblk0p2', mbrType: '83' },
      { role: 'rootfsB', number: 3, offset: 0, size: 0, device: '/dev/mmcblk0p3', mbrType: '83' },
      { role: 'data', number: 4, offset: 4 * MiB, size: 4 * MiB, device: '/dev/mmcblk0p4', mbrType: '83' },
    ],
    env: { offsets: [0x800000, 0x1000000], size: 0x4000, device: '/dev/mmcblk0' },
  } as unknown as DiskLayout;
  const artifact = join(dir, 'next.mender');
  writeFileSync(artifact, 'not really an artifact');
  return {
    current: { disk, layout } as unknown as BuiltImage,
    artifacts: Object.fromEntries(ARTIFACT_ROLES.map((r) => [r, artifact])) as LabImages['artifacts'],
  };
}
