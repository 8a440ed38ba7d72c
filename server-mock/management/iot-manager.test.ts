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

test('webhooks: device events posted signed, a failed delivery retried, every delivery recorded', async (t) => {
  const { createServer } = await import('node:http');
  const { webhookSignature } = await import('../integrations/webhooks.js');
  const { acceptDevice } = await import('../testing/fixtures.js');
  const { SimDevice, injectTransport } = await import('../testing/device-sim.js');
  const srv = await startTestServer({ webhookRetryDelaysMs: [0, 0] });
  const received: Array<{ body: Buffer; headers: Record<string, unknown> }> = [];
  let calls = 0;
  const hook = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      calls++;
      // The first delivery fails: the dispatcher must try again.
      if (calls === 1) return void res.writeHead(503).end();
      received.push({ body: Buffer.concat(chunks), headers: req.headers });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  t.teardown(async () => {
    hook.close();
    await srv.close();
  });
  const port = (hook.address() as { port: number }).port;
  const secret = 'a1b2c3d4';
  t.is((await srv.app.inject({ method: 'POST', url: IOT, headers: srv.auth, payload: { provider: 'webhook', credentials: { type: 'http', http: { url: `http://127.0.0.1:${port}/events`, secret } } } })).statusCode, 201);

  const d = new SimDevice(injectTransport(srv.app));
  await d.authenticate();
  const id = await acceptDevice(srv, d.identity);
  await srv.app.flipside.webhooks.idle();

  const types = received.map((r) => JSON.parse(r.body.toString()).type).sort();
  t.deepEqual(types, ['device-provisioned', 'device-status-changed']);
  for (const r of received) {
    t.is(r.headers['x-men-signature'], webhookSignature(secret, r.body));
    t.is(r.headers['x-men-algorithm'], 'MEN-HMAC-SHA256');
    t.like(JSON.parse(r.body.toString()), { data: { id, status: 'accepted' } });
  }
  // As Mender's: the provisioning event carries the device's auth sets (identity and key).
  const provisioned = received.map((r) => JSON.parse(r.body.toString())).find((e) => e.type === 'device-provisioned');
  t.like(provisioned.data.auth_sets[0], { device_id: id, identity_data: d.identity, pubkey: d.publicKeyPem, status: 'accepted' });
  t.is(calls, 3, 'one failed attempt, then two deliveries');
  const events = (await srv.app.inject({ method: 'GET', url: '/api/management/v1/iot-manager/events', headers: srv.auth })).json<Array<{ type: string; delivery_statuses: Array<{ success: boolean; status_code: number }> }>>();
  t.is(events.length, 2);
  t.true(events.every((e) => e.delivery_statuses.length === 1 && e.delivery_statuses[0]!.success));
});

test.serial('device state: iot-manager knows accepted devices (preauthorized ones on first contact); webhooks keep no state', async (t) => {
  const { acceptedDevice } = await import('../testing/fixtures.js');
  const { SimDevice, injectTransport } = await import('../testing/device-sim.js');
  const DEV = '/api/management/v1/iot-manager/devices';
  const get = (url: string) => s.app.inject({ method: 'GET', url, headers: s.auth });

  const pending = new SimDevice(injectTransport(s.app));
  await pending.authenticate();
  const pendingId = (await s.app.flipside.store.deviceByIdData(JSON.stringify(Object.fromEntries(Object.entries(pending.identity).sort()))))!.id;
  t.is((await get(`${DEV}/${pendingId}/state`)).statusCode, 404, 'a pending device was never provisioned');

  const accepted = await acceptedDevice(s);
  t.deepEqual((await get(`${DEV}/${accepted.deviceId}/state`)).json(), {});

  // Preauthorized, then accepted by its own first request: provisioned too.
  const pre = new SimDevice(injectTransport(s.app));
  t.is((await s.app.inject({ method: 'POST', url: '/api/management/v2/devauth/devices', headers: s.auth, payload: { identity_data: pre.identity, pubkey: pre.publicKeyPem } })).statusCode, 201);
  t.is((await pre.authenticate()).status, 200);
  t.is((await get(`${DEV}/${pre.deviceId}/state`)).statusCode, 200);

  const hook = await s.app.inject({ method: 'POST', url: IOT, headers: s.auth, payload: { provider: 'webhook', credentials: { type: 'http', http: { url: 'http://hooks.example.com/state' } } } });
  const hookId = String(hook.headers.location).split('/').pop()!;
  const one = await get(`${DEV}/${accepted.deviceId}/state/${hookId}`);
  t.is(one.statusCode, 404);
  t.regex(one.json<{ error: string }>().error, /device state is not supported by flipside-server.*webhooks keep none/);
  const put = (integrationId: string, payload: object) => s.app.inject({ method: 'PUT', url: `${DEV}/${accepted.deviceId}/state/${integrationId}`, headers: s.auth, payload });
  t.is((await put(hookId, { desired: { led: 'on' } })).statusCode, 404);
  t.is((await put('not-a-uuid', { desired: {} })).statusCode, 400);
  t.is((await put(hookId, { desired: 'on' })).statusCode, 400);
  t.regex((await get(`${DEV}/${accepted.deviceId}/state/00000000-0000-4000-8000-000000000000`)).json<{ error: string }>().error, /integration not found/);

  // Gone before the decommission below, whose event would otherwise go to a host that is not there.
  t.is((await s.app.inject({ method: 'DELETE', url: `${IOT}/${hookId}`, headers: s.auth })).statusCode, 204);
  t.is((await s.app.inject({ method: 'DELETE', url: `${DEV}/${accepted.deviceId}`, headers: s.auth })).statusCode, 204);
  t.is((await s.app.inject({ method: 'DELETE', url: `${DEV}/${pendingId}`, headers: s.auth })).statusCode, 404);
  // Decommissioned: iot-manager forgets the device.
  t.is((await s.app.inject({ method: 'DELETE', url: `/api/management/v2/devauth/devices/${accepted.deviceId}`, headers: s.auth })).statusCode, 204);
  t.is((await get(`${DEV}/${accepted.deviceId}/state`)).statusCode, 404);
});

test('stopping the server aborts a webhook delivery that hangs: no wait for the receiver', async (t) => {
  const { createServer } = await import('node:http');
  const { acceptedDevice } = await import('../testing/fixtures.js');
  const srv = await startTestServer();
  let arrived!: () => void;
  const requestArrived = new Promise<void>((r) => (arrived = r));
  // A receiver that takes the request and never answers.
  const hook = createServer(() => arrived());
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    hook.closeAllConnections();
    hook.close();
  });
  const port = (hook.address() as { port: number }).port;
  t.is((await srv.app.inject({ method: 'POST', url: IOT, headers: srv.auth, payload: { provider: 'webhook', credentials: { type: 'http', http: { url: `http://127.0.0.1:${port}/` } } } })).statusCode, 201);
  await acceptedDevice(srv);
  await requestArrived;
  await srv.close();
  t.pass('close() returned while the receiver still held the request');
});
