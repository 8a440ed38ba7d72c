import test from 'ava';
import { chmod, mkdtemp, readFile, rm, stat, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicKey, verify } from 'node:crypto';
import { bootstrap } from './bootstrap.js';
import { KEY_FILE, KEY_TYPES, loadDeviceKey, loadOrCreateDeviceKey, signRequest, DeviceKeyError } from './device-key.js';
import { identityJson, readIdentity, IdentityError } from './identity.js';
import { parseKeyValueLines, KeyValueError } from './key-value-lines.js';

async function tmp(t: { teardown(f: () => Promise<void>): void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'flipside-id-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

async function script(dir: string, name: string, body: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, `#!/bin/sh\n${body}\n`);
  await chmod(p, 0o755);
  return p;
}

test('first start generates an Ed25519 key, mode 0600, loaded unchanged afterwards', async (t) => {
  const dir = await tmp(t);
  const k1 = await loadOrCreateDeviceKey(dir);
  t.is(k1.type, 'ed25519');
  t.is((await stat(join(dir, KEY_FILE))).mode & 0o777, 0o600);
  const k2 = await loadOrCreateDeviceKey(dir, 'rsa3072');
  t.is(k2.publicKeyPem, k1.publicKeyPem);
  t.regex(k1.publicKeyPem, /^-----BEGIN PUBLIC KEY-----\n/);
  // No temp files left behind by the atomic write.
  t.deepEqual(await readdir(dir), [KEY_FILE]);
});

for (const type of KEY_TYPES) {
  test(`bootstrap with ${type}: signature verifies with the public key`, async (t) => {
    const dir = await tmp(t);
    const { key, created } = await bootstrap(join(dir, 'data'), type);
    t.true(created);
    t.is(key.type, type);
    const body = Buffer.from('{"id_data":"{}"}\n');
    const sig = Buffer.from(signRequest(key, body), 'base64');
    const pub = createPublicKey(key.publicKeyPem);
    t.true(verify(type === 'ed25519' ? null : 'sha256', body, pub, sig));
    if (type === 'rsa3072') t.is(pub.asymmetricKeyDetails?.modulusLength, 3072);
    if (type === 'ecdsa-p256') t.is(pub.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  });
}

test('bootstrap keeps an existing key unless forced', async (t) => {
  const dir = await tmp(t);
  const a = await bootstrap(dir, 'ed25519');
  const b = await bootstrap(dir, 'ecdsa-p256');
  t.false(b.created);
  t.is(b.key.publicKeyPem, a.key.publicKeyPem);
  const c = await bootstrap(dir, 'ecdsa-p256', { force: true });
  t.true(c.created);
  t.is(c.key.type, 'ecdsa-p256');
  t.not(c.key.publicKeyPem, a.key.publicKeyPem);
});

test('a corrupt key file is an error, never silently replaced', async (t) => {
  const dir = await tmp(t);
  await writeFile(join(dir, KEY_FILE), 'garbage');
  await t.throwsAsync(loadOrCreateDeviceKey(dir), { instanceOf: DeviceKeyError });
  t.is(await readFile(join(dir, KEY_FILE), 'utf8'), 'garbage');
  t.is(await loadDeviceKey(join(dir, 'none')), null);
});

test('identity script output: the id_data string as Mender 3.5.3 sent it', async (t) => {
  const dir = await tmp(t);
  const s = await script(dir, 'mender-device-identity', 'echo serial=fake-0001\necho mac=02:00:00:00:00:01');
  t.is(identityJson(await readIdentity(s)), '{"mac":"02:00:00:00:00:01","serial":"fake-0001"}');
});

test('identity: repeated keys become lists, values kept verbatim, Go escaping', async (t) => {
  const dir = await tmp(t);
  const s = await script(dir, 'id', "printf 'mac=aa\\n\\nmac=bb\\r\\nname=a=b <&>\\n'");
  t.is(identityJson(await readIdentity(s)), '{"mac":["aa","bb"],"name":"a=b \\u003c\\u0026\\u003e"}');
});

test('identity: failing, silent, garbled or missing scripts are IdentityErrors', async (t) => {
  const dir = await tmp(t);
  const failing = await script(dir, 'fail', 'echo oops >&2; exit 3');
  const e = await t.throwsAsync(readIdentity(failing), { instanceOf: IdentityError });
  t.regex(e!.message, /exited with 3: oops/);
  await t.throwsAsync(readIdentity(await script(dir, 'empty', 'true')), { instanceOf: IdentityError, message: /no key=value/ });
  await t.throwsAsync(readIdentity(await script(dir, 'bad', 'echo mac=1; echo junk')), { instanceOf: IdentityError, message: /line 2/ });
  await t.throwsAsync(readIdentity(join(dir, 'nope')), { instanceOf: IdentityError });
  await t.throwsAsync(readIdentity(await script(dir, 'slow', 'sleep 5'), 100), { instanceOf: IdentityError, message: /killed after 100 ms/ });
});

test('key=value parser: empty key refused', (t) => {
  t.throws(() => parseKeyValueLines('=x', 's'), { instanceOf: KeyValueError });
  t.deepEqual([...parseKeyValueLines(' k = v \n', 's')], [['k', [' v ']]]);
});
