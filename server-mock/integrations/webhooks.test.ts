// The webhook outbox: a delivery outlives the process that started it. A "dead" process here is
// a dispatcher closed without freeing its leases (what a SIGKILL leaves in the store); the one
// that takes over is another dispatcher on the same store, or a server started on the data dir.
// CI cost (2026-12-04, load average ~12): this file and cluster-shared.test.ts run alone took
// 13.7 s of wall time against 9.1 s for a one-test file (async-array.test.ts), a few CPU seconds.
import test, { type ExecutionContext } from 'ava';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore, type FlipsideStore } from '../store/api.js';
import { WebhookDispatcher, webhookSignature } from './webhooks.js';
import { buildServer } from '../app.js';

const SECRET = 'feedface';

/** A receiver whose answer to each request the test decides; requests are awaited one by one. */
async function receiver(t: ExecutionContext) {
  const queue: Array<{ req: IncomingMessage; body: Buffer; res: ServerResponse }> = [];
  const waiters: Array<() => void> = [];
  const srv = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      queue.push({ req, body: Buffer.concat(chunks), res });
      waiters.shift()?.();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    srv.closeAllConnections();
    srv.close();
  });
  return {
    url: `http://127.0.0.1:${(srv.address() as { port: number }).port}/hook`,
    async next() {
      if (!queue.length) await new Promise<void>((r) => waiters.push(r));
      return queue.shift()!;
    },
  };
}

function scratchStore(t: ExecutionContext): { dir: string; store: FlipsideStore } {
  const dir = mkdtempSync(join(tmpdir(), 'flipside-webhooks-'));
  const store = openSqliteStore(dir);
  t.teardown(async () => {
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, store };
}

test('a delivery cut mid-retry by its process dying is taken over by another, and its outcome recorded once', async (t) => {
  const hook = await receiver(t);
  const { store } = scratchStore(t);
  const integration = await store.createIntegration('webhook', { type: 'http', http: { url: hook.url, secret: SECRET } });
  const dying = new WebhookDispatcher(store, { retryDelaysMs: [0, 0] });
  const other = new WebhookDispatcher(store, { retryDelaysMs: [0, 0] });
  t.teardown(() => other.close());

  const eventId = await dying.emit('device-status-changed', { id: 'dev-1', status: 'accepted' });
  const first = await hook.next();
  first.res.writeHead(503).end();
  // The retry arrives; its process dies before an answer.
  const retry = await hook.next();
  dying.close();
  await dying.idle();
  retry.res.destroy();
  t.deepEqual((await store.events({ limit: 10, offset: 0 }))[0]!.delivery_statuses, [], 'not ended: still in the outbox');

  await other.takeOver(dying.owner);
  const third = await hook.next();
  t.is(third.req.headers['x-men-signature'], webhookSignature(SECRET, third.body));
  t.deepEqual(third.body, first.body, 'the same event, byte for byte');
  t.is(JSON.parse(third.body.toString()).id, eventId);
  third.res.writeHead(204).end();
  await other.idle();
  t.deepEqual((await store.events({ limit: 10, offset: 0 }))[0]!.delivery_statuses, [{ integration_id: integration.id, success: true, status_code: 204 }]);
});

test('a lease that ran out is taken by the next sweep; a takeover of nobody claims nothing', async (t) => {
  const hook = await receiver(t);
  const { store } = scratchStore(t);
  await store.createIntegration('webhook', { type: 'http', http: { url: hook.url } });
  // leaseMs 0: its leases end when the deliveries are due, as if long ago.
  const stalled = new WebhookDispatcher(store, { leaseMs: 0 });
  const other = new WebhookDispatcher(store);
  t.teardown(() => other.close());
  await stalled.emit('device-decommissioned', { id: 'dev-2' });
  const held = await hook.next();
  stalled.close();
  held.res.destroy();
  await other.takeOver('no-such-owner');
  await other.sweep();
  const again = await hook.next();
  again.res.writeHead(200).end();
  await other.idle();
  t.like((await store.events({ limit: 1, offset: 0 }))[0]!.delivery_statuses, [{ success: true, status_code: 200 }]);
});

test('a server started on a SQLite data dir delivers what its dead predecessor left in the outbox', async (t) => {
  const hook = await receiver(t);
  const { dir, store } = scratchStore(t);
  await store.createIntegration('webhook', { type: 'http', http: { url: hook.url } });
  const dead = new WebhookDispatcher(store);
  await dead.emit('device-provisioned', { id: 'dev-3', status: 'accepted' });
  (await hook.next()).res.destroy();
  dead.close();
  await dead.idle();
  await store.close();

  const app = await buildServer({ dataDir: dir });
  t.teardown(() => app.close());
  const delivered = await hook.next();
  t.like(JSON.parse(delivered.body.toString()), { type: 'device-provisioned', data: { id: 'dev-3' } });
  delivered.res.writeHead(204).end();
  await app.flipside.webhooks.idle();
  t.like((await app.flipside.store.events({ limit: 1, offset: 0 }))[0]!.delivery_statuses, [{ success: true }]);
});
