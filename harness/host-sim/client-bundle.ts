// The client as the host-sim runs it: the same single-file bundle a device gets, built once per
// process into a temp dir (fast to start, and it tests the bundle), or `node --import tsx
// client/cli.ts` for debugging with source maps.
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDeviceBundle } from '../../client/build-device.js';
import { processTempDir } from '../run/temp-dir.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let built: Promise<string> | null = null;

export function clientBundle(): Promise<string> {
  if (!built) {
    const dir = processTempDir('flipside-bundle-');
    built = buildDeviceBundle(join(dir, 'flipside.cjs'));
  }
  return built;
}

export type ClientRunner = 'bundle' | 'tsx';

/** argv (node executable first) that runs the client CLI. */
export async function clientCommand(runner: ClientRunner): Promise<string[]> {
  if (runner === 'tsx') return [process.execPath, '--import', 'tsx', join(root, 'client', 'cli.ts')];
  return [process.execPath, await clientBundle()];
}
