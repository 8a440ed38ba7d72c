import test from 'ava';
import { createPrivateKey } from 'node:crypto';
import { clientCommands, clientDataFiles, parseClientKind } from './client.js';

const text = (f: { path: string } | { content: Buffer } | undefined) => (f && 'content' in f ? f.content.toString() : undefined);

test('each step is the client’s own command line', (t) => {
  const f = clientCommands('flipside');
  const m = clientCommands('mender');
  t.is(clientCommands(), f);
  t.deepEqual(
    [f.version(), f.install('/data/next.mender'), f.commit(), f.rollback(), f.showArtifact(), f.resume(), f.checkUpdate(), f.sendInventory()],
    ['flipside --version', 'flipside install /data/next.mender', 'flipside commit', 'flipside rollback', 'flipside show-artifact', 'flipside resume', 'flipside check-update', 'flipside send-inventory'],
  );
  // Mender 3.4's check-update/send-inventory look the daemon up through systemctl: the image has none.
  t.deepEqual(
    [m.version(), m.install('/data/next.mender'), m.commit(), m.rollback(), m.showArtifact(), m.resume(), m.checkUpdate(), m.sendInventory()],
    ['mender --version', 'mender install /data/next.mender', 'mender commit', 'mender rollback', 'mender show-artifact', null, 'kill -USR1 $(pidof mender)', 'kill -USR2 $(pidof mender)'],
  );
});

test('--client takes flipside or mender and names both when wrong', (t) => {
  t.is(parseClientKind('mender'), 'mender');
  t.throws(() => parseClientKind('rauc'), { message: '--client rauc: one of flipside, mender' });
});

test('each client gets its fallback config and verify key in its own data folder', (t) => {
  const pem = '-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----\n';
  const f = clientDataFiles('flipside', { config: { CommitStatusTimeoutSeconds: 30 }, verifyKeyPem: pem, managed: true });
  t.deepEqual(Object.keys(f).sort(), ['/data/flipside/artifact-verify-key.pem', '/data/flipside/flipside.conf']);
  t.deepEqual(JSON.parse(text(f['/data/flipside/flipside.conf'])!), { CommitStatusTimeoutSeconds: 30, ArtifactVerifyKey: 'artifact-verify-key.pem' });
  const m = clientDataFiles('mender', { config: {}, verifyKeyPem: pem, managed: false });
  t.deepEqual(Object.keys(m).sort(), ['/data/mender/artifact-verify-key.pem', '/data/mender/mender.conf']);
  // Mender reads key paths as they are: absolute, through /var/lib/mender → /data/mender.
  t.deepEqual(JSON.parse(text(m['/data/mender/mender.conf'])!), { ArtifactVerifyKey: '/var/lib/mender/artifact-verify-key.pem' });
  t.deepEqual(clientDataFiles('flipside', { config: {}, managed: false }), {});
  t.deepEqual(clientDataFiles('mender', { config: {}, managed: false }), {});
});

test('a managed Mender device gets its RSA device key made on the host', (t) => {
  const m = clientDataFiles('mender', { config: {}, managed: true });
  t.deepEqual(Object.keys(m), ['/data/mender/mender-agent.pem']);
  const key = createPrivateKey(text(m['/data/mender/mender-agent.pem'])!);
  t.is(key.asymmetricKeyType, 'rsa');
  t.regex(text(m['/data/mender/mender-agent.pem'])!, /^-----BEGIN RSA PRIVATE KEY-----/);
});
