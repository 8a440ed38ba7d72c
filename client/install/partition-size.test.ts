import test from 'ava';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientError } from '../errors.js';
import { partitionSize } from './partition-size.js';

test('a file partition is its length; missing paths and directories are PARTITION errors', async (t) => {
  const d = await mkdtemp(join(tmpdir(), 'flipside-psize-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  await writeFile(join(d, 'p.img'), Buffer.alloc(12345));
  t.is(await partitionSize(join(d, 'p.img')), 12345);
  t.is((await t.throwsAsync(partitionSize(join(d, 'nope')), { instanceOf: ClientError }))?.code, 'PARTITION');
  await t.throwsAsync(partitionSize(d), { message: /neither a block device nor a file/ });
});

// Only where the host has a readable block device (CI VMs usually have /dev/vda or /dev/sda).
const dev = ['/dev/vda', '/dev/sda', '/dev/nvme0n1'].find((p) => existsSync(p) && statSync(p).isBlockDevice());
(dev ? test : test.skip)(`a block device's size comes from sysfs (${dev ?? 'none here'})`, async (t) => {
  const name = dev!.split('/').pop()!;
  const sectors = Number(readFileSync(`/sys/class/block/${name}/size`, 'utf8').trim());
  t.is(await partitionSize(dev!), sectors * 512);
});
