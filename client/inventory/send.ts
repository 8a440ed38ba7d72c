// Sends the inventory with PUT /api/devices/v1/inventory/device/attributes (PUT, as the recorded
// 3.5.3 client does: the server replaces the device's attributes, so removed ones disappear).
// Skips the request when the payload is the one last accepted by the same server (Mender 4.x
// does this; 3.5.3 resent every time): the hash of server + body lives in the data dir so a
// restart does not resend either. invalidate() forgets it (call on re-authentication: the
// server may have lost or reset the device).
import { createHash } from 'node:crypto';
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApiClient } from '../api/client.js';
import { ApiError } from '../api/errors.js';
import { goJson } from '../api/go-json.js';
import { replaceFile } from '../durable.js';
import type { InventoryAttribute } from './collect.js';

export const INVENTORY_PATH = '/api/devices/v1/inventory/device/attributes';
export const HASH_FILE = 'inventory.sha256';

export function inventoryBody(attrs: InventoryAttribute[]): string {
  // Struct field order name, value (Go's InventoryAttribute).
  return `[${attrs.map((a) => `{"name":${goJson(a.name)},"value":${goJson(a.value)}}`).join(',')}]`;
}

export class InventorySender {
  private readonly hashFile: string;

  constructor(
    private readonly api: ApiClient,
    dataDir: string,
  ) {
    this.hashFile = join(dataDir, HASH_FILE);
  }

  /** 'unchanged' when the same payload was already accepted by this server. */
  async send(attrs: InventoryAttribute[], opts: { force?: boolean } = {}): Promise<'sent' | 'unchanged'> {
    if (attrs.length === 0) throw new TypeError('refusing to send an empty inventory (PUT would erase the device attributes)');
    const json = inventoryBody(attrs);
    const hash = createHash('sha256').update(this.api.server).update('\0').update(json).digest('hex');
    if (!opts.force && (await this.lastHash()) === hash) return 'unchanged';
    const res = await this.api.request({ method: 'PUT', path: INVENTORY_PATH, json });
    if (res.status !== 200 && res.status !== 204) throw new ApiError('sending the inventory', res);
    // The hash names the server that was actually reached (request() may have failed over).
    const sentTo = createHash('sha256').update(this.api.server).update('\0').update(json).digest('hex');
    await replaceFile(this.hashFile, `${sentTo}\n`, { mode: 0o600 });
    return 'sent';
  }

  async invalidate(): Promise<void> {
    await unlink(this.hashFile).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }

  private async lastHash(): Promise<string | null> {
    try {
      return (await readFile(this.hashFile, 'utf8')).trim();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }
}
