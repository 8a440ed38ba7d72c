import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient, QmpError } from './qmp.js';

/** A fake QEMU: greets, requires qmp_capabilities first, answers a few commands, emits events. */
function fakeQemu(): Promise<{ path: string; received: unknown[]; close: () => void }> {
  const path = join(mkdtempSync(join(tmpdir(), 'fs-qmp-')), 'qmp.sock');
  const received: unknown[] = [];
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {}); // the client may vanish mid-write
    let negotiated = false;
    let buf = '';
    s.write(JSON.stringify({ QMP: { version: { qemu: { major: 7 } }, capabilities: [] } }) + '\r\n');
    s.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { execute: string; arguments?: Record<string, unknown>; id?: string };
        buf = buf.slice(nl + 1);
        received.push(msg);
        const reply = (body: object) => s.write(JSON.stringify({ ...body, id: msg.id }) + '\r\n');
        if (msg.execute === 'qmp_capabilities') {
          negotiated = true;
          reply({ return: {} });
        } else if (!negotiated) reply({ error: { class: 'CommandNotFound', desc: 'capabilities first' } });
        else if (msg.execute === 'set_link') {
          // An event may arrive before the reply, as QEMU does.
          s.write(JSON.stringify({ event: 'NIC_RX_FILTER_CHANGED', data: { name: msg.arguments?.name } }) + '\r\n');
          reply({ return: {} });
        } else if (msg.execute === 'query-blockstats') reply({ return: [{ device: 'hd0', stats: { wr_bytes: 42 } }] });
        else reply({ error: { class: 'CommandNotFound', desc: `The command ${msg.execute} has not been found` } });
      }
    });
  });
  return new Promise((res) =>
    server.listen(path, () =>
      res({
        path,
        received,
        close: () => {
          for (const s of sockets) s.destroy();
          server.close();
        },
      }),
    ),
  );
}

test('negotiates capabilities, then matches replies to commands by id', async (t) => {
  const q = await fakeQemu();
  const c = await QmpClient.connect(q.path, 2000);
  const [stats, link] = await Promise.all([c.execute('query-blockstats'), c.execute('set_link', { name: 'n0', up: false })]);
  t.deepEqual(stats, [{ device: 'hd0', stats: { wr_bytes: 42 } }]);
  t.deepEqual(link, {});
  t.like(q.received[0], { execute: 'qmp_capabilities' });
  t.like(q.received[2], { execute: 'set_link', arguments: { name: 'n0', up: false } });
  t.is(c.events.length, 1);
  t.is(c.events[0]!.event, 'NIC_RX_FILTER_CHANGED');
  c.close();
  q.close();
});

test('errors become QmpError with the class; events reach listeners', async (t) => {
  const q = await fakeQemu();
  const c = await QmpClient.connect(q.path, 2000);
  const seen: string[] = [];
  c.onEvent((e) => seen.push(e.event));
  const e = await t.throwsAsync(c.execute('nope'), { instanceOf: QmpError });
  t.is(e!.errorClass, 'CommandNotFound');
  await c.execute('set_link', { name: 'n0', up: true });
  t.deepEqual(seen, ['NIC_RX_FILTER_CHANGED']);
  c.close();
  q.close();
});

test('pending commands fail when the connection closes; connect times out without a server', async (t) => {
  const q = await fakeQemu();
  const c = await QmpClient.connect(q.path, 2000);
  q.close();
  await t.throwsAsync(c.execute('query-blockstats'), { message: /closed|ECONNRESET|EPIPE/ });
  await t.throwsAsync(QmpClient.connect(join(tmpdir(), 'fs-no-such.sock'), 300), { message: /QMP/ });
});
