// Test helpers: a server on a temp data dir with an admin logged in, artifact uploads built as
// multipart bodies, device acceptance (all from the product module admin-client.ts), plus the
// conformance artifacts, an accepted simulated device and small artifacts built in memory.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeArtifactToBuffer } from '../../artifact/to-buffer.js';
import { acceptDevice, startScratchServer, type ScratchServer } from '../admin-client.js';
import { SimDevice, injectTransport, type SimDeviceOptions } from './device-sim.js';

export { ADMIN, acceptDevice, createDeployment, login, multipartBody, uploadArtifact } from '../admin-client.js';

/** The shared reference folder sits beside the repository (also in CI's fresh clone). */
export { SHARED_DIR, CONFORMANCE_DIR } from '../../test-support/shared-dir.js';
import { CONFORMANCE_DIR } from '../../test-support/shared-dir.js';

/** A scratch server with the admin logged in (server-mock/admin-client.ts). */
export type TestServer = ScratchServer;
export const startTestServer = startScratchServer;

export function conformanceArtifact(name: string): Buffer {
  return readFileSync(join(CONFORMANCE_DIR, `${name}.mender`));
}

/** A device that has asked once, been accepted and holds a token. */
export async function acceptedDevice(t: TestServer, opts: SimDeviceOptions = {}): Promise<SimDevice> {
  const d = new SimDevice(injectTransport(t.app), opts);
  const first = await d.authenticate();
  if (first.status !== 401) throw new Error(`expected 401 for a new device, got ${first.status}`);
  await acceptDevice(t, d.identity);
  const second = await d.authenticate();
  if (second.status !== 200) throw new Error(`expected 200 after accept, got ${second.status}`);
  return d;
}

/** A small artifact in memory (module-image with one file). */
export async function makeArtifact(name: string, deviceTypes: string[], opts: { type?: string; content?: Buffer } = {}): Promise<Buffer> {
  return writeArtifactToBuffer({
    type: opts.type ?? 'single-file',
    kind: 'module-image',
    name,
    deviceTypes,
    files: [{ name: 'payload.bin', content: opts.content ?? Buffer.from(`payload of ${name}\n`) }],
  });
}
