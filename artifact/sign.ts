// Keys and manifest signatures, as mender-artifact 4 makes them: RSA PKCS#1 v1.5 over SHA-256, and
// ECDSA P-256 over SHA-256 written as raw r||s (64 bytes), base64 in `manifest.sig`. Verification
// also takes ECDSA signatures in ASN.1 DER, as PKCS#11/KMS signers produce them.
import { createHash, createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, KeyObject, constants } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { finished } from 'node:stream/promises';
import { ByteSource } from './byte-source.js';
import { writeAll } from './drain.js';
import { ArtifactError } from './errors.js';
import { parseManifest } from './manifest.js';
import { END_OF_ARCHIVE, TarReader, encodeHeader, padding } from './tar.js';

export type KeyInput = KeyObject | string | Buffer;

function checkKind(k: KeyObject, what: string): KeyObject {
  if (k.asymmetricKeyType === 'rsa') return k;
  if (k.asymmetricKeyType === 'ec') {
    const curve = k.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1' || curve === 'P-256') return k;
    throw new ArtifactError('BAD_KEY', `${what}: ECDSA curve ${curve} is not supported (only P-256)`);
  }
  throw new ArtifactError('BAD_KEY', `${what}: key type ${k.asymmetricKeyType} is not supported (RSA or ECDSA P-256)`);
}

/** A private key from PEM (PKCS#1, SEC1 or PKCS#8) or a KeyObject. */
export function loadPrivateKey(input: KeyInput): KeyObject {
  if (input instanceof KeyObject) {
    if (input.type !== 'private') throw new ArtifactError('BAD_KEY', 'a private key is needed to sign');
    return checkKind(input, 'private key');
  }
  try {
    return checkKind(createPrivateKey(input), 'private key');
  } catch (e) {
    if (e instanceof ArtifactError) throw e;
    throw new ArtifactError('BAD_KEY', `cannot load private key: ${(e as Error).message}`);
  }
}

/** A public key from PEM (SPKI or PKCS#1), or the public half of a private key. */
export function loadPublicKey(input: KeyInput): KeyObject {
  try {
    if (input instanceof KeyObject) return checkKind(input.type === 'private' ? createPublicKey(input) : input, 'public key');
    return checkKind(createPublicKey(input), 'public key');
  } catch (e) {
    if (e instanceof ArtifactError) throw e;
    throw new ArtifactError('BAD_KEY', `cannot load public key: ${(e as Error).message}`);
  }
}

/** The base64 text of `manifest.sig` for these manifest bytes. */
export function signManifest(manifest: Buffer, key: KeyInput): string {
  const k = loadPrivateKey(key);
  const sig =
    k.asymmetricKeyType === 'rsa'
      ? cryptoSign('sha256', manifest, { key: k, padding: constants.RSA_PKCS1_PADDING })
      : cryptoSign('sha256', manifest, { key: k, dsaEncoding: 'ieee-p1363' });
  return sig.toString('base64');
}

function decodeSignature(text: Buffer | string): Buffer {
  const s = (typeof text === 'string' ? text : text.toString('latin1')).trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0 || s.length === 0) {
    throw new ArtifactError('SIGNATURE_INVALID', 'manifest.sig is not base64');
  }
  return Buffer.from(s, 'base64');
}

function verifyOne(manifest: Buffer, sig: Buffer, k: KeyObject): boolean {
  try {
    if (k.asymmetricKeyType === 'rsa') {
      return cryptoVerify('sha256', manifest, { key: k, padding: constants.RSA_PKCS1_PADDING }, sig);
    }
    if (sig.length === 64) return cryptoVerify('sha256', manifest, { key: k, dsaEncoding: 'ieee-p1363' }, sig);
    if (sig.length >= 8 && sig.length <= 72 && sig[0] === 0x30) return cryptoVerify('sha256', manifest, { key: k, dsaEncoding: 'der' }, sig);
    return false;
  } catch {
    return false;
  }
}

/**
 * Verifies `manifest.sig` against the manifest with any of the keys (the first that verifies wins,
 * like the Mender client's ArtifactVerifyKeys). Throws SIGNATURE_INVALID when none does.
 */
