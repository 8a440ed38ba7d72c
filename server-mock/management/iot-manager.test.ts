import test from 'ava';
import { startTestServer, type TestServer } from '../testing/fixtures.js';

let s: TestServer;
test.before(async () => {
  s = await startTestServer();
});
test.after.always(async () => s?.close());

const IOT = '/api/management/v1/iot-manager/integrations';

test.serial('integrations: webhooks are kept (secret never shown); Azure and AWS are a clear 400', async (t) => {
  t.deepEqual((await s.app.inject({ method: 'GET', url: IOT, headers: s.auth })).json(), []);
  const azure = await s.app.inject({ method: 'POST', url: IOT, headers: s.auth, payload: { provider: 'iot-hub', credentials: { type: 'sas', connection_string: 'HostName=x' } } });
  t.is(azure.statusCode, 400);
  t.regex(azure.json<{ error: string }>().error, /iot-hub is not supported/);
  const badSecret = await s.app.inject({ method: 'POST', url: IOT, headers: s.auth, payload: { provider: 'webhook', credentials: { type: 'http', http: { url: 'http://h/x', secret: 'NOT-HEX' } } } });
  t.is(badSecret.statusCode, 400);
  const ok = await s.app.inject({ method: 'POST', url: IOT, headers: s.auth, payload: { provider: 'webhook', credentials: { type: 'http', http: { url: 'http://hooks.example.com/x', secret: 'c0ffee' } } } });
  t.is(ok.statusCode, 201);
  const id = String(ok.headers.location).split('/').pop()!;
  t.deepEqual((await s.app.inject({ method: 'GET', url: IOT, headers: s.auth })).json(), [{ id, provider: 'webhook', credentials: { type: 'http', http: { url: 'http://hooks.example.com/x' } } }]);
  t.is((await s.app.inject({ method: 'PUT', url: `${IOT}/${id}/credentials`, headers: s.auth, payload: { type: 'http', http: { url: 'https://other.example.com/' } } })).statusCode, 204);
  t.is((await s.app.inject({ method: 'DELETE', url: `${IOT}/${id}`, headers: s.auth })).statusCode, 204);
  t.is((await s.app.inject({ method: 'DELETE', url: `${IOT}/${id}`, headers: s.auth })).statusCode, 404);
});
