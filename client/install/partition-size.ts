// Size of a partition in bytes: a regular file's length, or a block device's size from sysfs
// (fstat reports 0 for block devices and Node has no BLKGETSIZE64).
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { ClientError, errorMessage } from '../errors.js';

export async function partitionSize(path: string): Promise<number> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    throw new ClientError('PARTITION', `cannot stat partition ${path}: ${errorMessage(e)}`, { cause: e });
  }
  if (st.isFile()) return st.size;
  if (st.isBlockDevice()) {
    const dev = basename(await realpath(path));
    const sys = `/sys/class/block/${dev}/size`;
    try {
      const sectors = Number((await readFile(sys, 'utf8')).trim());
      // sysfs counts 512-byte sectors whatever the logical block size.
      if (Number.isSafeInteger(sectors)) return sectors * 512;
    } catch (e) {
      throw new ClientError('PARTITION', `cannot read size of ${path} from ${sys}: ${errorMessage(e)}`, { cause: e });
    }
  }
  throw new ClientError('PARTITION', `partition ${path} is neither a block device nor a file`);
}