export function verifyManifest(manifest: Buffer, signature: Buffer | string, keys: KeyInput[]): void {
  if (keys.length === 0) throw new ArtifactError('BAD_KEY', 'no verification key given');
  const sig = decodeSignature(signature);
  const loaded = keys.map(loadPublicKey);
  if (!loaded.some((k) => verifyOne(manifest, sig, k))) {
    throw new ArtifactError('SIGNATURE_INVALID', `manifest signature does not verify with the ${loaded.length === 1 ? 'given key' : `${loaded.length} given keys`}`);
  }
}

/** Options of resignArtifact. */
export interface ResignOptions {
  /** Refuse with SIGNATURE_INVALID when the artifact is already signed (`sign` without -f). */
  refuseIfSigned?: boolean;
}

/**
 * Writes a copy of the artifact at inPath, signed with privateKey, to outPath (which may be the
 * same path: the copy goes to a temporary file beside it and is renamed over it). Streams every
 * member; the header's checksum is verified against the manifest before anything is signed.
 */
export async function resignArtifact(inPath: string, outPath: string, privateKey: KeyInput, opts: ResignOptions = {}): Promise<void> {
  const key = loadPrivateKey(privateKey);
  const tmpDir = await mkdtemp(join(dirname(outPath), '.flipside-sign-'));
  const tmpPath = join(tmpDir, 'artifact.mender');
  const input = createReadStream(inPath, { highWaterMark: 1 << 20 });
  const src = new ByteSource(input, 'artifact');
  const out = createWriteStream(tmpPath);
  out.on('error', () => undefined); // reported through writeAll / finished
  const write = (b: Buffer) => writeAll(out, b);
  const member = async (name: string, body: Buffer, mode: number, mtime: Date, owner: 'root' | '') => {
    await write(encodeHeader({ name, size: body.length, mode, mtime, owner }));
    await write(body);
    await write(Buffer.alloc(padding(body.length)));
  };
  try {
    const tar = new TarReader(src, 'artifact');
    let h = await tar.next();
    if (!h || h.name !== 'version') throw new ArtifactError('ORDER', 'artifact does not start with version');
    const version = await tar.readAll(4096, 'version');
    h = await tar.next();
    if (!h || h.name !== 'manifest') throw new ArtifactError('ORDER', 'manifest does not follow version');
    const manifestBytes = await tar.readAll(1 << 20, 'manifest');
    const manifest = parseManifest(manifestBytes);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    if (manifest.get('version') !== sha(version)) throw new ArtifactError('CHECKSUM_MISMATCH', 'version does not match the manifest');
    await member('version', version, 0o600, new Date(0), '');
    await member('manifest', manifestBytes, 0o600, new Date(0), '');
    // mender-artifact's `sign` writes manifest.sig with mode 0644.
    await member('manifest.sig', Buffer.from(signManifest(manifestBytes, key)), 0o644, new Date(0), '');
    for (h = await tar.next(); h; h = await tar.next()) {
      if (h.name === 'manifest.sig') {
        if (opts.refuseIfSigned) throw new ArtifactError('SIGNATURE_INVALID', 'Artifact already signed, refusing to re-sign. Use force option to override');
        continue;
      }
      if (h.name === 'manifest-augment') {
        await member(h.name, await tar.readAll(1 << 20, h.name), h.mode, h.mtime, '');
        continue;
      }
      if (h.name.startsWith('header.tar')) {
        const body = await tar.readAll(16 << 20, h.name);
        if (manifest.get(h.name) !== sha(body)) throw new ArtifactError('CHECKSUM_MISMATCH', `${h.name} does not match the manifest`);
        await member(h.name, body, h.mode, h.mtime, 'root');
        continue;
      }
      await write(encodeHeader({ name: h.name, size: h.size, mode: h.mode, mtime: h.mtime, owner: 'root' }));
      for await (const c of tar.body()) await write(c);
      await write(Buffer.alloc(padding(h.size)));
    }
    await write(END_OF_ARCHIVE);
    out.end();
    await finished(out);
    await rename(tmpPath, outPath);
  } catch (e) {
    out.destroy();
    input.destroy();
    throw e;
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
}
