import test from 'ava';
import { parseConfig } from '../config.js';
import { ClientError } from '../errors.js';
import { apiSettings } from './from-config.js';

const base = { RootfsPartA: '/dev/a', RootfsPartB: '/dev/b' };

test('Servers list wins over ServerURL; mender.conf keys carried through', (t) => {
  const c = parseConfig(
    { ...base, ServerURL: 'https://one', Servers: [{ ServerURL: 'https://a' }, { ServerURL: 'https://b' }], TenantToken: 'tt', ServerCertificate: '/etc/ca.crt', RetryPollIntervalSeconds: 120, UpdatePollIntervalSeconds: 5 },
    '/etc/flipside/flipside.conf',
  );
  const s = apiSettings(c);
  t.deepEqual(s.servers, ['https://a', 'https://b']);
  t.is(s.tenantToken, 'tt');
  t.is(s.serverCertificate, '/etc/ca.crt');
  t.is(s.keyType, 'ed25519');
  t.deepEqual(s.poll, { updatePollSeconds: 5, inventoryPollSeconds: undefined, retryPollSeconds: 120, retryPollCount: undefined });
  t.deepEqual(apiSettings(parseConfig({ ...base, ServerURL: 'https://one' }, 'x')).servers, ['https://one']);
});

test('missing server or mistyped keys are CONFIG errors naming the key', (t) => {
  const e = t.throws(() => apiSettings(parseConfig(base, 'f.conf')), { instanceOf: ClientError });
  t.is(e!.code, 'CONFIG');
  t.throws(() => apiSettings(parseConfig({ ...base, ServerURL: 'https://x', RetryPollIntervalSeconds: '60' }, 'f.conf')), { message: /RetryPollIntervalSeconds/ });
  t.throws(() => apiSettings(parseConfig({ ...base, ServerURL: 'https://x', DeviceKeyType: 'dsa' }, 'f.conf')), { message: /DeviceKeyType/ });
});
