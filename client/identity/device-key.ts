// The device's authentication key: generated once into the data dir, then loaded on every start.
// Losing or replacing it makes the server see a new device (a new pending auth set), so a key
// file that exists but cannot be parsed is an error, never silently regenerated.
// File name as Mender's (mender-agent.pem): a data dir taken over from Mender keeps its identity.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { replaceFile } from '../durable.js';
import { KEY_TYPES, isKeyType, type KeyType } from './key-types.js';

export const KEY_FILE = 'mender-agent.pem';
export { KEY_TYPES, isKeyType, type KeyType };
export const DEFAULT_KEY_TYPE: KeyType = 'ed25519';

export class DeviceKeyError extends Error {
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(`device key ${path}: ${message}`, options);
    this.name = 'DeviceKeyError';
    this.path = path;
  }
}

export interface DeviceKey {
  type: KeyType;
  privateKey: KeyObject;
  /** SPKI PEM, as sent in auth requests. */
  publicKeyPem: string;
  path: string;
}

function generate(type: KeyType): KeyObject {
  switch (type) {
    case 'ed25519':
      return generateKeyPairSync('ed25519').privateKey;
    case 'rsa3072':
      return generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey;
    case 'ecdsa-p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  }
}

function typeOf(key: KeyObject, path: string): KeyType {
  const t = key.asymmetricKeyType;
  if (t === 'ed25519') return 'ed25519';
  if (t === 'rsa') {
    // Mender 3.x keys are RSA 3072; older ones 2048. The server refuses shorter ones.
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new DeviceKeyError(path, 'RSA key shorter than 2048 bits');
    return 'rsa3072';
  }
  if (t === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ecdsa-p256';
  throw new DeviceKeyError(path, `unsupported key type ${t}${t === 'ec' ? ` (${key.asymmetricKeyDetails?.namedCurve})` : ''}`);
}

function wrap(privateKey: KeyObject, path: string): DeviceKey {
  const type = typeOf(privateKey, path);
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string;
  return { type, privateKey, publicKeyPem, path };
}

/** Reads the key in the data dir; null when there is none yet. */
export async function loadDeviceKey(dataDir: string): Promise<DeviceKey | null> {
  const path = join(dataDir, KEY_FILE);
  let pem: Buffer;
  try {
    pem = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new DeviceKeyError(path, `cannot read: ${(e as Error).message}`, { cause: e });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw new DeviceKeyError(path, `not a PEM private key (remove it to generate a new identity): ${(e as Error).message}`, { cause: e });
  }
  return wrap(key, path);
}

/** Generates a key of `type` and writes it (PKCS#8 PEM, mode 0600) atomically; replaces any old one. */
export async function createDeviceKey(dataDir: string, type: KeyType = DEFAULT_KEY_TYPE): Promise<DeviceKey> {
  const path = join(dataDir, KEY_FILE);
  const key = generate(type);
  const pem = key.export({ type: 'pkcs8', format: 'pem' }) as string;
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await replaceFile(path, pem, { mode: 0o600 });
  } catch (e) {
    throw new DeviceKeyError(path, `cannot write: ${(e as Error).message}`, { cause: e });
  }
  return wrap(key, path);
}

/** The key of the data dir, generated on first start. */
export async function loadOrCreateDeviceKey(dataDir: string, type: KeyType = DEFAULT_KEY_TYPE): Promise<DeviceKey> {
  return (await loadDeviceKey(dataDir)) ?? createDeviceKey(dataDir, type);
}

/**
 * X-MEN-Signature: base64 signature over the exact body bytes. RSA PKCS#1 v1.5 over SHA-256,
 * ECDSA P-256 over SHA-256 as ASN.1 DER (Go's ecdsa.SignASN1, what the server expects),
 * Ed25519 pure (no pre-hash).
 */
export function signRequest(key: DeviceKey, body: Buffer): string {
  const alg = key.type === 'ed25519' ? null : 'sha256';
  return sign(alg, body, key.privateKey).toString('base64');
}
