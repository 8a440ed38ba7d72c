// `flipside bootstrap`: make sure the data dir holds a device key (Mender's `bootstrap`), or with
// `force` replace it (Mender's --forcebootstrap: the device will need accepting again).
import { mkdir } from 'node:fs/promises';
import { createDeviceKey, loadDeviceKey, DEFAULT_KEY_TYPE, type DeviceKey, type KeyType } from './device-key.js';

export interface BootstrapResult {
  key: DeviceKey;
  /** False when an existing key was kept. */
  created: boolean;
}

export async function bootstrap(dataDir: string, keyType: KeyType = DEFAULT_KEY_TYPE, opts: { force?: boolean } = {}): Promise<BootstrapResult> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (!opts.force) {
    const existing = await loadDeviceKey(dataDir);
    if (existing) return { key: existing, created: false };
  }
  return { key: await createDeviceKey(dataDir, keyType), created: true };
}
