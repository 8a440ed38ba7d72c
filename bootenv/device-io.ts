// Positional reads and durable writes on env storage: a plain file (host-sim, image files) or a
// block device (/dev/mmcblk0, /dev/vda). Never opens for truncation or append, so a device is
// only ever touched at the bytes asked for.
import { open, readFile, stat, writeFile, access } from 'node:fs/promises';
import { constants } from 'node:fs';
import { basename } from 'node:path';
import { EnvError, type WriteObserver } from './types.js';

function ioError(what: string, path: string, err: unknown): EnvError {
  return new EnvError('IO', `${what} ${path}: ${(err as Error).message}`);
}

/** Up to `length` bytes at `offset`; shorter when the file/device ends first. */
export async function readAt(path: string, offset: number, length: number): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw ioError('cannot open', path, err);
  }
  try {
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  } catch (err) {
    throw ioError('cannot read', path, err);
  } finally {
    await fh.close();
  }
}

/** Writes `data` at `offset` and fsyncs before returning; `observer` hears of each write and the fsync. */
export async function writeAtDurably(path: string, offset: number, data: Buffer, observer?: WriteObserver): Promise<void> {
  const unprotect = await emmcBootForceRo(path);
  let fh;
  try {
    await unprotect?.(false);
    fh = await open(path, 'r+');
    let done = 0;
    while (done < data.length) {
      observer?.write(path, offset + done, data.length - done);
      const { bytesWritten } = await fh.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
    await fh.sync();
    observer?.sync(path);
  } catch (err) {
    throw err instanceof EnvError ? err : ioError('cannot write', path, err);
  } finally {
    await fh?.close();
    await unprotect?.(true).catch(() => undefined);
  }
}

/** Size in bytes of a regular file or block device. */
export async function deviceSize(path: string): Promise<number> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw ioError('cannot stat', path, err);
  }
  if (!st.isBlockDevice()) return st.size;
  // fstat reports 0 for block devices and Node has no BLKGETSIZE64 ioctl: sysfs has the size in 512-byte sectors.
  const rdev = st.rdev;
  const major = (Math.floor(rdev / 256) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | (Math.floor(rdev / 4096) & 0xfff00);
  try {
    return Number((await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8')).trim()) * 512;
  } catch (err) {
    throw ioError('cannot get the size of block device', path, err);
  }
}

/** A negative fw_env.config offset counts back from the end of the device, as libubootenv does. */
export async function resolveOffset(path: string, offset: number): Promise<number> {
  return offset >= 0 ? offset : (await deviceSize(path)) + offset;
}

/**
 * eMMC boot partitions (mmcblkNbootM) are read-only until force_ro is cleared; libubootenv
 * clears it around its write and sets it again after. Returns a toggle, or null when the device
 * has no such switch.
 */
async function emmcBootForceRo(path: string): Promise<((on: boolean) => Promise<void>) | null> {
  const name = basename(path);
  if (!/^mmcblk[0-9]+boot[0-9]+$/.test(name)) return null;
  const sysfs = `/sys/class/block/${name}/force_ro`;
  try {
    await access(sysfs, constants.W_OK);
  } catch {
    return null;
  }
  return (on) => writeFile(sysfs, on ? '1' : '0');
}
