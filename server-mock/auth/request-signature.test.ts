import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { parseDevicePublicKey, PublicKeyError } from './request-signature.js';

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
