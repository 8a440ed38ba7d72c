import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { canonicalPem, parseDevicePublicKey, PublicKeyError } from './request-signature.js';

const pem = () => generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;

test('a key parsed once is the same key object the next time (the auth path does not parse it again)', (t) => {
  const p = pem();
  const a = parseDevicePublicKey(p);
  t.is(parseDevicePublicKey(p), a);
  t.is(a.asymmetricKeyType, 'ed25519');
  t.not(parseDevicePublicKey(pem()), a);
});

test('a bad or weak key is refused every time, never kept', (t) => {
  t.throws(() => parseDevicePublicKey('not a key'), { instanceOf: PublicKeyError });
  t.throws(() => parseDevicePublicKey('not a key'), { instanceOf: PublicKeyError });
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
  t.throws(() => parseDevicePublicKey(weak), { instanceOf: PublicKeyError, message: /2048/ });
  t.throws(() => parseDevicePublicKey(weak), { instanceOf: PublicKeyError, message: /2048/ });
});

test('the canonical PEM of a key is its SPKI export, whatever form it came in, and the same string each time', (t) => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  // The same key with other line breaks: parsed anew, same canonical form.
  const reflowed = spki.replace(/\n/g, '\r\n');
  const a = parseDevicePublicKey(reflowed);
  t.is(canonicalPem(a), spki);
  t.is(canonicalPem(a), canonicalPem(parseDevicePublicKey(spki)));
  t.is(canonicalPem(a), canonicalPem(a));
});
