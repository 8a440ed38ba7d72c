// The lab's artifact signing keys: `trusted` signs the `signed` artifact and its public half is
// what a signature scenario puts on the device; `untrusted` signs `wrong-key`, a well-formed
// signature the device must still refuse. Made once per checkout (ECDSA P-256, as
// `mender-artifact` signs with), kept under .cache so every board and worker signs alike.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_CACHE_DIR } from '../../paths.js';

export interface LabKeys {
  trusted: KeyObject;
  untrusted: KeyObject;
  /** The trusted key's public half (PEM): the device's ArtifactVerifyKey. */
  verifyKeyPem: string;
  /** Short fingerprint of the trusted key: names the artifacts signed with it, so a new key never meets a stale signature. */
  fingerprint: string;
}

export const LAB_KEYS_DIR = join(LAB_CACHE_DIR, 'keys');

/** The PEM of a private key kept in `file`; the first process to create it wins, the others read its key. */
function keyFilePem(file: string, generate: () => KeyObject): string {
  if (!existsSync(file)) {
    const tmp = `${file}.${process.pid}.${Date.now()}`;
    writeFileSync(tmp, generate().export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    try {
      linkSync(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  return readFileSync(file, 'utf8');
}

/** An ECDSA P-256 signing key kept in `file`. */
const keyFile = (file: string): KeyObject => createPrivateKey(keyFilePem(file, () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey));

export function labSigningKeys(dir: string = LAB_KEYS_DIR): LabKeys {
  mkdirSync(dir, { recursive: true });
  const trusted = keyFile(join(dir, 'lab-trusted.pem'));
  const untrusted = keyFile(join(dir, 'lab-untrusted.pem'));
  const verifyKeyPem = createPublicKey(trusted).export({ type: 'spki', format: 'pem' }).toString();
  const fingerprint = createHash('sha256').update(verifyKeyPem).digest('hex').slice(0, 12);
  return { trusted, untrusted, verifyKeyPem, fingerprint };
}

/**
 * The device key of a board whose harness shell goes through a server the user runs (deviceconnect):
 * made once per board and checkout, written onto every card flashed, so the server sees the same
 * device each scenario and the user accepts it once.
 */
export function connectKeyPem(board: string): string {
  const dir = join(LAB_CACHE_DIR, 'connect-keys');
  mkdirSync(dir, { recursive: true });
  return keyFilePem(join(dir, `${board}.pem`), () => generateKeyPairSync('ed25519').privateKey);
}
