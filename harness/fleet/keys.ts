// Device keys for a simulated fleet, derived from the fleet seed and the device's index: the
// orchestrator (which preauthorizes the public keys) and the device processes (which sign with the
// private keys) compute the same key without passing 10,000 keys between processes. Ed25519,
// which the server accepts as Mender does, because generating 10,000 RSA keys takes minutes.
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import type { DeviceKey } from '../../client/identity/device-key.js';

// PKCS#8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410).
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export function fleetDeviceKey(seed: number, index: number): DeviceKey {
  const raw = createHash('sha256').update(`flipside-fleet:${seed}:${index}`).digest();
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string;
  return { type: 'ed25519', privateKey, publicKeyPem, path: `fleet-device-${index}` };
}

/** The identity a simulated device presents (and the management API preauthorizes). */
export function fleetIdentity(runId: string, index: number): Record<string, string> {
  return { mac: macOf(index), serial: `${runId}-${index}` };
}

function macOf(index: number): string {
  const bytes = [0x02, 0x46, (index >>> 24) & 0xff, (index >>> 16) & 0xff, (index >>> 8) & 0xff, index & 0xff];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
