// Checks X-MEN-Signature: base64 of the device key's signature over the raw request body,
// SHA-256 with RSA PKCS#1 v1.5, ECDSA (ASN.1 DER, as Go's crypto/ecdsa writes) or Ed25519.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';

export class PublicKeyError extends Error {}

/** Parses a PEM public key; accepts the key types Mender clients use. */
// Parsed keys by PEM text: every auth request carries its key, and parsing it was 13 % of the
// server's time while 10,000 devices booted (harness/fleet). A KeyObject is immutable; only keys
// that passed the checks below are kept, the oldest dropped first past the bound.
const parsed = new Map<string, KeyObject>();
export const PARSED_KEYS_KEPT = 20_000;

export function parseDevicePublicKey(pem: string): KeyObject {
  const known = parsed.get(pem);
  if (known) return known;
  const key = parseUncached(pem);
  if (parsed.size >= PARSED_KEYS_KEPT) parsed.delete(parsed.keys().next().value!);
  parsed.set(pem, key);
  return key;
}

// The canonical SPKI PEM of a parsed key (what auth sets store), kept with the key: exporting
// it on every auth request was 1.2 % of the server's busy samples in the 3,000-device fleet run.
const canonical = new WeakMap<KeyObject, string>();

/** The key in the one PEM form the store keeps, so the same key always finds the same auth set. */
export function canonicalPem(key: KeyObject): string {
  let pem = canonical.get(key);
  if (pem === undefined) {
    pem = key.export({ type: 'spki', format: 'pem' }) as string;
    canonical.set(key, pem);
  }
  return pem;
}

function parseUncached(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw new PublicKeyError(`cannot parse pubkey: ${(e as Error).message}`);
  }
  const type = key.asymmetricKeyType;
  if (type !== 'rsa' && type !== 'ec' && type !== 'ed25519') throw new PublicKeyError(`unsupported key type ${type}`);
  if (type === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new PublicKeyError('RSA keys shorter than 2048 bits are refused');
  return key;
}

export function verifyRequestSignature(key: KeyObject, body: Buffer, signatureB64: string): boolean {
  const sig = Buffer.from(signatureB64, 'base64');
  if (sig.length === 0) return false;
  try {
    if (key.asymmetricKeyType === 'ed25519') return verify(null, body, key, sig);
    if (key.asymmetricKeyType === 'ec') {
      // DER first (Go's ecdsa.SignASN1); raw r||s as some clients send it.
      return verify('sha256', body, key, sig) || verify('sha256', body, { key, dsaEncoding: 'ieee-p1363' }, sig);
    }
    return verify('sha256', body, key, sig);
  } catch {
    return false;
  }
}
