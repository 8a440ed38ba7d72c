// BootEnv over a GRUB environment block file (grubenv), the format `grub-editenv` and GRUB's
// load_env/save_env use.
//
// How a write lands, and why: GRUB's save_env rewrites the block in place, through its
// filesystem driver, into the sectors the file already occupies (so the file must exist at full
// size, uncompressed, and GRUB finds it by path on every boot). grub-editenv (2.06) truncates the
// file and writes it again, which leaves an empty file if power is cut in between. We write a
// temp file of the same size in the same directory, fsync it, rename it over the block and fsync
// the directory: on ext4 the old or the new block survives a cut, never a mix, and the renamed
// file is an ordinary contiguous file GRUB's save_env can keep rewriting in place. On a FAT boot
// partition, rename is not journaled: a cut in the middle of the directory update can need fsck,
// so there, as grub-mender-grubenv does, keep two env files and write them one after the other
// (a second GrubEnv over the other file).
import { open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { checkGrubVariable, createEnvBlock, hasSignature, listVars, setVar, unsetVar, GRUB_ENVBLK_DEFAULT_SIZE } from './grub-env-block.js';
import { EnvError, type BootEnv, type EnvVars } from './types.js';

export class GrubEnv implements BootEnv {
  readonly describe: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly path: string) {
    this.describe = `grub env block ${path}`;
  }

  read(): Promise<EnvVars> {
    return this.exclusive(async () => {
      const out: EnvVars = {};
      for (const [k, v] of listVars(await this.load())) out[k.toString('utf8')] = v.toString('utf8');
      return out;
    });
  }

  /**
   * Applies the changes in the order given, as `grub-editenv set/unset` would one by one (new
   * names are appended in that order; JS puts integer-like keys of an object first).
   */
  write(changes: Record<string, string | null>): Promise<void> {
    return this.exclusive(async () => {
      for (const [name, value] of Object.entries(changes)) checkGrubVariable(name, value);
      const block = await this.load();
      for (const [name, value] of Object.entries(changes)) {
        const key = Buffer.from(name, 'utf8');
        if (value === null) unsetVar(block, key);
        else if (!setVar(block, key, Buffer.from(value, 'utf8'))) {
          throw new EnvError('TOO_LARGE', `grub env: ${this.path} (${block.length} bytes) has no room for ${JSON.stringify(name)}; nothing written`);
        }
      }
      await replaceFileDurably(this.path, block);
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async load(): Promise<Buffer> {
    let buf: Buffer;
    try {
      buf = await readFile(this.path);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') throw new EnvError('LOCATION_MISMATCH', `grub env: no block at ${this.path} (create it with grub-editenv ${this.path} create)`);
      throw new EnvError('IO', `grub env: cannot read ${this.path}: ${e.message}`);
    }
    if (!hasSignature(buf)) {
      throw new EnvError('LOCATION_MISMATCH', `grub env: ${this.path} is not a GRUB environment block (no "# GRUB Environment Block" header)`);
    }
    return buf;
  }
}

/** Creates an empty block like `grub-editenv FILE create` (fails if the file exists). */
export async function createGrubEnvFile(path: string, size = GRUB_ENVBLK_DEFAULT_SIZE): Promise<void> {
  try {
    await writeFile(path, createEnvBlock(size), { flag: 'wx' });
  } catch (err) {
    throw new EnvError('IO', `grub env: cannot create ${path}: ${(err as Error).message}`);
  }
}

async function replaceFileDurably(path: string, data: Buffer): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const { mode } = await stat(path);
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(data);
      await fh.chmod(mode & 0o7777);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new EnvError('IO', `grub env: cannot write ${path}: ${(err as Error).message}`);
  }
}
