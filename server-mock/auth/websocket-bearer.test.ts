// The web UI's WebSocket authentication: the token as a `flipside.bearer.<JWT>` subprotocol opens a
// deviceconnect session with the user's rights; the server answers `flipside`, never the token;
// a wrong or missing token, or a user without ConnectToDevices, gets the same refusals as a header.
import test from 'ava';
import WebSocket from 'ws';
import { connectedDevice } from '../testing/connect-fixtures.js';
import { login } from '../testing/fixtures.js';
import { createUser } from '../management/useradm.js';
import { tokenFromProtocols } from './websocket-bearer.js';

/** Opens the management connect WebSocket offering `protocols`; the chosen protocol or the HTTP refusal. */
function open(url: string, deviceId: string, protocols: string[]): Promise<{ protocol: string } | { status: number; body: string }> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/management/v1/deviceconnect/devices/${deviceId}/connect`, protocols);
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      resolve({ protocol: ws.protocol });
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });
}

test('tokenFromProtocols finds the bearer entry among the offered protocols', (t) => {
  t.is(tokenFromProtocols('flipside, flipside.bearer.a.b.c'), 'a.b.c');
  t.is(tokenFromProtocols(['flipside', 'flipside.bearer.x']), 'x');
  t.is(tokenFromProtocols('flipside, flipside.bearer.'), undefined);
  t.is(tokenFromProtocols('chat'), undefined);
  t.is(tokenFromProtocols(undefined), undefined);
});

test('a token offered as a subprotocol authenticates the WebSocket; the answer is plain flipside', async (t) => {
  const { s, url, deviceId } = await connectedDevice(t);
  t.deepEqual(await open(url, deviceId, ['flipside', `flipside.bearer.${s.adminToken}`]), { protocol: 'flipside' });

  const none = await open(url, deviceId, ['flipside']);
  t.is((none as { status: number }).status, 401);
  const wrong = await open(url, deviceId, ['flipside', 'flipside.bearer.not-a-jwt']);
  t.is((wrong as { status: number }).status, 401);

  await createUser(s.app.flipside, 'viewer@example.com', 'viewer-password', ['RBAC_ROLE_OBSERVER']);
  const viewer = await login(s.app, 'viewer@example.com', 'viewer-password');
  const refused = await open(url, deviceId, ['flipside', `flipside.bearer.${viewer}`]);
  t.is((refused as { status: number }).status, 403);
  t.regex((refused as { body: string }).body, /ConnectToDevices/);
});
