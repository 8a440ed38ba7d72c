// The client's crash-safe store: one JSON document per key, each replaced atomically and durably
// (durable.ts replaceFile). After `write`
// resolves the new value survives a power cut; a cut during it leaves the old value or the new,
// never a torn file. Every failure becomes a ClientError (NO_SPACE when the data partition is full)
// and leaves the previous value in place.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { removeDurably, replaceFile } from '../durable.js';
import { ClientError, errorMessage } from '../errors.js';

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
    try {
      await replaceFile(file, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
    } catch (e) {
      throw storeError(e, `cannot write ${file}`);
    }
  }

  async remove(key: string): Promise<void> {
    const file = this.path(key);
    try {
      await removeDurably(file);
    } catch (e) {
      throw storeError(e, `cannot remove ${file}`);
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
