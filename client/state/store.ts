// The client's crash-safe store: one JSON document per key, each replaced atomically and durably
// (write a temp file, fsync it, rename over the old one, fsync the directory). After `write`
// resolves the new value survives a power cut; a cut during it leaves the old value or the new,
// never a torn file. Every failure becomes a ClientError (NO_SPACE when the data partition is full)
// and leaves the previous value in place.
import { open, readFile, rename, unlink, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { ClientError, errorMessage } from '../errors.js';
import { INJECTED_BUG } from '../injected-bug.js';
import { traceOp } from '../test-hooks.js';

const KEY_RE = /^[a-z0-9][a-z0-9._-]*$/;

export class JsonStore {
  constructor(readonly dir: string) {}

  private path(key: string): string {
    if (!KEY_RE.test(key)) throw new ClientError('STORE', `invalid store key ${JSON.stringify(key)}`);
    return join(this.dir, `${key}.json`);
  }

  /** The stored value validated by `schema`, or null when the key was never written. */
  async read<T>(key: string, schema: z.ZodType<T, z.ZodTypeDef, unknown>): Promise<T | null> {
    const file = this.path(key);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new ClientError('STORE', `cannot read ${file}: ${errorMessage(e)}`, { cause: e });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new ClientError('STORE', `${file} is not valid JSON: ${errorMessage(e)}`, { cause: e });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new ClientError('STORE', `${file} has unexpected content: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    return parsed.data;
  }

  async write(key: string, value: unknown): Promise<void> {
    const file = this.path(key);
    const tmp = `${file}.tmp`;
    const data = Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
    try {
      await mkdir(this.dir, { recursive: true });
      if (INJECTED_BUG === 'store-in-place') {
        traceOp({ op: 'file', path: file, bytes: data });
        await writeFile(file, data, { mode: 0o600 });
        return;
      }
      const fh = await open(tmp, 'w', 0o600);
      try {
        traceOp({ op: 'file', path: tmp, bytes: data });
        await fh.writeFile(data);
        await fh.sync();
        traceOp({ op: 'fsync', path: tmp });
      } finally {
        await fh.close();
      }
      traceOp({ op: 'rename', from: tmp, to: file });
      await rename(tmp, file);
      if (INJECTED_BUG !== 'no-dir-fsync') await this.syncDir();
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw storeError(e, `cannot write ${file}`);
    }
  }

  async remove(key: string): Promise<void> {
    const file = this.path(key);
    try {
      traceOp({ op: 'unlink', path: file });
      await unlink(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw storeError(e, `cannot remove ${file}`);
    }
    await this.syncDir().catch((e: unknown) => {
      throw storeError(e, `cannot sync ${this.dir}`);
    });
  }

  // The rename is only durable once the directory entry is on disk.
  private async syncDir(): Promise<void> {
    const dh = await open(this.dir, 'r');
    try {
      await dh.sync();
      traceOp({ op: 'dsync', path: this.dir });
    } finally {
      await dh.close();
    }
  }
}

function storeError(e: unknown, what: string): ClientError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG') {
    return new ClientError('NO_SPACE', `${what}: data partition is full (${code})`, { cause: e });
  }
  return new ClientError('STORE', `${what}: ${errorMessage(e)}`, { cause: e });
}
