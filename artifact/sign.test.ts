import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArtifactError } from './errors.js';
import { readArtifact } from './reader.js';
import { loadPrivateKey, loadPublicKey, resignArtifact, signManifest, verifyManifest } from './sign.js';
import { splitTar, tempDir, VECTORS, writeToBuffer } from './testing/support.js';

const keyFile = (n: string) => readFileSync(join(VECTORS, 'keys', n), 'utf8');

test('loads PKCS#8, SEC1, PKCS#1 private keys and SPKI / PKCS#1 public keys', (t) => {
  t.is(loadPrivateKey(keyFile('ecdsa-p256.key')).asymmetricKeyType, 'ec'); // PKCS#8
  t.is(loadPrivateKey(keyFile('ecdsa-p256.sec1.key')).asymmetricKeyType, 'ec'); // SEC1
  t.is(loadPrivateKey(keyFile('rsa3072.key')).asymmetricKeyType, 'rsa');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pkcs1 = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
  t.true(pkcs1.includes('BEGIN RSA PRIVATE KEY'));
  t.is(loadPrivateKey(pkcs1).asymmetricKeyType, 'rsa');
  t.is(loadPublicKey(keyFile('rsa3072.pub')).type, 'public'); // SPKI
  t.is(loadPublicKey(rsa.publicKey.export({ type: 'pkcs1', format: 'pem' })).type, 'public');
  t.is(loadPublicKey(keyFile('ecdsa-p256.key')).type, 'public'); // public half of a private key
});

test('refuses other curves, other key types and garbage with BAD_KEY', (t) => {
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const ed = generateKeyPairSync('ed25519');
  for (const k of [p384.privateKey, ed.privateKey, 'garbage']) {
    const e = t.throws(() => loadPrivateKey(k), { instanceOf: ArtifactError });
    t.is(e?.code, 'BAD_KEY');
  }
  t.is(t.throws(() => loadPublicKey(p384.publicKey), { instanceOf: ArtifactError })?.code, 'BAD_KEY');
});

test('sign/verify: RSA and ECDSA (raw r||s written, raw and DER accepted)', (t) => {
  const m = Buffer.from('abc  version\n');
  const rsaSig = signManifest(m, keyFile('rsa3072.key'));
  t.is(Buffer.from(rsaSig, 'base64').length, 384);
  t.notThrows(() => verifyManifest(m, rsaSig, [keyFile('rsa3072.pub')]));
  const ecSig = signManifest(m, keyFile('ecdsa-p256.key'));
  t.is(Buffer.from(ecSig, 'base64').length, 64);
  t.notThrows(() => verifyManifest(m, ecSig, [keyFile('ecdsa-p256.pub')]));
  t.is(t.throws(() => verifyManifest(Buffer.from('abd  version\n'), ecSig, [keyFile('ecdsa-p256.pub')]), { instanceOf: ArtifactError })?.code, 'SIGNATURE_INVALID');
  t.is(t.throws(() => verifyManifest(m, rsaSig, [keyFile('ecdsa-p256.pub')]), { instanceOf: ArtifactError })?.code, 'SIGNATURE_INVALID');
});

test('resignArtifact: signs an unsigned vector in place, keeps every other member', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const p = join(dir, 'a.mender');
  copyFileSync(join(VECTORS, 'module-single-file.mender'), p);
  await resignArtifact(p, p, keyFile('rsa3072.key'));
  const h = await readArtifact(p, { verifyKeys: [keyFile('rsa3072.pub')] });
  t.is(h.signature, 'verified');
  // Same members in the same order as mender-artifact's own `sign` output, manifest.sig 0644.
  const ours = splitTar(readFileSync(p));
  const theirs = splitTar(readFileSync(join(VECTORS, 'module-single-file-signed-rsa.mender')));
  t.deepEqual(ours.map((m) => [m.name, m.mode]), theirs.map((m) => [m.name, m.mode]));
  for (const name of ['version', 'manifest', 'header.tar.gz', 'data/0000.tar.gz']) {
    t.true(ours.find((m) => m.name === name)!.body.equals(theirs.find((m) => m.name === name)!.body), name);
  }
  // RSA PKCS#1 v1.5 is deterministic: the very same signature as mender-artifact's.
  t.true(ours.find((m) => m.name === 'manifest.sig')!.body.equals(theirs.find((m) => m.name === 'manifest.sig')!.body));
});

test('resignArtifact: re-sign with another key to another path; refuseIfSigned', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const src = join(dir, 'in.mender');
  writeFileSync(src, await writeToBuffer({ type: 'x', name: 'n', deviceTypes: ['d'], files: [{ name: 'f', content: Buffer.from('1') }], key: keyFile('rsa3072.key') }));
  const out = join(dir, 'out.mender');
  await resignArtifact(src, out, keyFile('ecdsa-p256.key'));
  t.is((await readArtifact(out, { verifyKeys: [keyFile('ecdsa-p256.pub')] })).signature, 'verified');
  const e = await t.throwsAsync(resignArtifact(src, out, keyFile('ecdsa-p256.key'), { refuseIfSigned: true }), { instanceOf: ArtifactError });
  t.regex(e!.message, /already signed/);
  await t.throwsAsync(resignArtifact(join(dir, 'missing.mender'), out, keyFile('ecdsa-p256.key')));
});
