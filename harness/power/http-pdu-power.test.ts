import test from 'ava';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { HTTP_PDU_PRESETS, HttpPduPower } from './http-pdu-power.js';

interface Seen {
  method: string;
  url: string;
  body: string;
  headers: IncomingMessage['headers'];
}

/** A fake PDU on 127.0.0.1 that records requests and answers with `status`. */
async function fakePdu(t: { teardown(fn: () => void): void }, status = 200): Promise<{ host: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, body, headers: req.headers });
      res.statusCode = status;
      res.end(status === 200 ? '{"ok":true}' : 'outlet locked');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  return { host: `127.0.0.1:${(server.address() as { port: number }).port}`, seen, server };
}

test('the netio preset posts JSON actions for the outlet, with basic auth', async (t) => {
  const pdu = await fakePdu(t);
  const p = new HttpPduPower({ name: 'rpi3', ...HTTP_PDU_PRESETS.netio, vars: { host: pdu.host, outlet: 4 }, auth: { user: 'admin', password: 'pw' } });
  await p.cycle(5);
  t.deepEqual(
    pdu.seen.map((s) => [s.method, s.url, s.body]),
    [
      ['POST', '/netio.json', '{"Outputs":[{"ID":4,"Action":0}]}'],
      ['POST', '/netio.json', '{"Outputs":[{"ID":4,"Action":1}]}'],
    ],
  );
  t.is(pdu.seen[0]!.headers.authorization, `Basic ${Buffer.from('admin:pw').toString('base64')}`);
  t.is(pdu.seen[0]!.headers['content-type'], 'application/json');
});

test('custom templates: method, encoded URL values', async (t) => {
  const pdu = await fakePdu(t);
  const p = new HttpPduPower({
    name: 'b',
    on: { url: 'http://{host}/relay/{outlet}/on', method: 'PUT' },
    off: { url: 'http://{host}/relay/{outlet}/off', method: 'GET' },
    vars: { host: pdu.host, outlet: 'bench 2' },
  });
  await p.on();
  await p.cut();
  t.deepEqual(pdu.seen.map((s) => `${s.method} ${s.url}`), ['PUT /relay/bench%202/on', 'GET /relay/bench%202/off']);
});

test('an error status, a dead PDU and a slow one fail with the request named', async (t) => {
  const pdu = await fakePdu(t, 423);
  const p = new HttpPduPower({ name: 'b', ...HTTP_PDU_PRESETS.simplerest, vars: { host: pdu.host, outlet: 1 } });
  await t.throwsAsync(p.on(), { message: `power b: on request GET http://${pdu.host}/outlet/1?state=1 failed: HTTP 423: outlet locked` });

  await new Promise((r) => pdu.server.close(r));
  await t.throwsAsync(p.cut(), { message: /power b: off request GET .* failed: .*ECONNREFUSED/ });

  const silent = createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => silent.closeAllConnections() ?? silent.close());
  const slow = new HttpPduPower({ name: 'b', ...HTTP_PDU_PRESETS.simplerest, vars: { host: `127.0.0.1:${(silent.address() as { port: number }).port}`, outlet: 1 }, timeoutMs: 100 });
  await t.throwsAsync(slow.on(), { message: /failed: no answer within 100 ms/ });
});

test('bad request templates are refused when the driver is built', (t) => {
  const ok = { url: 'http://pdu/x' };
  t.throws(() => new HttpPduPower({ name: 'b', on: { url: 'pdu/x' }, off: ok }), { message: 'power b on: invalid URL "pdu/x"' });
  t.throws(() => new HttpPduPower({ name: 'b', on: { url: 'ftp://pdu/x' }, off: ok }), { message: /must be http or https/ });
  t.throws(() => new HttpPduPower({ name: 'b', on: { url: 'http://a:b@pdu/x' }, off: ok }), { message: /credentials in auth/ });
  t.throws(() => new HttpPduPower({ name: 'b', on: { url: 'http://pdu/x', method: 'GET', body: 'x' }, off: ok }), { message: /GET request cannot carry a body/ });
  t.throws(() => new HttpPduPower({ name: 'b', on: { url: 'http://{host}/x' }, off: ok }), { message: /uses \{host\} but no value/ });
});
